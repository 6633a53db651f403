"""Number formatting (prefix chosen after rounding, sensible significant digits, no one-value ranges) and
one duration parser for every option that asks for a time."""
from __future__ import annotations

import pytest

from mlcost import units
from mlcost.errors import UsageError


@pytest.mark.parametrize("value, unit, text", [
    (999.7, "FLOPs", "1 kFLOPs"),          # was '1e+03 FLOPs': rounding to 3 digits makes it 1000
    (999_700, "FLOPs", "1 MFLOPs"),        # was '1e+03 kFLOPs'
    (399_227_904, "FLOPs", "399 MFLOPs"),
    (4_089_184_256, "MACs", "4.09 GMACs"),
    (8.4e22, "FLOPs", "84 ZFLOPs"),        # 6 * 7e9 * 2e12: beyond exa
    (6e25, "FLOPs", "60 YFLOPs"),
    (3e28, "FLOPs", "3.00e+28 FLOPs"),     # beyond yotta: scientific
    (768, "FLOPs", "768 FLOPs"),
    (0, "FLOPs", "0 FLOPs"),
])
def test_format_si(value, unit, text):
    assert units.format_si(value, unit) == text


def test_format_bytes_prefix_after_rounding():
    assert units.format_bytes(1536) == "1.5 KiB"
    assert units.format_bytes(1024 * 1024 - 1) == "1 MiB"  # 1023.999 KiB rounds to 1 MiB, not '1.02e+03 KiB'
    assert units.format_bytes(397_832) == "389 KiB"
    assert units.format_bytes(1023) == "1023 B"


@pytest.mark.parametrize("value, text", [
    (1.87603967e-05, "1.88e-05"),   # was printed with 9 digits
    (0.012345, "0.0123"),
    (201.24, "201"),
    (656_346.9, "656,347"),         # whole numbers from 1000 on keep every digit
    (99.96, "100"),
    (9.996, "10"),
    (1.5, "1.5"),
    (0, "0"),
    (None, "—"),
    (2.5e12, "2.50e+12"),
])
def test_format_number(value, text):
    assert units.format_number(value) == text


def test_format_range_never_shows_one_value():
    assert units.format_range(200.9, 201.2) is None  # both read '201': no 'range 201–201'
    assert units.format_range(162.0, 401.3) == "162–401"
    assert units.format_range(None, 3) is None


def test_format_duration_unit_after_rounding():
    assert units.format_duration(59.99) == "1 min"
    assert units.format_duration(5400) == "1.5 h"
    assert units.format_duration(3 * 86_400) == "3 days"
    assert units.format_duration(12.5) == "12.5 s"


@pytest.mark.parametrize("text, unit, seconds", [
    ("1h", "h", 3600), ("90m", "h", 5400), ("90 min", "h", 5400), ("1h30m", "h", 5400), ("1.5", "h", 5400),
    ("2d", "h", 172_800), ("36h", "d", 129_600), ("3", "d", 259_200), ("45s", "s", 45), (2, "h", 7200),
    ("1_000", "s", 1000),
])
def test_parse_duration(text, unit, seconds):
    assert units.parse_duration(text, "--hours", unit=unit) == pytest.approx(seconds)


@pytest.mark.parametrize("text, words", [
    ("abc", "'abc' is not a number"), ("3 months", "unknown time unit 'months'"), ("1h 30", "is not a number"),
    ("nan", "not a finite number"), ("", "is not a number"),
])
def test_parse_duration_rejects(text, words):
    with pytest.raises(UsageError, match=words):
        units.parse_duration(text, "--hours", unit="h")


# the bound is MAX_MAGNITUDE = 1e30 seconds, named in the unit the user wrote: 1e30 / 3600 = 2.78e26 hours,
# / 86,400 = 1.16e25 days; '--hours 1e29' said "more than 1e+30", which 1e29 is not
@pytest.mark.parametrize("text, unit, bound", [
    ("1e29", "h", "more than 2.78e+26 hours"), ("1e31", "h", "more than 2.78e+26 hours"),
    ("1e29h", "s", "more than 2.78e+26 hours"), ("1e29", "d", "more than 1.16e+25 days"),
    ("1e25w", "h", "more than 1.65e+24 weeks"), ("1e31", "s", "more than 1e+30 seconds"),
    ("1e26d1h", "h", "more than 2.78e+26 hours"),  # parts in several units: the bound in the option's unit
])
def test_a_duration_out_of_range_names_the_bound_in_its_unit(text, unit, bound):
    with pytest.raises(UsageError) as exc:
        units.parse_duration(text, "--hours", unit=unit)
    assert str(exc.value) == f"--hours: {text!r} is out of range ({bound})"


def test_carbon_and_compute_name_the_hours_bound_in_hours():
    from _cli import run_cli

    for args in (["carbon", "--gpu", "a100"], ["compute", "--gpu", "a100"]):
        r = run_cli(*args, "--hours", "1e29")
        assert (r.exit_code, r.stderr) == (
            2, "mlcost: error: --hours: '1e29' is out of range (more than 2.78e+26 hours)\n")
        r = run_cli(*args, "--days", "1e29")
        assert (r.exit_code, r.stderr) == (
            2, "mlcost: error: --days: '1e29' is out of range (more than 1.16e+25 days)\n")


def test_cli_durations_accepted_wherever_a_duration_is_asked():
    from _cli import run_cli

    def kwh(*args):
        r = run_cli("carbon", "--gpu", "a100", "--count", "8", *args, "-f", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()["energy_kwh"]

    assert kwh("--hours", "1h") == kwh("--hours", "1") == kwh("--hours", "60m") == kwh("--days", "1h")
    assert kwh("--hours", "90m") == kwh("--hours", "1.5")

    def hours(*args):
        r = run_cli("compute", "--gpu", "v100", "--count", "8", *args, "-f", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()["gpu_hours"]

    assert hours("--hours", "1h30m") == pytest.approx(8 * 1.5) and hours("--days", "36h") == pytest.approx(8 * 36)


def test_share_is_one_rule_and_never_zero_point_zero_for_a_nonzero_share():
    """A nonzero share too small to show reads '<0.1%' in every table; the roofline tables printed '0.0%'
    (norm, 18.8 µs of a 95.9 ms step) where the module and operator tables print '<0.1%'."""
    from mlcost.render import roofline
    roof = {"by_module": [{"depth": 0, "module": "norm", "flops": 7_860_000, "bytes": 63_000_000, "intensity": 0.125,
                           "seconds_floor": 1.88e-5, "share": 0.000196, "bound": "memory"}],
            "by_operator": [{"op": "aten::rsqrt", "calls": 65, "intensity": 0.1, "seconds_floor": 1e-6,
                             "share": 0.00001, "bound": "memory"}]}
    assert roofline.operator_rows(roof)[0][4] == "<0.1%"
    assert roofline.module_rows(roof, 2)[0][5] == "<0.1%"

    from mlcost.units import format_share

    assert [format_share(x) for x in (0, 0.0002, 0.0005, 0.291, 1, None)] == ["0%", "<0.1%", "0.1%", "29.1%",
                                                                              "100.0%", "—"]
