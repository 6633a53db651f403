"""Reading a JSON file the user named: bounded in size, one clear line for every way it can be wrong."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlcost import limits, safeio
from mlcost.errors import InputError

DEFAULT_MAX_BYTES = limits.MAX_JSON_BYTES


def read_json_object(path: str | Path, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The JSON object in PATH.  WHAT names it in errors ('--profile', 'baseline file', ...).  PATH must be a
    regular file of at most MAX_BYTES (checked before anything is read: a FIFO, a device or a huge file is
    refused without being loaded)."""
    path = Path(path)
    raw = safeio.read_bytes(path, what, max_bytes)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{what}: {path} is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}: {path} must be a JSON object, not {type(data).__name__}")
    return data
