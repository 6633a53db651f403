"""Rendering: the only place that turns results into text.  One module per result kind.

``view`` dispatches an estimate to its format; only the terminal view loads ``layout`` (and rich).

``emit`` sends rendered text to stdout or to ``--output FILE`` (through ``mlcost.safeio.write_output``,
the one writer that decides whether an existing file may be replaced).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def to_json(data: Any) -> str:
    """Stable JSON: keys in the order the result gives them, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def emit(text: str, output: Path | None = None, *, force: bool = False) -> None:
    """Data goes to stdout, or to OUTPUT when given (``mlcost.safeio.write_output``: a file mlcost did not
    write is replaced only with FORCE).  Diagnostics never come through here."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from mlcost.safeio import write_output

        write_output(output, text, force=force)


def view(result: Any, fmt: str, *, markdown: Any, headline: Any, table: Any, width: int | None = None,
         explain: bool = False, quiet: bool = False) -> str:
    """The one dispatch of an estimate's renderer: FMT json (``result.to_dict()``), markdown (MARKDOWN(result)),
    else the terminal view at WIDTH: HEADLINE(result) with QUIET, TABLE(result, width=, explain=) otherwise."""
    if fmt == "json":
        return to_json(result.to_dict())
    if fmt == "markdown":
        return markdown(result)
    from mlcost.render.layout import paragraph, render_text, terminal_width

    w = width or terminal_width()
    if quiet:
        return render_text([paragraph(headline(result))], w)
    return table(result, width=w, explain=explain)
