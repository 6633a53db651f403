"""Units, conventions and parsing of human quantities.

Counts are ints in base units: FLOPs, MACs, bytes, seconds.  One multiply-add (MAC) is
2 FLOPs everywhere mlcost says "FLOPs"; MACs are reported beside FLOPs, never instead.
"""
from __future__ import annotations

import math
import re

from mlcost.errors import UsageError

FLOPS_PER_MAC = 2
FLOP_CONVENTION = "1 multiply-add (MAC) = 2 FLOPs"

SECONDS_PER_DAY = 86_400
#: One petaflop/s-day: 1e15 FLOP/s sustained for a day ("AI and Compute").
PFS_DAY_FLOPS = 1e15 * SECONDS_PER_DAY
LBS_PER_KG = 2.20462262185
KG_PER_LB = 1 / LBS_PER_KG

_SI = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
_DURATION = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86_400, "day": 86_400, "days": 86_400,
             "hours": 3600, "minutes": 60, "seconds": 1, "w": 604_800, "week": 604_800, "weeks": 604_800}

_NUM = r"(?P<num>[+-]?(?:\d[\d_,]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_QUANTITY = re.compile(_NUM + r"\s*(?P<prefix>Ki|Mi|Gi|Ti|Pi|[kKMGBTPE]?)\s*(?P<unit>[A-Za-z/%]*)\s*$")


def _number(text: str, what: str) -> float:
    try:
        value = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number") from None
    return value


def _parse(text: str | int | float, what: str, units: tuple[str, ...]) -> float:
    if isinstance(text, bool):
        raise UsageError(f"{what}: {text!r} is not a number")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip()
        m = _QUANTITY.match(s)
        if not m:
            raise UsageError(f"{what}: cannot read {text!r} (expected a number such as 1.2e9, '4 GiB' or '5 G')")
        unit = m["unit"]
        if unit and unit.lower() not in {u.lower() for u in units}:
            expected = ", ".join(u for u in units if u) or "no unit"
            raise UsageError(f"{what}: unknown unit {unit!r} in {text!r} (expected {expected})")
        prefix = m["prefix"]
        scale = _BINARY.get(prefix) or _SI[prefix]
        value = _number(m["num"], what) * scale
    if math.isnan(value) or math.isinf(value):
        raise UsageError(f"{what}: {text!r} is not a finite number")
    return value


def parse_count(text: str | int | float, what: str = "count") -> int:
    """'30_000_000', '5 G', '6.7B', '1.2e9' -> int.  SI prefixes are decimal.  A count is whole:
    '1.5' is an error, not silently 2 (float noise such as 6.7 * 1e9 is tolerated)."""
    value = _parse(text, what, ("",))
    whole = round(value)
    if abs(value - whole) > 1e-9 * max(1.0, abs(value)):
        raise UsageError(f"{what}: {text!r} is not a whole number")
    return whole


def parse_flops(text: str | int | float, what: str = "FLOPs") -> int:
    """'1.2 GFLOPs', '3e21', '5 G' -> int FLOPs."""
    return round(_parse(text, what, ("", "flop", "flops", "FLOP", "FLOPs")))


def parse_macs(text: str | int | float, what: str = "MACs") -> int:
    return round(_parse(text, what, ("", "mac", "macs", "MAC", "MACs")))


def parse_bytes(text: str | int | float, what: str = "bytes") -> int:
    """'128 MiB' (binary), '4 GB' (decimal), '4GiB', 1024 -> int bytes."""
    return round(_parse(text, what, ("", "B", "byte", "bytes")))


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """'3h', '90 min', '2 days', '45s', 3600 -> seconds (a bare number is seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        m = re.match(_NUM + r"\s*(?P<unit>[A-Za-z]*)\s*$", str(text).strip())
        if not m:
            raise UsageError(f"{what}: cannot read {text!r} (expected e.g. '3h', '90 min', '2 days')")
        unit = m["unit"] or "s"
        if unit not in _DURATION:
            raise UsageError(f"{what}: unknown time unit {unit!r} in {text!r}")
        seconds = _number(m["num"], what) * _DURATION[unit]
    if math.isnan(seconds) or math.isinf(seconds):
        raise UsageError(f"{what}: {text!r} is not a finite number")
    return seconds


def parse_fraction(text: str | int | float, what: str = "fraction") -> float:
    """'5%' -> 0.05; '0.05' -> 0.05."""
    s = str(text).strip()
    if s.endswith("%"):
        return _number(s[:-1].strip(), what) / 100
    return _parse(text, what, ("",))


def require_positive(value: float, what: str, *, allow_zero: bool = False, integer: bool = False) -> float:
    """Reject non-numbers, NaN, infinities, negatives, (unless allowed) zero and (with INTEGER)
    fractions, with one clear line."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{what} must be a number, got {value!r}")
    if math.isnan(value) or math.isinf(value):
        raise UsageError(f"{what} must be a finite number, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{what} must be {'zero or ' if allow_zero else ''}positive, got {value:g}")
    if integer and value != int(value):
        raise UsageError(f"{what} must be a whole number, got {value:g}")
    return value


def format_si(value: float | int | None, unit: str = "", digits: int = 3) -> str:
    """1.234e9, 'FLOPs' -> '1.23 GFLOPs'.  None -> '—'."""
    if value is None:
        return "—"
    v = float(value)
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.{digits}g} {prefix}{unit}".rstrip()
    if v == int(v):
        return f"{int(v)} {unit}".rstrip()
    return f"{v:.{digits}g} {unit}".rstrip()


def format_bytes(value: int | float | None, digits: int = 3) -> str:
    """Binary prefixes: 1536 -> '1.5 KiB'."""
    if value is None:
        return "—"
    v = float(value)
    for prefix, scale in (("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(v) >= scale:
            return f"{v / scale:.{digits}g} {prefix}B"
    return f"{int(v)} B"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, scale in (("years", 365.25 * 86_400), ("days", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"
