"""Units, conventions and parsing of human quantities.

Counts are ints in base units: FLOPs, MACs, bytes, seconds.  One multiply-add (MAC) is
2 FLOPs everywhere mlcost says "FLOPs"; MACs are reported beside FLOPs, never instead.

Parsing has one rule per kind of quantity, so that no suffix means two things:

- **counts** (parameters, FLOPs, MACs, samples, tokens): SI multipliers k/K (1e3), M (1e6), G or B
  (billion, 1e9), T (1e12), P (1e15), E (1e18), optionally followed by the unit ("12 GFLOPs", "6.7B",
  "5 G MACs"); no binary prefixes.
- **bytes**: a plain integer, or a number with a byte unit: B, KB/kB, MB, GB, TB, PB (SI: 1 KB = 1000 B) or
  KiB, MiB, GiB, TiB, PiB (binary: 1 KiB = 1024 B).  Here "B" is always the byte: "500 B" is 500 bytes.
  A bare multiplier ("4 G") is refused for bytes (GB or GiB?), and a lower-case "b" (bits) too.
- **plain numbers** (hours, pue, kg, pfs-days ...): a decimal number, no suffix.

Every parser refuses NaN, infinities, magnitudes above ``MAX_MAGNITUDE`` and non-zero ones below
``MIN_MAGNITUDE``.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from mlcost.errors import UsageError

FLOPS_PER_MAC = 2
FLOP_CONVENTION = "1 multiply-add (MAC) = 2 FLOPs"

SECONDS_PER_DAY = 86_400
#: One petaflop/s-day: 1e15 FLOP/s sustained for a day ("AI and Compute").
PFS_DAY_FLOPS = 1e15 * SECONDS_PER_DAY
LBS_PER_KG = 2.20462262185
KG_PER_LB = 1 / LBS_PER_KG

#: The largest magnitude mlcost accepts for any number it reads (options, budgets, JSON, ledgers).  It is
#: far above any real parameter count, FLOP count, byte size, duration or energy, and low enough that a
#: product of ten such numbers stays finite in float64 (1e30**10 = 1e300 < 1.8e308): an absurd input such as
#: ``--energy-kwh 1e308`` is refused by name instead of overflowing to "inf kg" somewhere downstream.
MAX_MAGNITUDE = 1e30
#: The smallest non-zero magnitude accepted: its reciprocal bound, so that a quotient of two accepted numbers
#: stays finite too (a ledger's 1e29 kWh measured over a 1e-300 kWh estimate printed "inf" as the ratio).
MIN_MAGNITUDE = 1 / MAX_MAGNITUDE

_COUNT_PREFIX = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12, "P": 10**15,
                 "E": 10**18}
_BYTE_PREFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15, "e": 10**18,
                "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50, "ei": 2**60}
_DURATION = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86_400, "day": 86_400, "days": 86_400,
             "hours": 3600, "minutes": 60, "seconds": 1, "hour": 3600, "hrs": 3600, "mins": 60, "minute": 60,
             "second": 1, "secs": 1, "w": 604_800, "week": 604_800, "weeks": 604_800}

# 1_000, 1,000,000 (commas only between groups of three: "1,5" is refused, not read as 15), .5, 1.5e9
_NUM = r"(?P<num>[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_QUANTITY = re.compile(r"\s*" + _NUM + r"\s*(?P<suffix>[A-Za-z%].*?)?\s*$")


def _finite(value: float | int | Decimal, text: object, what: str, *, big: bool = True) -> None:
    """Finite, and within MIN_MAGNITUDE..MAX_MAGNITUDE (BIG False: the caller bounds the top in its own unit)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{what}: {text!r} is not a finite number")
    if big and abs(value) > MAX_MAGNITUDE:
        raise UsageError(f"{what}: {text!r} is out of range (more than {MAX_MAGNITUDE:g} in magnitude)")
    if value and abs(value) < MIN_MAGNITUDE:
        raise UsageError(f"{what}: {text!r} is out of range (non-zero and less than {MIN_MAGNITUDE:g} in magnitude)")


