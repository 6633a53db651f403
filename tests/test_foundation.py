import subprocess
import sys

import pytest

from mlcost import units
from mlcost.errors import MissingDependencyError, UsageError, import_optional


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30_000_000", 30_000_000), ("5 G", 5_000_000_000), ("6.7B", 6_700_000_000), ("1.2e9", 1_200_000_000), (42, 42)],
)
def test_parse_count(text, expected):
    assert units.parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("128 MiB", 128 * 2**20), ("4GiB", 4 * 2**30), ("4 GB", 4_000_000_000), ("1024", 1024), ("2 KiB", 2048)],
)
def test_parse_bytes(text, expected):
    assert units.parse_bytes(text) == expected


def test_parse_flops_and_duration_and_fraction():
    assert units.parse_flops("1.2 GFLOPs") == 1_200_000_000
    assert units.parse_duration("3h") == 3 * 3600
    assert units.parse_duration("2 days") == 2 * 86_400
    assert units.parse_duration("90 min") == 5400
    assert units.parse_fraction("5%") == pytest.approx(0.05)
    assert units.parse_fraction("0.25") == pytest.approx(0.25)


def test_parse_count_wants_whole_numbers():
    assert units.parse_count("6.7B") == 6_700_000_000  # 6.7 * 1e9 carries float noise: still whole
    for bad in ("0.5", "1.5", "2.0005k"):
        with pytest.raises(UsageError, match="not a whole number"):
            units.parse_count(bad, "--samples")


@pytest.mark.parametrize("bad", ["abc", "5 parsecs", "nan", "inf", "1e999"])
def test_parse_rejects(bad):
    with pytest.raises(UsageError):
        units.parse_bytes(bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_require_positive(bad):
    with pytest.raises(UsageError):
        units.require_positive(bad, "--hours")


def test_format():
    assert units.format_si(4_089_184_256, "MACs") == "4.09 GMACs"
    assert units.format_bytes(1536) == "1.5 KiB"
    assert units.PFS_DAY_FLOPS == 8.64e19


def test_missing_dependency_names_the_extra():
    with pytest.raises(MissingDependencyError) as info:
        import_optional("surely_not_installed_pkg", "onnx")
    assert "pip install 'mlcost[onnx]'" in str(info.value)
    assert info.value.exit_code == 3


def test_help_does_not_import_torch():
    code = "import sys; from mlcost.cli import app; print(','.join(m for m in ('torch','fvcore','onnx','transformers','codecarbon','matplotlib','pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_every_command_has_help(cli):
    from mlcost.cli import app
    import typer.main

    group = typer.main.get_command(app)
    assert group.commands, "no command registered"
    for name in group.commands:
        result = cli(name, "--help")
        assert result.exit_code == 0, name
        assert "Usage" in result.stdout


def test_user_error_is_one_line_and_exit_2(cli):
    result = cli("reference", "no_such_table")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mlcost: error: no reference table")
    assert "Traceback" not in result.stderr


def test_user_error_shows_traceback_with_mlcost_debug():
    import os

    env = {**os.environ, "MLCOST_DEBUG": "1"}
    proc = subprocess.run([sys.executable, "-m", "mlcost", "reference", "no_such_table"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "mlcost: error: no reference table" in proc.stderr


def test_profile_from_dict_refuses_other_json_in_one_line():
    from mlcost.errors import InputError
    from mlcost.results import Profile

    for data, found in (({"schema": "mlcost.compute/1"}, "'mlcost.compute/1'"), ([1], "'list'")):
        with pytest.raises(InputError, match=f"not an mlcost profile: expected schema 'mlcost.profile/1', found {found}"):
            Profile.from_dict(data)
    with pytest.raises(InputError, match="malformed mlcost profile: KeyError"):
        Profile.from_dict({"schema": "mlcost.profile/1"})


@pytest.mark.parametrize(("text", "expected"), [
    ("500 B", 500), ("500B", 500), ("500 bytes", 500), (500, 500), ("4 KB", 4_000), ("4 kB", 4_000),
    ("4 GB", 4 * 10**9), ("1.5 GiB", 3 * 2**29), ("1,000 B", 1000), ("1_024", 1024), ("2 TiB", 2 * 2**40),
    ("1.3 KiB", 1331),  # 1331.2 bytes, rounded down: for a limit, value > 1331.2 exactly when value > 1331
])
def test_bytes_take_byte_units_where_B_is_the_byte(text, expected):
    assert units.parse_bytes(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("4 G", "'G' alone is ambiguous for bytes; write GB (SI) or GiB (binary)"),
    ("4 Gi", "'Gi' alone is ambiguous for bytes; write GB (SI) or GiB (binary)"),
    ("4 Gb", "a lower-case 'b' is bits; write GB for bytes"),
    ("1,5 GB", "is not a number"),  # a decimal comma is refused, never read as 15
    ("5 GFLOPs", "unknown unit 'GFLOPs'"),
])
def test_bytes_refuse_what_is_not_a_byte_unit(text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        units.parse_bytes(text, "max_weights_bytes")


@pytest.mark.parametrize(("parse", "text", "expected"), [
    (units.parse_count, "500 B", 500 * 10**9), (units.parse_count, "6.7B params", 6_700_000_000),
    (units.parse_count, "5k", 5000), (units.parse_flops, "12 GFLOPs", 12 * 10**9), (units.parse_flops, "3e21", 3 * 10**21),
    (units.parse_macs, "5 G MACs", 5 * 10**9), (units.parse_macs, "5 GMACs", 5 * 10**9),
])
def test_counts_take_si_multipliers_where_B_is_a_billion(parse, text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["5 GB", "5 GiB", "5 Ki", "5 bytes", "5 MACs"])
def test_counts_refuse_bytes_and_binary_prefixes(text):
    with pytest.raises(UsageError, match="unknown unit"):
        units.parse_count(text, "max_params")


@pytest.mark.parametrize(("parse", "text"), [
    (units.parse_fraction, "nan%"), (units.parse_fraction, "inf%"), (units.parse_fraction, "1e999%"),
    (units.parse_fraction, float("nan")), (units.parse_number, "1e308"), (units.parse_number, "-1e31"),
    (units.parse_duration, "1e300 h"), (units.parse_bytes, "1e40"), (units.parse_count, 10**31),
    (units.parse_number, "Infinity"), (units.parse_number, "8 kg"),
])
def test_every_parser_refuses_nan_inf_and_the_absurd(parse, text):
    with pytest.raises(UsageError):
        parse(text, "x")


def test_require_positive_bounds_huge_integers_without_overflow():
    with pytest.raises(UsageError, match="out of range .* an integer of 401 digits"):
        units.require_positive(10**400, "--count", integer=True)
    assert units.require_positive(units.MAX_MAGNITUDE, "x") == 1e30
