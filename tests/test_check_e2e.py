"""End to end: a temporary git repository whose model grows between two commits, checked by `mlcost check`.

The model is Linear(8, W) -> ReLU -> Linear(W, 4) on a (2, 8) input, profiled on the meta device:
params = 8*W + W + W*4 + 4 = 13*W + 4; MACs = 2*8*W + 2*W*4 = 24*W; FLOPs = 2 * MACs.
W = 16 (first commit): 212 params, 384 MACs.  W = 32 (second commit): 420 params, 768 MACs.
"""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("torch")

MODEL = """\
import torch
from torch import nn

WIDTH = {width}


def build(width: int = WIDTH):
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 4)), (torch.zeros(2, 8),)
"""

CONFIG = """\
[[models]]
name = "mlp"
model = "models/net.py:build"

[models.budgets]
max_params = 300
max_macs = "1k"
max_increase = "5%"
"""


def git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=mlcost test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """Commit 1: W = 16 (within budget).  Commit 2: W = 32 (over max_params, +98% params)."""
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "mlcost.toml").write_text(CONFIG)
    (root / "models" / "net.py").write_text(MODEL.format(width=16))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "small model")
    monkeypatch.chdir(root)
    return root


def grow(root):
    (root / "models" / "net.py").write_text(MODEL.format(width=32))
    git(root, "commit", "-q", "-am", "wider model")


