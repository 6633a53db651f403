"""`mlcost compute` through the CLI: exact JSON, bad input (exit 2), the plot, no torch import."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _cli import run


def test_params_tokens_json_exact():
    code, out, _ = run("compute", "--params", "1e9", "--tokens", "2e10", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "mlcost.compute/1"
    assert data["method"] == "params_tokens"
    assert data["flops"] == 120_000_000_000_000_000_000  # 6 * 1e9 * 2e10
    assert data["pfs_days"] == 1.2e20 / 8.64e19
    assert data["gpu_hours"] is None and data["accelerator"] is None
    assert data["range"] == {"flops": [120_000_000_000_000_000_000] * 2, "pfs_days": [1.2e20 / 8.64e19] * 2,
                             "gpu_hours": None, "utilization": None}
    assert data["inputs"] == {"params": 1_000_000_000, "tokens": 20_000_000_000, "epochs": 1}
    assert data["breakdown"] == {"flops_6nd": 120_000_000_000_000_000_000, "flops_attention": 0}
    assert data["trend"] == {"below": "DeepSpeech2", "above": "Xception", "x_alexnet": (1.2e20 / 8.64e19) / 0.0054,
                             "text": "between DeepSpeech2 and Xception; 257x AlexNet"}
    assert len(data["assumptions"]) == 2


def test_hardware_time_json_exact():
    code, out, _ = run("compute", "--gpu", "A100-80GB", "--count", "8", "--hours", "1", "--utilization", "50%",
                       "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["method"] == "hardware_time"
    assert data["flops"] == 4_492_800_000_000_000_000  # 8 * 312e12 * 3600 * 0.5
    assert data["gpu_hours"] == 8.0 and data["wall_hours"] == 1.0
    assert data["accelerator"]["name"] == "A100-SXM4-80GB" and data["accelerator"]["precision"] == "bf16"


def test_counting_flops_per_sample_with_gpu_table():
    code, out, _ = run("compute", "--flops-per-sample", "32e9", "--samples", "1.2e6", "--epochs", "74", "--gpu", "v100")
    assert code == 0
    assert "0.0987 petaflop/s-days" in out  # VGG: 16 GMACs x 2 x 3 x 1.2M x 74
    assert "between VGG and ResNets" in out
    assert "GPU-hours" in out and "V100-SXM2" in out
    assert "this run" in out  # the bar chart


def test_profile_json_counting(tmp_path):
    from mlcost.results import InputSpec, MemoryStats, ParamStats, Profile

    prof = Profile(model="tiny", format="torch", backend="torch", params=ParamStats(10, 10), memory=MemoryStats(40),
                   flops_forward=8_000, macs_forward=4_000, inputs=(InputSpec((4, 3, 32, 32)),))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prof.to_dict()))
    code, out, _ = run("compute", "--profile", path, "--samples", "1000", "--format", "json")
    assert code == 0
    assert json.loads(out)["flops"] == 2_000 * 1_000 * 3  # 8,000 / batch 4, x 1,000 samples, x 3


def test_markdown_and_output_file(tmp_path):
    target = tmp_path / "c.md"
    code, out, _ = run("compute", "--params", "7B", "--tokens", "2T", "--format", "markdown", "--output", target)
    assert code == 0 and out == ""
    assert target.read_text().startswith("## Training compute")


@pytest.mark.parametrize(("args", "message"), [
    (("--params", "0", "--tokens", "1e9"), "parameters must be positive"),
    (("--params", "-5", "--tokens", "1e9"), "parameters must be positive"),
    (("--params", "nan", "--tokens", "1e9"), "--params: cannot read 'nan'"),
    (("--params", "1e9", "--tokens", "inf"), "--tokens: cannot read 'inf'"),
    (("--params", "1e999", "--tokens", "1e9"), "not a finite number"),
    (("--gpu", "a100", "--hours", "-1"), "training time must be positive"),
    (("--gpu", "a100", "--hours", "1", "--count", "0"), "count must be positive"),
    (("--gpu", "h1000", "--hours", "1"), "unknown accelerator 'h1000'; closest:"),
    (("--params", "1e9", "--tokens", "1e9", "--flops-per-sample", "1e9"), "two methods at once"),
    (("--params", "1e9", "--tokens", "1e9", "--hours", "3", "--gpu", "a100"), "two methods at once"),
    (("--params", "1e9",), "--params needs --tokens"),
    (("--flops-per-sample", "1e9",), "--samples N or --tokens N"),
    (("--hours", "3",), "needs --gpu"),
    ((), "nothing to estimate"),
    (("--params", "1e9", "--tokens", "1e9", "--layers", "12"), "--layers, --seq-len and --d-model"),
    (("--params", "1e9", "--tokens", "1e9", "--utilization", "0"), "utilization must be positive"),
    (("--params", "1e9", "--tokens", "1e9", "--gpu", "a100", "--precision", "fp4"), "unknown precision"),
    (("--params", "1e9", "--tokens", "1e9", "--format", "yaml"), "--format must be one of"),
])
def test_bad_input_one_line_exit_2(args, message):
    code, out, err = run("compute", *args)
    assert code == 2, (code, out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_plot_png_and_svg(tmp_path):
    png, svg = tmp_path / "t.png", tmp_path / "t.svg"
    assert run("compute", "--params", "1e9", "--tokens", "2e10", "--plot", png)[0] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert run("compute", "--params", "1e9", "--tokens", "2e10", "--plot", svg)[0] == 0
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert run("compute", "--params", "1e9", "--tokens", "2e10", "--plot", tmp_path / "t.gif")[0] == 2


def test_plot_fit_doubling_time_matches_the_post():
    from mlcost.costs.compute import reference_results
    from mlcost.render.plot import _year, doubling_months

    pts = [(_year(r["date"]), r["pfs_days"]) for r in reference_results() if r["group"] == "headline"]
    assert doubling_months(pts) == pytest.approx(3.43, abs=0.3)  # the post: "3.43 months" for its fit


def test_compute_imports_no_torch():
    code = (
        "import sys\n"
        "from mlcost.cli import main\n"
        "sys.argv = ['mlcost', 'compute', '--params', '1e9', '--tokens', '2e10', '--gpu', 'h100', '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'fvcore', 'onnx', 'transformers', 'codecarbon', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["flops"] == 120_000_000_000_000_000_000
    assert "HEAVY=\n" in proc.stderr + "\n" and "HEAVY=" in proc.stderr
    assert proc.stderr.strip().endswith("HEAVY=")


def test_model_end_to_end_matches_its_profile():
    """MODEL profiled by mlcost.profile: compute = 3 x forward / batch x samples x epochs (no measured backward)."""
    import mlcost

    prof = mlcost.profile("tests/models/tiny.py:build", input_shapes=((2, 8),))
    code, out, err = run("compute", "tests/models/tiny.py:build", "--input-shape", "2,8", "--samples", "1000",
                         "--epochs", "3", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert prof.flops_forward and data["inputs"]["flops_per_sample"] * 2 == prof.flops_forward  # batch of 2
    assert data["flops"] == prof.flops_forward // 2 * 1000 * 3 * 3
