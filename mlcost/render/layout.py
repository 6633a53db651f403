"""Terminal layout shared by every renderer: the width, one table helper, facts, notes, one escaping rule.

Every terminal view is built from rich renderables and measured to the console's width (``width()``:
COLUMNS, else the terminal's width, else 80), so no line is wider than the terminal.  Rules:

- **Escaping**: a cell or line is plain text, never rich markup (``text()``); a model or module name
  holding ``[bold]`` prints as written, a newline in it as ``\\n`` (``mlcost.render.escape.plain``, the
  terminal channel's rule).  Style is given as a separate argument, never inside strings.
- **Tables** (``table()``): each column has a priority; when the table cannot fit, the variant with
  compact numbers is tried, then the columns of highest priority number are dropped (and the caption
  says which), while text columns wrap.  Numbers never wrap.
- **Facts** (``facts()``): the "key  value" block at the top of a result; values wrap under themselves.
- **Notes** (``notes()``): bullet lists (assumptions, conventions) with a hanging indent.

A renderer returns ``render_text(parts, width, color)``: one string, for stdout or ``--output``.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

DEFAULT_WIDTH = 80  # not a terminal and no COLUMNS: what a person's terminal most likely is
MIN_WIDTH = 40


def width(stream: Any = None) -> int:
    """COLUMNS when set to a number; else the terminal's width when STREAM (default stdout) is one; else 80."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return max(MIN_WIDTH, int(env))
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    except (AttributeError, ValueError, OSError):
        pass
    return DEFAULT_WIDTH


terminal_width = width  # for functions whose own WIDTH argument hides width()


def text(value: Any, style: str | None = None):
    """VALUE as rich Text: literal characters, never markup, and escaped as terminal text
    (mlcost.render.escape.plain: no control character, no workflow command)."""
    from rich.text import Text

    from mlcost.render.escape import plain

    if isinstance(value, Text):
        return value
    return Text("—" if value is None else plain(value), style=style or "")


def lines(values: Iterable[Any]):
    """Several VALUES as one rich Text, one per line, each escaped as ``text`` escapes it (a newline inside
    one value stays visible as \\n; the lines themselves are real line breaks)."""
    from rich.text import Text

    return Text("\n").join(text(v) for v in values)


@dataclass(frozen=True)
class Column:
    """A table column.  ``priority`` 0 is always shown; higher numbers are dropped first when the
    table cannot fit.  ``wrap`` lets the cells wrap (names, text); numbers never do.  ``fixed``: the column
    is exactly as wide as its widest cell or header word (the header wraps, cells never do): for tables of
    short values under long headers.  ``elide``: a name that never wraps (an operator's): columns are dropped
    before it is cut, and when even the priority-0 columns do not fit it ends in an ellipsis, its numbers whole."""

    header: str
    justify: str = "left"
    priority: int = 0
    wrap: bool = False
    style: str | None = None
    min_width: int | None = None
    fixed: bool = False
    elide: bool = False


def num(header: str, priority: int = 0) -> Column:
    """A right-aligned number column."""
    return Column(header, justify="right", priority=priority)


def _build(columns: Sequence[Column], rows: Sequence[Sequence[Any]], keep: Sequence[int]):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold", collapse_padding=False)
    for i in keep:
        c = columns[i]
        # a wrapping column still keeps its cells whole up to MIN_WIDTH (default 20): columns are dropped
        # before a name is cut into pieces
        floor = max((len(str(r[i])) for r in rows), default=0)
        if c.fixed:
            exact = max([floor, *(len(word) for word in c.header.split())])
            t.add_column(text(c.header), justify=c.justify, no_wrap=False, overflow="fold", style=c.style, width=exact)
            continue
        # an elided column is the one rich may narrow (no_wrap False): its one-word cells are cut with an ellipsis
        t.add_column(text(c.header), justify=c.justify, no_wrap=not (c.wrap or c.elide),
                     overflow="fold" if c.wrap else "ellipsis",
                     style=c.style, min_width=min(floor, c.min_width or 20) if c.wrap else None)
    for r in rows:
        t.add_row(*(text(r[i]) for i in keep))
    return t


def _renders_whole(columns: Sequence[Column], rows: Sequence[Sequence[Any]], keep: Sequence[int], width: int) -> bool:
    """Whether the table of columns KEEP fits WIDTH with only its wrapping columns wrapped: its narrowest
    measurement fits, and a real render keeps every header and every unwrapped cell whole.  The measurement
    alone is not enough: after collapsing the wrapping columns rich re-measures them at their min_width and
    then crops the table evenly, so a last column could lose characters ("share" printed as "shar")."""
    t = _build(columns, rows, keep)
    if _measure(t)[0] > width:
        return False
    out = render_text([t], width, gap=False)
    lines = out.splitlines()
    header = lines[0] if lines else ""
    for i in keep:
        if columns[i].wrap or columns[i].fixed:
            continue
        if columns[i].header not in header or any(str(r[i]) not in out for r in rows):
            return False
    return True