def test_first_commit_within_budget(repo, cli):
    r = cli("check", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["ok"] is True and data["config"] == "mlcost.toml"
    assert data["values"]["mlp"]["params"] == 13 * 16 + 4 == 212
    assert data["values"]["mlp"]["macs"] == 24 * 16 == 384
    assert data["values"]["mlp"]["flops"] == 2 * 384 + 2 * 16  # 2 FLOPs per MAC + one per ReLU element
    assert data["values"]["mlp"]["weights_bytes"] == 4 * 212  # float32
    assert [(x["budget"], x["verdict"]) for x in data["rows"]] == [
        ("max_params", "pass"), ("max_increase.params", "skip"), ("max_increase.flops", "skip"),
        ("max_macs", "pass"), ("max_increase.macs", "skip"), ("max_increase.weights_bytes", "skip"),
        ("max_increase.activation_bytes", "skip")]
    text = cli("check")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[-1] == "all budgets met, 0 near the limit, 2 within budget, 5 skipped (1 model)"


def test_grown_model_fails_against_the_previous_commit(repo, cli, tmp_path):
    grow(repo)
    summary = tmp_path / "summary.md"
    r = cli("check", "--format", "github", "--baseline-ref", "HEAD~1", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == 1, r.stderr
    errors = [line for line in r.stdout.splitlines() if line.startswith("::error")]
    assert errors[0] == ("::error file=mlcost.toml,line=6,title=mlcost budget exceeded%3A mlp max_params::"
                         "mlp: params 420 exceeds max_params 300 (+98.11%25 vs baseline)")  # 420 / 212 - 1
    assert errors[1] == ("::error file=mlcost.toml,line=8,title=mlcost budget exceeded%3A mlp max_increase.params::"
                         "mlp: params 420 is +98.11%25 vs baseline 212; exceeds max_increase 5%25")
    # MACs 768 < 1000 but above 90% of it?  No: 768 < 900, so max_macs passes; its +100% growth fails.
    assert any("title=mlcost budget exceeded%3A mlp max_increase.macs" in line for line in errors)
    assert not any("max_macs::" in line for line in errors)
    text = summary.read_text()
    assert text.startswith("## mlcost budget report\n<!-- mlcost-check -->\n")
    assert "| mlp | max_params | 420 | 300 | +98.11% | ❌ exceeded |" in text
    assert "baseline ref:HEAD~1" in text
    assert git(repo, "worktree", "list").count("\n") == 1  # the temporary worktree is gone


def test_junit_and_saved_baseline_agree_with_ref(repo, cli, tmp_path):
    base = tmp_path / "base.json"
    assert cli("check", "--save-baseline", str(base)).exit_code == 0
    assert json.loads(base.read_text())["models"]["mlp"]["params"] == 212
    grow(repo)
    out = tmp_path / "report.xml"
    r = cli("check", "--format", "junit", "--baseline", str(base), "--output", str(out))
    assert r.exit_code == 1 and r.stdout == ""
    root = ET.parse(out).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failure = cases["max_params"].find("failure")
    assert failure is not None and failure.text.splitlines()[:3] == ["value: 420 params", "limit: 300 params", "baseline: 212"]
    assert cases["max_macs"].find("failure") is None
    assert cases["max_increase.macs"].find("failure").get("message") == (
        "mlp: macs 768 MACs is +100.00% vs baseline 384 MACs; exceeds max_increase 5%")
    by_file = cli("check", "--format", "json", "--baseline", str(base)).json()
    by_ref = cli("check", "--format", "json", "--baseline-ref", "HEAD~1").json()
    assert by_file["rows"] == by_ref["rows"] and by_file["baseline"] != by_ref["baseline"]


def test_same_commit_same_numbers(repo, cli):
    grow(repo)
    first = cli("check", "--format", "json", "--baseline-ref", "HEAD~1")
    second = cli("check", "--format", "json", "--baseline-ref", "HEAD~1")
    assert first.exit_code == second.exit_code == 1
    assert first.stdout == second.stdout
    same = cli("check", "--format", "json", "--baseline-ref", "HEAD").json()
    assert {r["change"] for r in same["rows"] if r["kind"] == "increase"} == {0.0}


def test_config_and_model_errors_exit_2(repo, cli):
    (repo / "mlcost.toml").write_text(CONFIG.replace("max_macs", "max_mac"))
    r = cli("check")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("mlcost: error: mlcost.toml:7: unknown key 'max_mac' in the budgets of model 'mlp'; "
                        "did you mean 'max_macs'?\n")
    (repo / "mlcost.toml").write_text(CONFIG.replace("models/net.py", "models/gone.py"))
    r = cli("check")
    assert r.exit_code == 2 and "model 'mlp'" in r.stderr and "gone.py" in r.stderr
    (repo / "mlcost.toml").write_text(CONFIG)
    r = cli("check", "--baseline-ref", "no-such-ref")
    assert r.exit_code == 2 and r.stderr == "mlcost: error: --baseline-ref: unknown git ref 'no-such-ref'\n"
    r = cli("check", "--model", "mpl")
    assert r.exit_code == 2 and "did you mean 'mlp'?" in r.stderr


def test_baseline_ref_imports_siblings_and_packages_from_the_ref(repo, cli):
    """A model whose width lives in a sibling module and a package: REF's versions are used for the baseline."""
    (repo / "models" / "layers.py").write_text("WIDTH = 16\n")
    (repo / "models" / "wide.py").write_text(MODEL.format(width="__import__('layers').WIDTH"))
    (repo / "pkgmodels").mkdir()
    (repo / "pkgmodels" / "__init__.py").write_text("")
    (repo / "pkgmodels" / "net.py").write_text(MODEL.format(width=16))
    (repo / "mlcost.toml").write_text(CONFIG.replace("models/net.py", "models/wide.py") + CONFIG.replace(
        '"mlp"', '"pkg"').replace("models/net.py:build", "pkgmodels.net:build"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "sibling and package models")
    (repo / "models" / "layers.py").write_text("WIDTH = 32\n")
    (repo / "pkgmodels" / "net.py").write_text(MODEL.format(width=32))
    git(repo, "commit", "-q", "-am", "wider")
    data = cli("check", "--format", "json", "--baseline-ref", "HEAD~1").json()
    rows = {(r["model"], r["budget"]): r for r in data["rows"]}
    for name in ("mlp", "pkg"):
        assert data["values"][name]["params"] == 13 * 32 + 4  # 420 now
        assert rows[name, "max_increase.params"]["baseline"] == 13 * 16 + 4  # 212 at HEAD~1
    again = cli("check", "--format", "json").json()  # today's modules are back after the worktree run
    assert again["values"]["mlp"]["params"] == again["values"]["pkg"]["params"] == 420


def test_ref_errors_clean_up_and_new_models_are_skipped(repo, cli):
    (repo / "models" / "net.py").write_text("def build():\n    raise RuntimeError('broken at this commit')\n")
    git(repo, "commit", "-q", "-am", "broken model")
    (repo / "models" / "net.py").write_text(MODEL.format(width=16))
    (repo / "models" / "new.py").write_text(MODEL.format(width=8))
    (repo / "mlcost.toml").write_text(CONFIG + CONFIG.replace('"mlp"', '"new"').replace("net.py", "new.py"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "fixed, plus a new model")
    r = cli("check", "--baseline-ref", "HEAD~1")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("mlcost: error: model 'mlp' at HEAD~1: ") and "broken at this commit" in r.stderr
    assert git(repo, "worktree", "list").count("\n") == 1  # removed on error too
    r = cli("check", "--format", "json", "--baseline-ref", "HEAD~2", "--model", "new")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["notes"] == ["model 'new': models/new.py does not exist at HEAD~2; no baseline"]
    assert {x["verdict"] for x in data["rows"] if x["kind"] == "increase"} == {"skip"}
    assert data["values"]["new"]["params"] == 13 * 8 + 4  # 108
