"""Render ``mlcost reference``: the list of shipped tables, and one table measured to the terminal.

A reference table can have more columns than a terminal holds (hardware.csv has 16).  The table view shows
its columns in file order while they fit, leaves out long free-text columns (source, notes, aliases: they
belong in ``--format csv|json``) and names what it left out; ``--columns a,b,c`` picks others.
"""
from __future__ import annotations

from typing import Any, Sequence

from mlcost.errors import UsageError

LONG_TEXT = 24  # a column whose typical cell is longer than this is free text, not a value to compare


def pick_columns(available: Sequence[str], rows: Sequence[dict[str, Any]], wanted: str | None) -> list[str]:
    """WANTED ('name,fp32_tflops') checked against AVAILABLE, or the default: every column but free text."""
    if wanted is not None:
        picked = [c.strip() for c in wanted.split(",") if c.strip()]
        unknown = [c for c in picked if c not in available]
        if unknown or not picked:
            raise UsageError(f"--columns: unknown column(s) {', '.join(unknown) or '(none given)'}; "
                             f"this table has {', '.join(available)}")
        return picked

    def typical(col: str) -> int:
        lengths = sorted(len(str(r.get(col) or "")) for r in rows if r.get(col))
        return lengths[len(lengths) // 2] if lengths else 0

    return [c for i, c in enumerate(available) if i == 0 or typical(c) <= LONG_TEXT]


def render_rows(name: str, description: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
                width: int | None = None, all_columns: Sequence[str] | None = None) -> str:
    from mlcost.render import layout

    w = width or layout.width()
    all_columns = list(all_columns or (list(rows[0]) if rows else columns))
    # headers wrap at underscores ('fp32_tflops' -> 'fp32 / tflops'), so narrow values keep narrow columns;
    # later columns go first when the table cannot fit
    cols = [layout.Column(c.replace("_", " "), fixed=True, priority=i) for i, c in enumerate(columns)]
    table = layout.table(cols, [[r.get(c) or "" for c in columns] for r in rows], width=w, title=name)
    hidden = [c for c in all_columns if c not in columns]
    return layout.render_text([
        layout.paragraph(description),
        table,
        layout.paragraph(f"more columns: {', '.join(hidden)} (--columns NAME,..., or --format csv|json)", "dim")
        if hidden else None,
    ], w)


def render_listing(data_dir: str, infos: Sequence[dict[str, Any]], width: int | None = None) -> str:
    """Every shipped table: name, rows, file, description and up to 8 sources."""
    from rich.padding import Padding

    from mlcost.render import layout

    w = width or layout.width()
    parts: list[Any] = [layout.paragraph(f"reference tables in {data_dir}")]
    for i in infos:
        sources = list(i["sources"][:8])
        if len(i["sources"]) > 8:
            sources.append(f"... and {len(i['sources']) - 8} more (mlcost reference {i['name']})")
        body = [layout.paragraph(i["description"])] if i["description"] else []
        body.append(layout.notes(sources, f"sources ({len(i['sources'])})"))
        from rich.console import Group

        parts.append(layout.titled(f"{i['name']}  ({i['rows']} rows, {i['file']})", Padding(Group(*body), (0, 0, 0, 2))))
    return layout.render_text(parts, w)
