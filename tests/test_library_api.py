"""mlcost.compute / carbon / check are the library calls the commands make (same results, same JSON); results
show as their terminal view in rich and notebooks and export to_pandas(); `import mlcost` stays light."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mlcost
from _cli import run_cli
from mlcost.render.layout import cell_width

ROOT = Path(__file__).resolve().parent.parent
CNN = f"{ROOT / 'examples' / 'cnn.py'}:build"


def test_compute_matches_the_cli_and_the_formula():
    est = mlcost.compute(params="7B", tokens="2T", gpu="a100", count=1024)
    assert est.flops == 6 * 7_000_000_000 * 2_000_000_000_000  # C = 6 N D = 8.4e22
    assert est.pfs_days == pytest.approx(8.4e22 / 8.64e19)  # 972.2 pfs-days
    cli = run_cli("compute", "--params", "7B", "--tokens", "2T", "--gpu", "a100", "--count", "1024", "-f", "json")
    assert cli.exit_code == 0 and cli.json() == json.loads(json.dumps(est.to_dict()))
    # numbers work as well as the CLI's strings; a duration reads as written
    assert mlcost.compute(params=7e9, tokens=2e12, gpu="a100", count=1024) == est
    hw = mlcost.compute(gpu="v100", count=8, hours="1h30m")
    assert hw.gpu_hours == pytest.approx(8 * 1.5)


def test_carbon_and_check_match_the_cli(tmp_path, monkeypatch):
    est = mlcost.carbon(gpu="a100", count=8, hours="90m", region="FR")
    cli = run_cli("carbon", "--gpu", "a100", "--count", "8", "--hours", "1.5", "--region", "FR", "-f", "json")
    assert cli.exit_code == 0 and cli.json() == json.loads(json.dumps(est.to_dict()))

    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(4, 3), torch.zeros(2, 4)\n")
    (tmp_path / "mlcost.toml").write_text('[[models]]\nname = "net"\nmodel = "net.py:build"\n'
                                          '[models.budgets]\nmax_params = 10\n')
    report = mlcost.check(tmp_path / "mlcost.toml")
    assert report.exceeded and [r.value for r in report.rows] == [4 * 3 + 3]  # 15 params > 10
    cli = run_cli("check", "-c", tmp_path / "mlcost.toml", "-f", "json")
    assert cli.exit_code == 1 and cli.json() == json.loads(json.dumps(report.to_dict()))


def test_the_commands_call_the_library(monkeypatch):
    import mlcost.api as api

    seen = []
    for name in ("compute", "carbon"):
        real = getattr(api, name)

        def spy(*a, _real=real, _name=name, **k):
            seen.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(api, name, spy)
    assert run_cli("compute", "--params", "1e9", "--tokens", "1e9").exit_code == 0
    assert run_cli("carbon", "--energy-kwh", "10").exit_code == 0
    assert seen == ["compute", "carbon"]


def test_results_show_in_rich_and_notebooks_and_export_frames():
    from rich.console import Console

    prof = mlcost.profile(CNN, input_shapes=[(1, 3, 224, 224)])
    con = Console(width=60, force_terminal=False, color_system=None)
    with con.capture() as cap:
        con.print(prof)
    text = cap.get()
    assert "aten::convolution" in text and max(cell_width(line) for line in text.splitlines()) <= 60
    html = prof._repr_html_()
    assert html.startswith("<pre") and "aten::convolution" in html
    modules = prof.to_pandas()
    assert list(modules.columns) == ["name", "type", "depth", "params", "flops", "macs", "flops_backward"]
    assert len(modules) == len(prof.by_module) and modules.loc[0, "params"] == 98_970
    ops = prof.to_pandas("operators")
    assert int(ops["flops"].sum()) == prof.flops_forward == 399_227_904  # rows sum to the total
    frame = mlcost.compute(params="7B", tokens="2T").to_pandas()
    assert frame.loc[0, "flops"] == 84_000_000_000_000_000_000_000 and len(frame) == 1
    assert mlcost.carbon(energy_kwh=100).to_pandas().loc[0, "energy_kwh"] == 100


def test_html_escapes_user_text():
    from mlcost.results import MemoryStats, ParamStats, Profile

    p = Profile(model="<script>alert(1)</script>", format="torch", backend="torch", params=ParamStats(1, 1),
                memory=MemoryStats(4))
    assert "<script>" not in p._repr_html_() and "&lt;script&gt;" in p._repr_html_()


def test_to_pandas_without_pandas_names_what_to_install(monkeypatch):
    from mlcost.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match="pandas"):
        mlcost.compute(params="1B", tokens="1B").to_pandas()


def test_import_mlcost_stays_light():
    code = ("import sys, mlcost; mlcost.compute; mlcost.carbon; mlcost.check; "
            "print(sorted(m for m in ('torch', 'pandas', 'rich', 'typer', 'codecarbon') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
