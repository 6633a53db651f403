"""Rendering: the only place that turns results into text.  One module per result kind.

``emit`` sends rendered text to stdout or to ``--output FILE`` (written atomically).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlcost.errors import UsageError

# Suffixes mlcost writes; an existing file with any other suffix is never overwritten
# (a mistyped --output model.py must not destroy the user's model).
OUTPUT_SUFFIXES = {".json", ".csv", ".md", ".markdown", ".txt", ".xml", ".html", ".png", ".svg", ".log", ""}


def to_json(data: Any) -> str:
    """Stable JSON: keys in the order the result gives them, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside PATH, then rename over it: never a half-written file."""
    path = Path(path)
    if path.exists() and path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"refusing to overwrite {path}: it is not an output file mlcost writes ({path.suffix})")
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as fh:
            fh.write(data)
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def emit(text: str, output: Path | None = None) -> None:
    """Data goes to stdout, or to OUTPUT when given.  Diagnostics never come through here."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(output, text)
