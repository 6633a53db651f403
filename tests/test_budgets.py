"""Budget configuration (parsing, validation with file:line and a suggestion), comparisons, baseline files."""
from __future__ import annotations

import dataclasses
import json
import math
import textwrap

import pytest

from mlcost.budgets import BASELINE_SCHEMA, check_profiles, compare, load_baseline, load_config, save_baseline
from mlcost.errors import ConfigError, InputError
from mlcost.results import InputSpec, MemoryStats, ParamStats, Profile


def make_profile(params=1000, macs=5000, weights_bytes=4000, act=None, train=None) -> Profile:
    return Profile(model="m.py:build", format="torch", backend="torch",
                   params=ParamStats(total=params, trainable=params),
                   memory=MemoryStats(weights_bytes=weights_bytes, activations_peak_bytes=act, training_peak_bytes=train),
                   flops_forward=2 * macs, macs_forward=macs)


def write(tmp_path, text: str, name: str = "mlcost.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


EXAMPLE = """
warn_at = "80%"

[budgets]
max_increase = "5%"

[[models]]
name = "classifier"
model = "models/net.py:build"
input-shape = ["1,3,224,224"]
args = { width = 8 }

[models.budgets]
max_params = 30_000_000
max_macs = "5 G"
max_flops = "1.2 GFLOPs"
max_weights_bytes = "128 MiB"
max_increase = { macs = "2%", params = "10%" }

[[models]]
name = "tiny"
model = "pkg.mod:build"
budgets = { max_params = "5k" }
"""


def test_example_config_parses_units_and_lines(tmp_path):
    cfg = load_config(write(tmp_path, EXAMPLE))
    assert cfg.warn_at == 0.8
    net, tiny = cfg.models
    assert net.options == {"input_shape": ((1, 3, 224, 224),), "args": {"width": 8}}
    assert net.profile_kwargs() == {"input_shapes": ((1, 3, 224, 224),), "factory_args": {"width": 8}}
    assert net.budgets == {"params": 30_000_000, "macs": 5_000_000_000, "flops": 1_200_000_000,
                           "weights_bytes": 128 * 2**20}  # 128 MiB = 134,217,728 bytes
    # per-metric thresholds override the [budgets] default ("5%") for their metric only
    assert net.increase == {"default": 0.05, "macs": 0.02, "params": 0.1}
    assert net.lines["max_params"] == 13 and net.lines["max_macs"] == 14
    assert net.lines["max_increase.macs"] == 17 and net.line == 6
    assert tiny.budgets == {"params": 5000} and tiny.lines["max_params"] == 22
    assert tiny.increase == {"default": 0.05} and tiny.lines["max_increase"] == 4
    assert tiny.resolve(tmp_path) == "pkg.mod:build"  # an importable module stays as written
    assert net.resolve(tmp_path) == f"{tmp_path / 'models/net.py'}:build"


def test_pyproject_tool_table_same_schema(tmp_path):
    path = write(tmp_path, """
        [project]
        name = "x"

        [tool.mlcost]
        warn_at = 0.95

        [[tool.mlcost.models]]
        name = "a"
        model = "a.py:build"

        [tool.mlcost.models.budgets]
        max_macs = 100
        max_paramz = 3
    """, name="pyproject.toml")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (f"{path}:13: unknown key 'max_paramz' in the budgets of model 'a'; "
                              "did you mean 'max_params'?")
    path.write_text(path.read_text().replace("max_paramz", "max_params"))
    cfg = load_config(path)
    assert cfg.warn_at == 0.95 and cfg.models[0].budgets == {"macs": 100, "params": 3}
    assert cfg.models[0].lines == {"max_macs": 12, "max_params": 13}


@pytest.mark.parametrize("bad, line, message", [
    ('inputshape = ["1,8"]', 3, "unknown key 'inputshape' in [[models]]; did you mean 'input_shape'?"),
    ('budgets = { max_maccs = "5 G" }', 3, "unknown key 'max_maccs' in the budgets of model 'a'; did you mean 'max_macs'?"),
    ('budgets = { max_increase = { mac = "2%" } }', 3, "unknown key 'mac' in max_increase; did you mean 'macs'?"),
    ('budgets = { max_macs = "5 GB" }', 3, "max_macs: unknown unit 'GB' in '5 GB' (expected e.g. '5 G', '6.7B' (B = billion) or '12 GMACs': a count takes k, M, G/B, T, P, E, not bytes or binary prefixes)"),
    ('budgets = { max_increase = "five" }', 3, "max_increase: 'five' is not a number (expected e.g. '5%' or 0.05)"),
    ('backend = "fcore"', 3, "backend: 'fcore' is not one of auto, fvcore, torch"),
    # compute's precision, refused at its line (it was refused at check time as 'unknown precision', unnamed)
    ('gpu_precision = "fp33"', 3, "gpu_precision: 'fp33' is not one of fp32, tf32, bf16, fp16, fp8, int8, mixed, amp"),
    ('budgets = { max_pfs_days = 2 }', 1, "model 'a': max_pfs_days/max_co2e_kg need 'tokens' or 'samples' (training data size)"),
])
def test_invalid_values_name_file_and_line(tmp_path, bad, line, message):
    path = write(tmp_path, f'[[models]]\nname = "a"\n{bad}\nmodel = "a.py:f"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:{line}: {message}"


def test_unknown_top_level_key_and_missing_models(tmp_path):
    path = write(tmp_path, 'warn_at = "90%"\nmodel = "x"\n')
    with pytest.raises(ConfigError, match=r"mlcost.toml:2: unknown key 'model' in the top level; did you mean 'models'\?"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"no models to check"):
        load_config(write(tmp_path, 'warn_at = "90%"\n'))
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_config(write(tmp_path, "[[models]\n"))
    with pytest.raises(ConfigError, match=r"has no \[tool.mlcost\] table"):
        load_config(write(tmp_path, '[project]\nname = "x"\n', name="pyproject.toml"))


def config(tmp_path, budgets: str, warn_at: str = "90%"):
    return load_config(write(tmp_path, f'warn_at = "{warn_at}"\n[[models]]\nname = "m"\nmodel = "m.py:build"\n'
                                       f"[models.budgets]\n{budgets}\n"))


def test_absolute_limits_pass_warn_fail(tmp_path):
    cfg = config(tmp_path, "max_params = 1000\nmax_macs = 5500\nmax_weights_bytes = 3999")
    report = check_profiles(cfg, {"m": make_profile(params=1000, macs=5000, weights_bytes=4000)})
    got = {r.budget: (r.verdict, r.value, r.limit, r.line) for r in report.rows}
    assert got == {
        "max_params": ("warn", 1000, 1000, 6),  # at the limit is within it, but above 90% of it
        "max_macs": ("warn", 5000, 5500, 7),  # 5000 >= 0.9 * 5500 = 4950
        "max_weights_bytes": ("fail", 4000, 3999, 8),
    }
    assert report.exceeded and report.count("fail") == 1 and report.count("warn") == 2
    calm = check_profiles(cfg, [make_profile(params=899, macs=4949, weights_bytes=3999)])
    assert [r.verdict for r in calm.rows] == ["pass", "pass", "warn"] and not calm.exceeded
    row = report.rows[2]
    assert row.message == "m: weights_bytes 3.91 KiB exceeds max_weights_bytes 3.91 KiB"


def test_relative_budgets_against_baseline(tmp_path):
    cfg = config(tmp_path, 'max_increase = { default = "5%", macs = "2%" }')
    base = make_profile(params=1000, macs=5000, weights_bytes=4000)
    cur = make_profile(params=1049, macs=5101, weights_bytes=4000)
    report = check_profiles(cfg, {"m": cur}, {"m": base})
    assert [(r.budget, r.value, r.baseline) for r in report.rows] == [
        ("max_increase.params", 1049, 1000), ("max_increase.flops", 10202, 10000),  # flops = 2 * macs
        ("max_increase.macs", 5101, 5000), ("max_increase.weights_bytes", 4000, 4000)]
    assert math.isclose(report.rows[2].limit, 5000 * 1.02)  # baseline * (1 + 2%)
    rows = {r.budget: r for r in report.rows}
    assert rows["max_increase.flops"].verdict == "pass"  # +2.02% < 5% (the default)
    assert math.isclose(rows["max_increase.macs"].change, 101 / 5000)
    assert rows["max_increase.macs"].verdict == "fail"
    assert rows["max_increase.params"].verdict == "warn"  # +4.9% >= 90% of 5%
    assert rows["max_increase.weights_bytes"].verdict == "pass"
    assert rows["max_increase.macs"].message == ("m: macs 5.1 kMACs is +2.02% vs baseline 5 kMACs; "
                                                 "exceeds max_increase 2%")
    # without a baseline the relative rows are skipped, not passed silently
    alone = check_profiles(cfg, {"m": cur})
    assert {r.verdict for r in alone.rows} == {"skip"} and not alone.exceeded


def test_growth_from_zero_and_shrinking(tmp_path):
    cfg = config(tmp_path, 'max_increase = "0%"')
    vals = {"m": {"params": 0, "macs": 10, "flops": 20, "weights_bytes": 0}}
    report = compare(cfg, vals, {"m": {"params": 0, "macs": 0, "flops": 21, "weights_bytes": 0}}, baseline_label="x")
    rows = {r.metric: r for r in report.rows}
    assert rows["params"].verdict == "pass" and rows["params"].change == 0.0
    # growth from a baseline of 0 has no relative change (None, never +inf in JSON): it is stated, and fails
    assert rows["macs"].verdict == "fail" and rows["macs"].change is None and rows["macs"].limit == 0
    assert rows["macs"].message == ("m: macs 10 MACs (baseline 0 MACs: relative change undefined, absolute change "
                                    "+10 MACs); exceeds max_increase 0%")
    assert rows["flops"].verdict == "pass" and math.isclose(rows["flops"].change, -1 / 21)


def test_unmeasured_metric_with_a_budget_is_an_error(tmp_path):
    cfg = config(tmp_path, "max_activation_bytes = \"1 MiB\"")
    with pytest.raises(InputError, match="max_activation_bytes is set but activation_bytes is unknown"):
        check_profiles(cfg, {"m": make_profile(act=None)})
    assert check_profiles(cfg, {"m": make_profile(act=2**20)}).rows[0].verdict == "warn"


def test_training_memory_budget_turns_training_on(tmp_path):
    cfg = config(tmp_path, 'max_training_memory = "4 GiB"')
    assert cfg.models[0].profile_kwargs() == {"training": True}


def test_baseline_file_roundtrip(tmp_path):
    values = {"m": {"params": 1000, "macs": 5000, "pfs_days": 0.25}}
    path = tmp_path / "base.json"
    save_baseline(path, values, source="mlcost.toml")
    data = json.loads(path.read_text())
    assert data["schema"] == BASELINE_SCHEMA == "mlcost.baseline/1"
    assert data["models"] == values and load_baseline(path) == values
    first = path.read_text()
    save_baseline(path, values, source="mlcost.toml")
    assert path.read_text() == first  # no timestamps: the same numbers give the same bytes
    path.write_text('{"schema": "mlcost.profile/1"}')
    with pytest.raises(InputError, match="is not an mlcost baseline"):
        load_baseline(path)
    with pytest.raises(InputError, match="baseline file: .* does not exist"):
        load_baseline(tmp_path / "missing.json")


def test_pfs_days_and_co2e_budgets_use_the_cost_models(tmp_path):
    from mlcost.costs import carbon, compute

    cfg = load_config(write(tmp_path, """
        [[models]]
        name = "m"
        model = "m.py:build"
        tokens = "1M"
        gpu = "A100"
        utilization = "40%"
        region = "FR"
        budgets = { max_pfs_days = 1e-6, max_co2e_kg = 1e-12 }
    """))
    prof = dataclasses.replace(make_profile(macs=5000), inputs=(InputSpec((2, 8)),))  # 16 tokens per forward
    report = check_profiles(cfg, {"m": prof})
    est = compute.from_profile(prof, tokens=1_000_000, gpu="A100", utilization=0.4)
    co2 = carbon.from_flops(est.flops, gpu="A100", utilization=0.4, region="FR")
    pfs, kg = report.rows
    assert (pfs.metric, pfs.value, pfs.verdict) == ("pfs_days", est.pfs_days, "pass")
    assert (kg.metric, kg.value) == ("co2e_kg", co2.co2e_kg)
    # 10,000 forward FLOPs / 16 tokens = 625 per token; x3 for forward + backward; x 1M tokens
    assert est.flops == 3 * 625 * 1_000_000 and math.isclose(pfs.value, 1.875e9 / 8.64e19)
    assert kg.verdict == "fail" and kg.value > 1e-12  # any grid emits more than a picogram for 1.9 GFLOPs
    with pytest.raises(ConfigError, match=r"mlcost.toml:1: model 'm': max_co2e_kg needs 'gpu'"):
        load_config(write(tmp_path, '[[models]]\nname = "m"\nmodel = "m.py:f"\ntokens = 5\nbudgets = { max_co2e_kg = 1 }\n'))


def test_readme_example_config_loads(tmp_path):
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## `mlcost check`", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)[1]
    cfg = load_config(write(tmp_path, example))
    (m,) = cfg.models
    assert m.budgets["params"] == 30_000_000 and m.budgets["weights_bytes"] == 128 * 2**20
    assert m.increase == {"default": 0.05, "macs": 0.02} and m.warn_at == 0.95 and cfg.warn_at == 0.9
    assert m.options["training"] is True and m.cost == {"tokens": 300_000_000_000, "gpu": "A100", "region": "FR"}


def test_config_path_shown_relative_to_github_workspace(tmp_path, monkeypatch):
    sub = tmp_path / "ml" / "models"
    sub.mkdir(parents=True)
    path = write(tmp_path / "ml", '[[models]]\nname = "m"\nmodel = "m.py:f"\n')
    monkeypatch.chdir(sub)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    assert load_config(path).display_path == str(path)  # outside the working directory: as given
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    assert load_config(path).display_path == "ml/mlcost.toml"  # what ::error file=... needs to link


@pytest.mark.parametrize("text, line, key", [
    ('[[models]]\nname = "c"\nmodel = "m.py:f"\nbudgets.max_parms = 3\n', 4, "max_parms"),  # dotted key
    ('[[models]]\nname = "c"\nmodel = "m.py:f"\n[models.budgets]\nmax_params = 3\nmax_increase.parms = "1%"\n', 6, "parms"),
    ('[[models]]\nname = "c"\nmodel = "m.py:f"\nbudgets.max_increase.macs = "1%"\nbudgets.max_increase.parms = "1%"\n', 5, "parms"),
])
def test_dotted_keys_are_located_on_their_own_line(tmp_path, text, line, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert str(err.value).startswith(f"{tmp_path / 'mlcost.toml'}:{line}: unknown key {key!r}")


def test_dotted_budget_lines_feed_the_annotations(tmp_path):
    cfg = load_config(write(tmp_path, '[[models]]\nname = "c"\nmodel = "m.py:f"\nbudgets.max_params = 3\n'))
    assert cfg.models[0].lines == {"max_params": 4}
