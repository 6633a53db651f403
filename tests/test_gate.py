"""`mlcost check` cannot pass by accident: units by metric, NaN refused, a factory that exits or raises fails
its model, a baseline of 0 is stated, and no model name can inject a GitHub workflow command.

The model is Linear(8, 16) -> ReLU -> Linear(16, 4) on a (2, 8) input, on the meta device:
params = 8*16 + 16 + 16*4 + 4 = 212; weights_bytes = 4 * 212 = 848 (float32); MACs = 2*8*16 + 2*16*4 = 384.
"""
from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("torch")

MODEL = """\
import sys
import torch
from torch import nn


def build():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), (torch.zeros(2, 8),)


def exits():
    sys.exit(0)


def interrupted():
    raise KeyboardInterrupt


class Custom(BaseException):
    pass


def custom():
    raise Custom("from the factory")


class ExitsInForward(nn.Module):
    def forward(self, x):
        sys.exit(0)


def exits_in_forward():
    return ExitsInForward(), (torch.zeros(2, 8),)
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "net.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)

    def configure(budgets: str = "max_params = 1000", factory: str = "build", name: str = "mlp") -> None:
        (tmp_path / "mlcost.toml").write_text(textwrap.dedent(f"""\
            [[models]]
            name = {json.dumps(name)}
            model = "net.py:{factory}"

            [models.budgets]
            {budgets}
            """))
    return configure


def test_500_B_is_500_bytes_for_a_bytes_budget(project, cli):
    # "B" is the billions suffix for counts only: 848 bytes must exceed a 500-byte budget (it passed as 500e9)
    project('max_weights_bytes = "500 B"\nmax_params = "500 B"')
    r = cli("check", "--format", "json")
    assert r.exit_code == 1, r.stderr
    rows = {x["budget"]: x for x in r.json()["rows"]}
    assert (rows["max_weights_bytes"]["limit"], rows["max_weights_bytes"]["verdict"]) == (500, "fail")
    assert (rows["max_params"]["limit"], rows["max_params"]["verdict"]) == (500 * 10**9, "pass")  # a count: 500 billion


@pytest.mark.parametrize(("budget", "message"), [
    ('max_weights_bytes = "4 G"', "'G' alone is ambiguous for bytes; write GB (SI) or GiB (binary)"),
    ('max_weights_bytes = "4 Gb"', "a lower-case 'b' is bits; write GB for bytes"),
    ('max_params = "5 GiB"', "unknown unit 'GiB'"),
    ('max_increase = "nan%"', "max_increase: 'nan%' is not a finite number"),
    ('max_increase = nan', "max_increase: nan is not a finite number"),
    ('max_flops = inf', "max_flops: inf is not a finite number"),
    ('max_co2e_kg = "1e400"', "max_co2e_kg: '1e400' is out of range"),
    ('warn_at = "inf%"', "warn_at: 'inf%' is not a finite number"),
])
def test_unreadable_budgets_are_one_line_exit_2(project, cli, budget, message):
    project(budget)
    r = cli("check")
    assert r.exit_code == 2 and r.stdout == "", r.stderr
    assert message in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize(("factory", "raised"), [
    ("exits", "SystemExit"), ("interrupted", "KeyboardInterrupt"), ("custom", "Custom: from the factory"),
    ("exits_in_forward", "SystemExit"),
])
def test_a_factory_that_exits_or_raises_fails_its_model(project, cli, factory, raised):
    # sys.exit(0) in the factory used to end `mlcost check` with exit 0 and no output: the gate passed
    project(factory=factory, name="gated")
    for fmt in ("text", "github"):
        r = cli("check", "--format", fmt)
        assert r.exit_code == 2 and r.stdout == "", (r.exit_code, r.stdout, r.stderr)
        assert r.stderr.startswith("mlcost: error: model 'gated': ") and raised in r.stderr
        assert len(r.stderr.splitlines()) == 1
    r = cli("profile", f"net.py:{factory}")
    assert r.exit_code == 2 and raised.split(":")[0] in r.stderr and len(r.stderr.splitlines()) == 1


def baseline(tmp_path, **metrics) -> str:
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"schema": "mlcost.baseline/1", "models": {"mlp": metrics}}))
    return str(path)


def test_a_zero_baseline_is_stated_not_a_crash(project, cli, tmp_path):
    project('max_params = 1000\nmax_increase = "5%"')
    r = cli("check", "--format", "json", "--baseline", baseline(tmp_path, params=0, macs=384))
    assert r.exit_code == 1, r.stderr  # from 0 to 212 params: no 5% of 0 allows it
    rows = {x["budget"]: x for x in r.json()["rows"]}
    assert rows["max_increase.params"]["change"] is None and rows["max_increase.params"]["verdict"] == "fail"
    assert rows["max_increase.params"]["message"] == (
        "mlp: params 212 (baseline 0: relative change undefined, absolute change +212); exceeds max_increase 5%")
    assert rows["max_params"]["message"] == (
        "mlp: params 212 is within max_params 1 k (baseline 0: relative change undefined, absolute change +212)")
    assert (rows["max_increase.macs"]["change"], rows["max_increase.macs"]["verdict"]) == (0.0, "pass")
    for fmt in ("text", "markdown", "github", "junit"):
        assert cli("check", "--format", fmt, "--baseline", baseline(tmp_path, params=0)).exit_code == 1


@pytest.mark.parametrize(("text", "message"), [
    ('{"schema": "mlcost.baseline/1", "models": {"mlp": {"params": NaN}}}', "NaN, which is not a finite number"),
    ('{"schema": "mlcost.baseline/1", "models": {"mlp": {"params": Infinity}}}', "Infinity, which is not a finite"),
    ('{"schema": "mlcost.baseline/1", "models": {"mlp": {"params": 1e999}}}', "1e999, which is not a finite number"),
    ('{"schema": "mlcost.baseline/1", "models": {"mlp": {"params": -5}}}', "params is -5; a cost metric is never negative"),
])
def test_a_tampered_baseline_is_one_line_exit_2(project, cli, tmp_path, text, message):
    project('max_increase = "5%"')
    path = tmp_path / "base.json"
    path.write_text(text)
    r = cli("check", "--baseline", str(path))
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def _commands(lines: list[str]) -> list[str]:
    """Lines the GitHub Actions runner would read as a command: '::' after leading space, or '##[' anywhere."""
    return [line for line in lines if line.lstrip().startswith("::") or "##[" in line]


@pytest.mark.parametrize("name", ["x\n::warning::injected", "::error::injected", "a\r\n  ::notice::x", "##[error]x"])
def test_no_model_name_starts_a_workflow_command(project, cli, tmp_path, name):
    project("max_params = 100", name=name)  # 212 > 100: an exceeded budget, so the name reaches every output
    summary = tmp_path / "summary.md"
    text = cli("check")
    assert text.exit_code == 1 and _commands(text.stdout.splitlines()) == []
    gh = cli("check", "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert gh.exit_code == 1
    ours = _commands(gh.stdout.splitlines())
    assert len(ours) == 1 and ours[0].startswith("::error file=mlcost.toml,line=")  # the one annotation we emit
    assert "%0A" in ours[0] or "\n" not in name  # the name's newline stays inside the annotation, escaped
    md = summary.read_text().splitlines()
    assert _commands(md) == [] and sum(line.startswith("|") for line in md) == 3  # head, rule, one row
    junit = cli("check", "--format", "junit")
    import xml.etree.ElementTree as ET

    assert ET.fromstring(junit.stdout).find("testsuite") is not None
