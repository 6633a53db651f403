"""Reading a JSON file the user named: bounded in size, one clear line for every way it can be wrong."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlcost.errors import InputError

DEFAULT_MAX_BYTES = 100_000_000


def read_json_object(path: str | Path, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The JSON object in PATH.  WHAT names it in errors ('--profile', 'baseline file', ...); the size is
    checked before anything is read, so a huge or lying file is refused without being loaded."""
    path = Path(path)
    try:
        if path.is_dir():
            raise InputError(f"{what}: {path} is a folder, not a JSON file")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{what}: {path} is {size} bytes, over the {max_bytes}-byte limit")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what}: {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"{what}: cannot read {path} ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{what}: {path} is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}: {path} must be a JSON object, not {type(data).__name__}")
    return data
