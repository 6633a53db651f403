"""What the default terminal view says about assumptions and conventions (the rest is behind --explain).

Results record every assumption in full (JSON, CSV and markdown carry them all).  A terminal view names
each one by its head (``head``: the clause before the first ';' or before a parenthesis that ends it; a ':'
does not cut, since the words before one are often only a label, "no --region: world average ..."), elided
to one line, and shows the counting conventions only where they change this result: a convention is named when
the profile holds an operator it governs (attention, embeddings, recurrent layers), in its short form.
``--explain`` prints every assumption and convention in full.
"""
from __future__ import annotations

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



def _head_text(text: str) -> str:
    """TEXT up to its first '; ', or up to a ' (' whose parenthesis ends the clause (followed by ':', ';' or
    the end).  A parenthesis inside the clause is skipped, not cut at: 'the cache write of each new token
    (2 x kv bytes per layer) is not counted; ...' heads as '... new token is not counted', never as
    '... new token', which says the opposite."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("; ", i):
            break
        if text.startswith(" (", i):
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            rest = text[j + 1:]
            if depth or not rest or rest[0] in ":;" or rest.startswith(" ("):
                break
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def head(assumption: str, limit: int = HEAD_MAX) -> str:
    """The assumption's head: its text up to the first '; ', or up to a ' (' whose parenthesis ends the clause
    (is followed by ':', ';', another '(' or the end).  A parenthesis inside the clause is left out and the
    clause goes on; a ':' never cuts.  A head of one or two words ('PUE 1.58 (...)') says too little: then the
    whole text.  Elided at LIMIT characters.

    >>> head("accelerator power = TDP 400 W x 0.8 (assumed; range 0.5-1): No published measured average")
    'accelerator power = TDP 400 W x 0.8'
    >>> head("no --region: world average 475 gCO2e/kWh (codecarbon 3.3.2); range 98.3-713 g/kWh")
    'no --region: world average 475 gCO2e/kWh'
    >>> head("the cache write of each new token (2 x kv bytes per layer) is not counted; it is small")
    'the cache write of each new token is not counted'
    >>> head("PUE 1.58 (fallback: operator unknown; range 1.08-1.63): Uptime Institute", limit=30)
    'PUE 1.58 (fallback: operator…'
    """
    text = " ".join(str(assumption).split())
    short = _head_text(text)
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