def _measure(renderable: Any) -> tuple[int, int]:
    """(narrowest, natural) width of RENDERABLE, unclamped (rich clamps a measurement to the console)."""
    from rich.console import Console
    from rich.measure import Measurement

    con = Console(width=100_000, file=io.StringIO(), force_jupyter=False, legacy_windows=False)
    m = Measurement.get(con, con.options, renderable)
    return m.minimum, m.maximum


def table(columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, width: int, title: str | None = None,
          compact_rows: Sequence[Sequence[Any]] | None = None):
    """A rich Table that fits WIDTH: the ROWS as given when they fit unwrapped, else COMPACT_ROWS (the
    same cells with shorter numbers), else the compact table minus its highest-priority-number columns,
    dropped one priority at a time until it fits.  Dropped columns are named in the caption."""
    everything = list(range(len(columns)))
    variants = [rows] + ([compact_rows] if compact_rows is not None else [])
    for body in variants[:-1]:
        if _measure(_build(columns, body, everything))[1] <= width:
            return titled(title, _build(columns, body, everything))
    body = variants[-1]
    keep = everything
    for level in sorted({c.priority for c in columns if c.priority > 0}, reverse=True):
        if _renders_whole(columns, body, keep, width):
            break
        keep = [i for i in keep if columns[i].priority < level]
    if compact_rows is not None:
        body = _exact_where_they_fit(columns, rows, body, keep)
    dropped = [columns[i].header for i in everything if i not in keep]
    caption = f"not shown: {', '.join(dropped)} (widen the terminal, or -f json)" if dropped else None
    return titled(title, _build(columns, body, keep), caption)


def fits(columns: Sequence[Column], rows: Sequence[Sequence[Any]], width: int) -> bool:
    """Whether ``table`` can show ROWS at WIDTH with every priority-0 column whole (its last resort: below that,
    rich crops the last columns).  A caller with a column that must stay visible picks another layout when not."""
    return _renders_whole(columns, rows, [i for i, c in enumerate(columns) if c.priority == 0], width)


def _exact_where_they_fit(columns: Sequence[Column], rows: Sequence[Sequence[Any]], body: Sequence[Sequence[Any]],
                          keep: Sequence[int]) -> list[list[Any]]:
    """BODY (the compact cells) with a kept column's exact cells put back wherever they are no wider than
    the column already is (its compact cells or its header): compacting costs nothing there, so a params
    column keeps '98,970' rather than '99 k'.  A column that would widen stays compact throughout."""
    out = [list(r) for r in body]
    for i in keep:
        room = max([len(columns[i].header), *(len(str(r[i])) for r in body)])
        if all(len(str(r[i])) <= room for r in rows):
            for n, r in enumerate(rows):
                out[n][i] = r[i]
    return out


def titled(title: str | None, body: Any, caption: str | None = None):
    """BODY under a bold TITLE line (and over a dim CAPTION), each wrapping to the console, not to BODY."""
    from rich.console import Group

    return Group(*([text(title, "bold")] if title else []), body, *([text(caption, "dim")] if caption else []))


def facts(rows: Iterable[tuple[str, Any]], title: str | None = None):
    """'key  value' lines: keys bold and never wrapped, values wrapping under themselves."""
    from rich.table import Table

    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in rows:
        t.add_row(text(k), text(v))
    return titled(title, t)


def notes(items: Iterable[Any], title: str | None = None, bullet: str = "- "):
    """A bullet list with a hanging indent (wrapped lines start under the text, not under the bullet)."""
    from rich.table import Table

    t = Table.grid(padding=0)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    for item in items:
        t.add_row(text(bullet), text(item))
    return titled(title, t)


def paragraph(value: Any, style: str | None = None):
    """One wrapped paragraph of plain text."""
    return text(value, style)


def render_text(parts: Iterable[Any], width: int, color: bool = False, gap: bool = True) -> str:
    """Print PARTS (renderables; None skipped) to a string WIDTH columns wide, a blank line between
    parts when GAP.  COLOR adds ANSI styles (a terminal only)."""
    from rich.console import Console

    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                  no_color=not color, highlight=False, markup=False, emoji=False, soft_wrap=False,
                  force_jupyter=False, legacy_windows=False)
    first = True
    for part in parts:
        if part is None:
            continue
        if gap and not first:
            con.print()
        con.print(part)
        first = False
    return "\n".join(line.rstrip() for line in buf.getvalue().split("\n"))


def cell_width(line: str) -> int:
    """Terminal cells a line takes (wide characters count 2): what tests compare with the width."""
    from rich.cells import cell_len

    return cell_len(line)
