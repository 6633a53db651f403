"""Reading a JSON file the user named: bounded in size, one clear line for every way it can be wrong."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mlcost import limits, safeio
from mlcost.errors import InputError
from mlcost.units import MAX_MAGNITUDE

DEFAULT_MAX_BYTES = limits.MAX_JSON_BYTES


class _NotFinite(ValueError):
    pass


def _refuse(text: str) -> float:
    raise _NotFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:  # 1e999 parses as inf without parse_constant
        raise _NotFinite(text)
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 40 or abs(value := int(text)) > MAX_MAGNITUDE:  # length first: int() of 10**6 digits is slow
        raise _NotFinite(text)
    return value


def loads(text: str) -> object:
    """json.loads that refuses NaN, Infinity, -Infinity, numbers that overflow to inf (1e999) and magnitudes
    above units.MAX_MAGNITUDE: Python's json accepts them all, and one would flow into a budget or a sum."""
    return json.loads(text, parse_constant=_refuse, parse_float=_finite_float, parse_int=_bounded_int)


def read_json_object(path: str | Path, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The JSON object in PATH.  WHAT names it in errors ('--profile', 'baseline file', ...).  PATH must be a
    regular file of at most MAX_BYTES (checked before anything is read: a FIFO, a device or a huge file is
    refused without being loaded)."""
    path = Path(path)
    raw = safeio.read_bytes(path, what, max_bytes)
    try:
        data = loads(raw.decode("utf-8"))
    except _NotFinite as exc:
        raise InputError(f"{what}: {path} holds {exc}, which is not a finite number") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, int digit limit
        raise InputError(f"{what}: {path} is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}: {path} must be a JSON object, not {type(data).__name__}")
    return data