def _split(text: str | int | float, what: str, example: str, *, big: bool = True) -> tuple[int | float | Decimal, str]:
    """(number, suffix) of TEXT; a Python number has no suffix.  Strings are read exactly (Decimal)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UsageError(f"{what}: {text!r} is not a number")
    if isinstance(text, (int, float)):
        _finite(text, text, what, big=big)
        return text, ""
    m = _QUANTITY.fullmatch(text)
    if not m:
        if re.fullmatch(r"\s*[+-]?(nan|inf|infinity)\s*%?\s*", text, re.I):
            raise UsageError(f"{what}: {text!r} is not a finite number")
        raise UsageError(f"{what}: {text!r} is not a number (expected e.g. {example})")
    try:
        number = Decimal(m["num"].replace(",", "").replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal literals
        raise UsageError(f"{what}: {text!r} is not a number") from None
    _finite(number, text, what, big=big)
    return number, (m["suffix"] or "").strip()


def _scaled(number: int | float | Decimal, scale: int, text: object, what: str) -> int | float | Decimal:
    value = number * (Decimal(scale) if isinstance(number, Decimal) else scale)
    _finite(value, text, what)
    return value


def _whole(value: int | float | Decimal, text: object, what: str) -> int:
    if value != int(value):
        raise UsageError(f"{what}: {text!r} is not a whole number")
    return int(value)


def _count(text: str | int | float, what: str, words: tuple[str, ...]) -> int | float | Decimal:
    number, suffix = _split(text, what, "1.2e9, '5 G' or '6.7B'")
    for prefix in sorted(_COUNT_PREFIX, key=len, reverse=True):
        if suffix.startswith(prefix) and suffix[len(prefix):].strip().lower() in {w.lower() for w in words}:
            return _scaled(number, _COUNT_PREFIX[prefix], text, what)
    raise UsageError(f"{what}: unknown unit {suffix!r} in {text!r} (expected e.g. '5 G', '6.7B' (B = billion) or "
                     f"'12 G{words[-1]}': a count takes k, M, G/B, T, P, E, not bytes or binary prefixes)")


def parse_count(text: str | int | float, what: str = "count") -> int:
    """'30_000_000', '5 G', '6.7B' (B = billion), '1.2e9', '300 params' -> int.  A count is whole:
    '1.5' is an error, not silently 2 (strings are read exactly, so '6.7B' is 6_700_000_000)."""
    return _whole(_count(text, what, ("", "param", "parameters", "params")), text, what)


def parse_flops(text: str | int | float, what: str = "FLOPs") -> int:
    """'1.2 GFLOPs', '3e21', '5 G' -> int FLOPs (a fraction of a FLOP is rounded down: exact for a limit)."""
    return math.floor(_count(text, what, ("", "flop", "FLOPs")))


def parse_macs(text: str | int | float, what: str = "MACs") -> int:
    """'5 G', '5 GMACs', 1e9 -> int MACs (rounded down)."""
    return math.floor(_count(text, what, ("", "mac", "MACs")))


def parse_bytes(text: str | int | float, what: str = "bytes") -> int:
    """'128 MiB' (binary), '4 GB' (SI), '500 B' (500 bytes), 1024 -> int bytes (rounded down)."""
    number, suffix = _split(text, what, "1024, '500 B', '4 GB' or '128 MiB'")
    unit = suffix.lower()
    if unit in ("", "byte", "bytes"):
        return math.floor(_scaled(number, 1, text, what))
    if suffix.endswith("B") and suffix[:-1].lower() in _BYTE_PREFIX:
        return math.floor(_scaled(number, _BYTE_PREFIX[suffix[:-1].lower()], text, what))
    if suffix.endswith("b") and suffix[:-1].lower() in _BYTE_PREFIX:
        why = f"a lower-case 'b' is bits; write {suffix[:-1]}B for bytes"
    elif unit in _BYTE_PREFIX:
        why = f"'{suffix}' alone is ambiguous for bytes; write {suffix.upper().rstrip('I')}B (SI) or " \
              f"{suffix[0].upper()}iB (binary)"
    else:
        why = "expected B, KB, MB, GB, TB (SI, 1 KB = 1000 B) or KiB, MiB, GiB, TiB (binary, 1 KiB = 1024 B)"
    raise UsageError(f"{what}: unknown unit {suffix!r} in {text!r} ({why})")


def parse_number(text: str | int | float, what: str = "number") -> float:
    """A plain finite number: '8', '1.5e3', '2_000', 0.5 -> float (no unit; use the kind's parser for units)."""
    number, suffix = _split(text, what, "8, 0.5 or 1.5e3")
    if suffix:
        raise UsageError(f"{what}: {text!r} is not a plain number (unexpected {suffix!r})")
    return float(number)


_DURATION_PART = re.compile(r"\s*" + _NUM + r"\s*(?P<unit>[A-Za-z]+)")
_UNIT_WORDS = {"s": "seconds", "h": "hours", "d": "days", "m": "minutes", "min": "minutes"}
_SECONDS_WORD = {1: "seconds", 60: "minutes", 3600: "hours", 86_400: "days", 604_800: "weeks"}


def _within(seconds: int | float | Decimal, scale: int, text: object, what: str) -> None:
    """SECONDS (a duration read in a unit of SCALE seconds) within MAX_MAGNITUDE seconds; else the bound named in
    that unit, the one the user wrote: '--hours 1e29' is 'more than 2.78e+26 hours', not '1e+30' (seconds)."""
    if abs(seconds) > MAX_MAGNITUDE:
        raise UsageError(f"{what}: {text!r} is out of range (more than {MAX_MAGNITUDE / scale:.3g} "
                         f"{_SECONDS_WORD[scale]})")


def parse_duration(text: str | int | float, what: str = "duration", unit: str = "s") -> float:
    """'3h', '90m', '90 min', '1h30m', '2 days', '45s' -> seconds.  A bare number is in UNIT
    (`--hours 1.5` is 1.5 h, `--hours 90m` is 1.5 h too); 'm' is minutes, never months."""
    if unit not in _DURATION:
        raise ValueError(f"unknown default time unit {unit!r}")
    example = f"1.5 ({_UNIT_WORDS.get(unit, unit)}), 90m, 1h30m or 2d"
    number, suffix = _split(text, what, example, big=False)
    if not suffix or suffix in _DURATION:
        scale = _DURATION[suffix or unit]
        seconds = number * (Decimal(scale) if isinstance(number, Decimal) else scale)
        _within(seconds, scale, text, what)
        return float(seconds)
    seconds, pos = Decimal(0), 0
    while pos < len(text.rstrip()):  # '1h30m': parts, each with its unit
        m = _DURATION_PART.match(text, pos)
        if not m:
            raise UsageError(f"{what}: {text!r} is not a number (expected e.g. {example})")
        if m["unit"] not in _DURATION:
            raise UsageError(f"{what}: unknown time unit {m['unit']!r} in {text!r} (use s, m/min, h, d or w)")
        part = Decimal(m["num"].replace(",", "").replace("_", ""))
        _finite(part, text, what, big=False)
        seconds += part * _DURATION[m["unit"]]
        pos = m.end()
    _within(seconds, _DURATION[unit], text, what)  # '1h30m' has no one unit: the bound in the option's unit
    return float(seconds)


def parse_fraction(text: str | int | float, what: str = "fraction") -> float:
    """'5%' -> 0.05; '0.05' -> 0.05 (finite: 'nan%' and '1e999%' are refused)."""
    number, suffix = _split(text, what, "'5%' or 0.05")
    if suffix not in ("", "%"):
        raise UsageError(f"{what}: cannot read {text!r} (expected a percentage such as '5%' or a fraction such as 0.05)")
    return float(number) / 100 if suffix == "%" else float(number)


def require_positive(value: float, what: str, *, allow_zero: bool = False, integer: bool = False) -> float:
    """Reject non-numbers, NaN, infinities, magnitudes above MAX_MAGNITUDE, negatives, (unless allowed) zero
    and (with INTEGER) fractions, with one clear line."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number, got {value}")
    if abs(value) > MAX_MAGNITUDE:  # before any float() of a huge int, which would overflow
        shown = f"{value:g}" if isinstance(value, float) else f"an integer of {len(str(abs(value)))} digits"
        raise UsageError(f"{what} is out of range (more than {MAX_MAGNITUDE:g}), got {shown}")
    if value and abs(value) < MIN_MAGNITUDE:
        raise UsageError(f"{what} is out of range (non-zero and less than {MIN_MAGNITUDE:g}), got {value:g}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{what} must be {'zero or ' if allow_zero else ''}positive, got {value:g}")
    if integer and value != int(value):
        raise UsageError(f"{what} must be a whole number, got {value:g}")
    return value


#: The largest size along one axis mlcost accepts (a batch, a token count, GPUs, a tensor dimension): far above
#: any real one, and small enough that a product of a few stays inside torch's int64 sizes (a batch of 1e27
#: fails torch's shape unpacking instead of being refused by name).
MAX_SIZE = 2**31 - 1


def require_size(value: object, what: str) -> int:
    """A whole number from 1 to MAX_SIZE (a batch, tokens, GPUs, a tensor dimension), else one clear line."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
        shown = f"an integer of {len(str(abs(value)))} digits" if isinstance(value, int) and abs(value) > 10**20 \
            else repr(value)
        raise UsageError(f"{what} must be a whole number from 1 to {MAX_SIZE:,}, got {shown}")
    return value


def round_sig(value: float, digits: int = 3) -> float:
    """VALUE rounded to DIGITS significant digits (999.7 -> 1000.0): the basis for choosing a prefix."""
    return float(f"{value:.{digits}g}") if value else 0.0


_SI_PREFIXES = (("Y", 1e24), ("Z", 1e21), ("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def format_si(value: float | int | None, unit: str = "", digits: int = 3) -> str:
    """1.234e9, 'FLOPs' -> '1.23 GFLOPs'; 999.7 -> '1 k' (the prefix is chosen after rounding, never
    '1e+03 k'); beyond yotta, scientific notation.  None -> '—'."""
    if value is None:
        return "—"
    v = round_sig(float(value), digits)
    if abs(v) >= 1e27:
        return f"{v:.{digits - 1}e} {unit}".rstrip()
    for prefix, scale in _SI_PREFIXES:
        if abs(v) >= scale:
            return f"{v / scale:.{digits}g} {prefix}{unit}".rstrip()
    return f"{format_number(v, digits)} {unit}".rstrip()


def format_bytes(value: int | float | None, digits: int = 3) -> str:
    """Binary prefixes: 1536 -> '1.5 KiB'; 1048575 -> '1 MiB' (prefix chosen after rounding)."""
    if value is None:
        return "—"
    v = float(value)
    for prefix, scale in (("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(round_sig(v / scale, digits)) >= 1:
            return f"{round_sig(v / scale, digits):g} {prefix}B"
    return f"{int(v)} B"


def format_number(value: float | int | None, digits: int = 3) -> str:
    """A plain number for people: DIGITS significant digits, thousands grouped, no float noise.

    0.012345 -> '0.0123'; 201.24 -> '201'; 656346.9 -> '656,347' (whole numbers from 1000 on);
    below 0.001 or from 1e12 on, scientific with DIGITS digits ('1.88e-05').  None -> '—'.
    """
    if value is None:
        return "—"
    v = round_sig(float(value), digits)
    if v == 0:
        return "0"
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if abs(v) >= 1e12 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    if abs(v) >= 10 ** (digits - 1):
        return f"{float(value):,.0f}"  # whole numbers keep every digit: 656,347, not 656,000
    decimals = digits - 1 - math.floor(math.log10(abs(v)))
    return f"{v:.{decimals}f}".rstrip("0").rstrip(".")


def format_range(low: float | None, high: float | None, fmt=None, sep: str = "–") -> str | None:
    """'LOW–HIGH' through FMT (default format_number), or None when there is no range to show: a bound
    missing, or both ends reading the same once formatted (never 'range 201–201')."""
    if low is None or high is None:
        return None
    fmt = fmt or format_number
    lo, hi = fmt(low), fmt(high)
    return None if lo == hi else f"{lo}{sep}{hi}"


def format_share(fraction: float | None) -> str:
    """A share of a total for tables, one rule everywhere: 0.291 -> '29.1%'; 0 -> '0%'; a share that is not
    zero but rounds to it -> '<0.1%' (never '0.0%' beside a nonzero time or count).  None -> '—'."""
    if fraction is None:
        return "—"
    pct = 100 * float(fraction)
    if pct == 0:
        return "0%"
    return "<0.1%" if 0 < pct < 0.05 else f"{pct:.1f}%"


def format_duration(seconds: float | None) -> str:
    """3600 -> '1 h'; 5400 -> '1.5 h'; 59.99 -> '1 min' (unit chosen after rounding to 3 digits)."""
    if seconds is None:
        return "—"
    for unit, scale in (("years", 365.25 * 86_400), ("days", 86_400), ("h", 3600), ("min", 60)):
        if round_sig(seconds / scale) >= 1:
            return f"{format_number(seconds / scale)} {unit}"
    return f"{format_number(seconds)} s"
