"""Markdown shared by every renderer: one table helper and one escaping rule.

Escaping: a cell is text, not markdown (``mlcost.render.escape.markdown``, the markdown channel's rule);
``code()`` wraps a name in a code span that its own backticks cannot end.
"""
from __future__ import annotations

from typing import Any, Sequence


def escape(value: Any) -> str:
    """VALUE for a table cell or a list item (mlcost.render.escape.markdown: markup characters escaped,
    control characters visible); None -> '—'."""
    from mlcost.render.escape import markdown

    return "—" if value is None else markdown(value)


def code(value: Any) -> str:
    """`VALUE` as a code span (longer fences when VALUE holds backticks); pipes stay escaped for tables."""
    s = " ".join(str(value).splitlines())
    longest = 0
    run = 0
    for ch in s:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s.replace('|', chr(92) + '|')}{pad}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None,
          raw: bool = False) -> list[str]:
    """A GitHub table; ALIGN is one letter per column (l, r, c).  Cells are escaped unless RAW (for cells
    the caller built with ``code()`` or emphasis)."""
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    rule = "|" + "|".join(marks[a] for a in (align or "l" * len(header))) + "|"
    cell = (lambda c: " ".join(str(c).splitlines())) if raw else escape
    return ["| " + " | ".join(escape(h) for h in header) + " |", rule,
            *("| " + " | ".join(cell(c) for c in r) + " |" for r in rows)]


def bullets(items: Sequence[Any]) -> list[str]:
    return [f"- {escape(i)}" for i in items]
