"""What the default terminal view says about assumptions and conventions (the rest is behind --explain).

Results record every assumption in full (JSON, CSV and markdown carry them all).  A terminal view names
each one by its head, the words before the first ':' or ';' ("built on the meta device"), elided to one
line, and shows the counting conventions only where they change this result: a convention is named when
the profile holds an operator it governs (attention, embeddings, recurrent layers), in its short form.
``--explain`` prints every assumption and convention in full.
"""
from __future__ import annotations

import re
from typing import Iterable

from mlcost.units import FLOP_CONVENTION

HEAD_MAX = 76  # characters of an assumption's head before it is elided

# convention key -> (operator-name fragments that make it matter, what the default view says)
KEY_CONVENTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "attention": (("attention", "sdpa", "flash"), "attention: dense, the causal mask is not discounted"),
    "embedding": (("embedding",), "embedding lookups: 0 FLOPs"),
    "recurrent": (("lstm", "gru", "rnn_"), "LSTM/GRU: gate matmuls and gate arithmetic per token"),
}

MORE = f"{FLOP_CONVENTION} · all assumptions and conventions: --explain"
MORE_ASSUMPTIONS = "every assumption in full: --explain"

_HEAD = re.compile(r"^(?P<head>.*?)(?:;\s|\s\(|$)")


def head(assumption: str, limit: int = HEAD_MAX) -> str:
    """The assumption's head, up to its first ';' or '(': 'accelerator power = TDP 400 W x 1 (Patterson ...)'
    -> 'accelerator power = TDP 400 W x 1'.  A head of one or two words ('PUE 1.58 (...)') says too little:
    then the whole text, elided at LIMIT characters."""
    text = " ".join(str(assumption).split())
    m = _HEAD.match(text)
    short = m["head"] if m else text
    if len(short.split()) < 3:
        short = text
    if len(short) > limit:
        short = short[: limit - 1].rstrip() + "…"
    return short


def heads(assumptions: Iterable[str], limit: int = HEAD_MAX) -> list[str]:
    """Heads of ASSUMPTIONS (each at most LIMIT characters), duplicates folded in order."""
    out: list[str] = []
    for a in assumptions:
        h = head(a, min(HEAD_MAX, max(24, limit)))
        if h and h not in out:
            out.append(h)
    return out


def key_conventions(operators: Iterable[str]) -> list[str]:
    """Short forms of the conventions that govern any of OPERATORS (operator names, e.g. 'aten::bmm')."""
    names = [o.lower() for o in operators]
    return [say for frags, say in KEY_CONVENTIONS.values() if any(f in n for n in names for f in frags)]
