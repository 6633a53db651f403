"""Renderers of the BudgetReport: text, json, markdown, github annotations + step summary, junit (parsed back)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mlcost.budgets import compare, load_config
from mlcost.render import budgets as rb

CONFIG = """\
[[models]]
name = "net"
model = "net.py:build"

[models.budgets]
max_params = 1000
max_macs = "5k"
max_weights_bytes = "4 KiB"
max_increase = { macs = "2%" }
"""


def report(tmp_path, *, macs=5100, params=950, with_baseline=True):
    (tmp_path / "mlcost.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "mlcost.toml")
    values = {"net": {"params": params, "flops": 2 * macs, "macs": macs, "weights_bytes": 4 * params}}
    base = {"net": {"params": 900, "flops": 10000, "macs": 5000, "weights_bytes": 3600}} if with_baseline else None
    return compare(cfg, values, base, baseline_label="ref:HEAD~1" if with_baseline else None)


def test_rows_and_verdicts(tmp_path):
    r = report(tmp_path)
    # params 950 >= 0.9 * 1000 -> warn; macs 5100 > 5000 -> fail; weights 3800 B >= 0.9 * 4096 -> warn;
    # macs +2.0% vs 5000 (limit 5100) -> at the threshold, within it, but near it -> warn
    assert [(x.budget, x.verdict, x.line) for x in r.rows] == [
        ("max_params", "warn", 6), ("max_macs", "fail", 7), ("max_increase.macs", "warn", 9),
        ("max_weights_bytes", "warn", 8)]


def test_text_table(tmp_path):
    text = rb.render_text(report(tmp_path), width=200)  # at 80 columns the summary line wraps
    lines = text.splitlines()
    assert lines[0] == f"mlcost check: {tmp_path / 'mlcost.toml'}"
    assert lines[1].split() == ["model", "budget", "value", "limit", "change", "verdict"]
    assert lines[3].split() == ["net", "max_params", "950", "1", "k", "+5.56%", "near", "limit"]  # 950/900 - 1
    assert lines[4].split() == ["net", "max_macs", "5.1", "kMACs", "5", "kMACs", "+2.00%", "EXCEEDED"]
    assert lines[5].split() == ["net", "max_increase.macs", "5.1", "kMACs", "+2%", "(5.1", "kMACs)", "+2.00%", "near", "limit"]
    assert lines[-1] == "1 budget exceeded, 3 near the limit, 0 within budget (1 model; baseline ref:HEAD~1)"


def test_json_schema(tmp_path):
    data = json.loads(rb.render_json(report(tmp_path)))
    assert data["schema"] == "mlcost.check/1" and data["ok"] is False
    assert data["summary"] == {"fail": 1, "warn": 3, "pass": 0, "skip": 0}
    assert data["values"] == {"net": {"params": 950, "flops": 10200, "macs": 5100, "weights_bytes": 3800}}
    macs = data["rows"][1]
    assert macs == {"model": "net", "budget": "max_macs", "metric": "macs", "kind": "max", "unit": "MACs",
                    "value": 5100, "limit": 5000, "verdict": "fail",
                    "message": "net: macs 5.1 kMACs exceeds max_macs 5 kMACs (+2.00% vs baseline)",
                    "baseline": 5000, "change": 0.02, "max_increase": None, "line": 7}


def test_markdown_first_lines_are_stable(tmp_path):
    md = rb.render_markdown(report(tmp_path)).splitlines()
    assert md[:2] == ["## mlcost budget report", "<!-- mlcost-check -->"]
    assert md[3] == "❌ 1 budget exceeded, 3 near the limit, 0 within budget (1 model; baseline ref:HEAD~1)"
    assert md[5] == "| Model | Budget | Value | Limit | Change | Verdict |"
    assert md[8] == "| net | max_macs | 5.1 kMACs | 5 kMACs | +2.00% | ❌ exceeded |"
    ok = rb.render_markdown(report(tmp_path, macs=4000, params=500)).splitlines()
    assert ok[:2] == md[:2] and ok[3].startswith("✅ all budgets met")


def test_github_annotations_and_step_summary(tmp_path):
    r = report(tmp_path)
    path = str(tmp_path / "mlcost.toml").replace(":", "%3A").replace(",", "%2C")
    lines = rb.annotations(r)
    assert lines[0] == (f"::warning file={path},line=6,title=mlcost budget near limit%3A net max_params::"
                        "net: params 950 is within 5.0%25 of max_params 1 k (+5.56%25 vs baseline)")  # % escaped as %25
    assert lines[1] == (f"::error file={path},line=7,title=mlcost budget exceeded%3A net max_macs::"
                        "net: macs 5.1 kMACs exceeds max_macs 5 kMACs (+2.00%25 vs baseline)")
    assert [x.split(" ", 1)[0] for x in lines] == ["::warning", "::error", "::warning", "::warning"]
    out = rb.render_github(r)
    assert out.startswith(lines[0] + "\n") and "mlcost check:" in out
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert rb.write_step_summary(r, {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert summary.read_text() == "earlier step\n" + rb.render_markdown(r) + "\n"  # appended, never replaced
    assert rb.write_step_summary(r, {}) is None


def test_annotation_escaping():
    from mlcost.render import escape

    assert escape.workflow_data("50% done\nnext") == "50%25 done%0Anext"
    assert escape.workflow_property("a:b,c") == "a%3Ab%2Cc"


def test_junit_parses_back(tmp_path):
    root = ET.fromstring(rb.render_junit(report(tmp_path)))
    suite = root.find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("skipped") == "0"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["max_params", "max_macs", "max_increase.macs", "max_weights_bytes"]
    failure = cases["max_macs"].find("failure")
    assert failure.get("message") == "net: macs 5.1 kMACs exceeds max_macs 5 kMACs (+2.00% vs baseline)"
    assert failure.text.splitlines() == ["value: 5100 MACs", "limit: 5000 MACs", "baseline: 5000", "change: +2.00%"]
    assert cases["max_macs"].get("classname") == "mlcost.check.net" and cases["max_macs"].get("line") == "7"
    assert cases["max_params"].find("failure") is None


def test_skipped_rows_without_baseline(tmp_path):
    r = report(tmp_path, with_baseline=False)
    inc = [x for x in r.rows if x.kind == "increase"]
    assert [(x.verdict, x.message) for x in inc] == [("skip", "net: macs change not checked (no baseline given)")]
    case = [c for c in ET.fromstring(rb.render_junit(r)).iter("testcase") if c.get("name") == "max_increase.macs"][0]
    assert case.find("skipped").get("message") == "net: macs change not checked (no baseline given)"


def test_action_and_pre_commit_hook_are_valid():
    import pathlib

    yaml = __import__("pytest").importorskip("yaml")
    root = pathlib.Path(__file__).resolve().parent.parent
    action = yaml.safe_load((root / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"config", "baseline-ref", "baseline", "extras", "args"}
    run = action["runs"]["steps"][-1]["run"]
    assert "set -- check --format github" in run and "${{" not in run  # inputs pass through env, not the script
    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "mlcost-check" and hooks[0]["entry"] == "mlcost check" and hooks[0]["pass_filenames"] is False


def test_skipped_rows_fold_to_one_line_in_text_and_markdown(tmp_path):
    r = report(tmp_path, with_baseline=False)
    text = rb.render_text(r).splitlines()
    assert "skipped: net: not checked (no baseline given): max_increase.macs" in text
    assert not any(line.startswith("net    max_increase") for line in text)
    # macs 5100 > 5000 fails with or without a baseline; params 950 and weights 3800 B are near their limits
    assert text[-1] == "1 budget exceeded, 2 near the limit, 0 within budget, 1 skipped (1 model)"
    md = rb.render_markdown(r)
    assert "> net: not checked (no baseline given): max_increase.macs" in md and "| max_increase.macs |" not in md


def test_junit_increase_limit_has_no_float_noise(tmp_path):
    (tmp_path / "mlcost.toml").write_text('[[models]]\nname = "m"\nmodel = "m.py:f"\n[models.budgets]\nmax_increase = "5%"\n')
    r = compare(load_config(tmp_path / "mlcost.toml"), {"m": {"params": 420}}, {"m": {"params": 212}}, baseline_label="x")
    (case,) = ET.fromstring(rb.render_junit(r)).iter("testcase")
    # limit = 212 * 1.05 = 222.6 (as a float 222.60000000000002); change = 420 / 212 - 1 = +98.11%
    assert case.find("failure").text.splitlines() == ["value: 420 params", "limit: 222.6 params", "baseline: 212",
                                                      "change: +98.11%"]


def test_action_install_step_builds_a_valid_requirement(tmp_path):
    """The install step's shell, with pip replaced by echo: extras after the name, the action's checkout by default."""
    import pathlib
    import shutil
    import subprocess

    import pytest

    yaml = pytest.importorskip("yaml")
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    action = yaml.safe_load((pathlib.Path(__file__).resolve().parent.parent / "action.yml").read_text())
    (step,) = [s for s in action["runs"]["steps"] if s.get("name") == "Install mlcost"]
    assert action["inputs"]["version"]["default"] == "" and step["env"]["MLCOST_ACTION_PATH"] == "${{ github.action_path }}"
    script = tmp_path / "install.sh"
    script.write_text(step["run"].replace("python -m pip install", "echo"))

    def req(version, extras="torch"):
        env = {"PATH": "/usr/bin:/bin", "MLCOST_REQ": version, "MLCOST_EXTRAS": extras, "MLCOST_ACTION_PATH": "/a/mlcost"}
        out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=True).stdout
        return out.split('--extra-index-url https://download.pytorch.org/whl/cpu ', 1)[1].strip()

    assert req("") == "/a/mlcost[torch]"  # the checkout the `uses:` ref names
    assert req("mlcost==0.1.0", "torch,onnx") == "mlcost[torch,onnx]==0.1.0"  # not mlcost==0.1.0[torch,onnx]
    assert req("mlcost>=0.1,<0.2") == "mlcost[torch]>=0.1,<0.2"
    assert req("mlcost", "") == "mlcost"


def test_text_below_the_tables_width_keeps_every_verdict(tmp_path):
    """Below ~55 columns (model, budget, value and verdict side by side) rich cropped the last column: at 40 the
    verdict was gone ('val' was the last header).  Too narrow for the table, each budget is one line that starts
    with its verdict and carries value, limit and change."""
    from mlcost.render.layout import cell_width

    r = report(tmp_path)
    for width in (40, 46, 50, 54):
        text = rb.render_text(r, width=width)
        assert max(cell_width(line) for line in text.splitlines()) <= width, text
        assert text.count("EXCEEDED") == 1 and text.count("near limit") == 3, text
    lines = rb.render_text(r, width=46).splitlines()  # (the config's tmp path above wraps)
    start = next(i for i, line in enumerate(lines) if line.startswith("near limit"))
    assert lines[start:start + 9] == [
        "near limit  net max_params: 950, limit 1 k,",
        "            change +5.56%",  # 950 / 900 - 1
        "EXCEEDED    net max_macs: 5.1 kMACs, limit 5",
        "            kMACs, change +2.00%",
        "near limit  net max_increase.macs: 5.1 kMACs,",
        "            limit +2% (5.1 kMACs), change",
        "            +2.00%",
        "near limit  net max_weights_bytes: 3.71 KiB,",  # 4 x 950 = 3,800 B
        "            limit 4 KiB, change +5.56%"]
    header = next(line for line in rb.render_text(r, width=50).splitlines() if line.startswith("model"))
    assert header.split() == ["model", "budget", "value", "verdict"]  # where the table fits, still the table
