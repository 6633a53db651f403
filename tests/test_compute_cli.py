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
    trends = data["trend"].pop("trends")
    assert data["trend"] == {"below": "DeepSpeech2", "above": "Xception", "x_alexnet": (1.2e20 / 8.64e19) / 0.0054,
                             "text": "between DeepSpeech2 and Xception; 257x AlexNet"}
    assert list(trends) == ["2012-2018", "since 2019"] and trends["2012-2018"]["doubling_months"] == 3.4
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
    (("--params", "nan", "--tokens", "1e9"), "--params: 'nan' is not a finite number"),
    (("--params", "1e9", "--tokens", "inf"), "--tokens: 'inf' is not a finite number"),
    (("--params", "1e999", "--tokens", "1e9"), "--params: '1e999' is out of range (more than 1e+30 in magnitude)"),
    (("--params", "1e30", "--tokens", "1e30", "--gpu", "a100", "--count", "1e308"), "--count: '1e308' is out of range"),
    (("--gpu", "a100", "--hours", "-1"), "training time must be positive"),
    (("--gpu", "a100", "--hours", "1", "--count", "0"), "--count must be a whole number from 1 to 2,147,483,647, got 0"),
    (("--gpu", "h1000", "--hours", "1"), "unknown accelerator 'h1000'; closest:"),
    (("--params", "1e9", "--tokens", "1e9", "--flops-per-sample", "1e9"), "two methods at once"),
    (("--params", "1e9", "--tokens", "1e9", "--hours", "3", "--gpu", "a100"), "two methods at once"),
    (("--params", "1e9",), "--params needs --tokens"),
    (("--flops-per-sample", "1e9",), "--samples N or --tokens N"),
    (("--hours", "3",), "needs --gpu"),
    ((), "nothing to estimate"),
    (("--params", "1e9", "--tokens", "1e9", "--layers", "12"), "--layers, --seq-len and --d-model"),
    (("--params", "1e9", "--tokens", "1e9", "--utilization", "0"), "utilization must be positive"),
    (("--params", "1e9", "--tokens", "1e9", "--gpu", "a100", "--precision", "fp4"), "unknown --precision 'fp4'; choose one of"),
    (("--params", "1e9", "--tokens", "1e9", "--format", "yaml"), "unknown --format 'yaml'; choose one of"),
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


def test_fit_doubling_time_matches_the_post():
    from mlcost.costs.compute import fit_doubling_months, trend_lines

    # the headline results (AlphaGo Zero read from the chart) fit close to the post's "3.43 months"
    assert fit_doubling_months("headline") == pytest.approx(3.43, abs=0.3)
    lines = trend_lines()
    assert lines["2012-2018"]["doubling_months"] == 3.4
    assert 4 < lines["since 2019"]["doubling_months"] < 12  # slower than 2012-2018, as Epoch AI also finds


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


@pytest.mark.parametrize(("args", "message"), [
    (("--gpu", "a100", "--hours", "abc"), "--hours: 'abc' is not a number"),  # typer used to print 3 usage lines
    (("--gpu", "a100", "--days", "nan"), "--days: 'nan' is not a finite number"),
    (("--gpu", "a100", "--hours", "1", "--count", "1.5"), "--count must be a whole number from 1 to 2,147,483,647, got 1.5"),
    (("--gpu", "a100", "--hours", "1", "--count", "many"), "--count: 'many' is not a number"),
    (("--gpu", "a100", "--hours", "1", "--peak-tflops", "inf"), "--peak-tflops: 'inf' is not a finite number"),
    (("--params", "1e9", "--tokens", "1e9", "--epochs", "x"), "--epochs: 'x' is not a number"),
    (("--params", "1e9", "--tokens", "1e9", "--layers", "12.5", "--seq-len", "8", "--d-model", "8"),
     "layers must be a whole number"),
    # accelerator-only options without an accelerator used to be dropped silently
    (("--params", "1e9", "--tokens", "1e9", "--count", "8"), "--count is for timing on an accelerator: give --gpu"),
    (("--flops-per-sample", "1e9", "--samples", "10", "--utilization", "40%", "--precision", "fp8"),
     "--utilization, --precision are for timing on an accelerator"),
    (("--gpu", "a100", "--hours", "1", "--epochs", "1"), "belong to counting or 6ND"),
])
def test_more_bad_input_one_line_exit_2(args, message):
    code, out, err = run("compute", *args)
    assert code == 2, (code, out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_numeric_options_still_read_as_numbers():
    code, out, _ = run("compute", "--params", "1e9", "--tokens", "1e9", "--layers", "12", "--seq-len", "1_024",
                       "--d-model", "768", "--epochs", "2", "--gpu", "h100", "--count", "4", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["flops"] == 6 * 1_000_000_000 * 2_000_000_000 + 6 * 12 * 1024 * 768 * 2_000_000_000  # D = 1e9 x 2 epochs
    assert data["inputs"]["layers"] == 12 and data["accelerator"]["count"] == 4
    code, out, _ = run("compute", "--gpu", "a100", "--days", "0.5", "--count", "2", "--peak-tflops", "100",
                       "--format", "json")
    assert json.loads(out)["flops"] == 2_851_200_000_000_000_000  # 2 * 100e12 * 43,200 s * 0.33


def test_accelerator_rows_cite_their_datasheet():
    code, out, _ = run("compute", "--gpu", "v100 pcie", "--hours", "1", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert "V100 datasheet (PCIe column)" in data["accelerator"]["source"]
    assert not any("UNVERIFIED" in a for a in data["assumptions"])


def test_plots_leave_the_callers_matplotlib_alone(tmp_path):
    """A library must not switch the caller's backend (a notebook's inline one) or touch pyplot's figures:
    the trend and roofline plots draw on their own Agg canvas.  Run in a fresh interpreter."""
    script = f"""
import sys, matplotlib
matplotlib.use("pdf")
from mlcost.cli import main
for args in (["compute", "--gpu", "v100", "--count", "8", "--days", "3", "--plot", {str(tmp_path / "t.png")!r}],
             ["profile", "tests/models/tiny.py:build", "--chip", "a100", "--plot", {str(tmp_path / "r.svg")!r}]):
    sys.argv = ["mlcost", *args]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, exc.code
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "pdf False"
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (tmp_path / "r.svg").read_bytes()


@pytest.mark.parametrize("pfs_days", [3.47e-16, 1.39, 972.0])  # far below, inside and far above the references
def test_plot_run_marker_and_labels_are_visible(pfs_days):
    """The run's star is not under the legend, its label stays in the axes (not on the title), names don't overlap."""
    import datetime

    from mlcost.render.plot import trend_figure
    from mlcost.results import ComputeEstimate

    est = ComputeEstimate(method="params_tokens", flops=round(pfs_days * 8.64e19), pfs_days=pfs_days)
    fig = trend_figure(est, run_date=datetime.date(2026, 11, 1))
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        frame = ax.get_window_extent(renderer)
        star = next(c for c in ax.collections if c.get_gid() == "run")
        sx, sy = ax.transData.transform(star.get_offsets()[0])
        assert frame.x0 < sx < frame.x1 and frame.y0 < sy < frame.y1
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.contains(sx, sy) and not legend.overlaps(frame)
        label = next(t for t in ax.texts if t.get_gid() == "run-label").get_window_extent(renderer)
        assert frame.x0 <= label.x0 and label.x1 <= frame.x1 and frame.y0 <= label.y0 and label.y1 <= frame.y1
        assert not label.overlaps(ax.title.get_window_extent(renderer))
        names = [t.get_window_extent(renderer) for t in ax.texts if t.get_gid() != "run-label"]
        assert len(names) == 24  # every reference result with a value is named: 18 from the post, 6 since 2019
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 for b in names)
        if pfs_days == 1.39:  # the usual case: no two names overlap
            assert not any(a.overlaps(b) for i, a in enumerate(names) for b in names[i + 1:])
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_table_names_zetta_and_yotta_flops():
    code, out, _ = run("compute", "--params", "7B", "--tokens", "2T")
    assert code == 0 and "84 ZFLOPs (8.400e+22 FLOPs)" in out  # 6 * 7e9 * 2e12; was '8.4e+04 EFLOPs'
    code, out, _ = run("compute", "--params", "1e12", "--tokens", "1e13")
    assert code == 0 and "60 YFLOPs (6.000e+25 FLOPs)" in out  # 6 * 1e12 * 1e13


# --count 1e20 accelerators was accepted (compute printed '113,313 accelerator-hours on 100000000000000000000 x
# A100'; carbon '$5.12e+20'): a count of chips is a size along one axis, 1..2^31-1, as --gpus
@pytest.mark.parametrize("command", [["compute", "--params", "7B", "--tokens", "1T", "--gpu", "a100"],
                                     ["compute", "--gpu", "a100", "--hours", "1"],
                                     ["carbon", "--gpu", "a100", "--hours", "1"]])
@pytest.mark.parametrize("count, shown", [("1e20", "100000000000000000000"), ("2147483648", "2147483648"),
                                          ("0", "0"), ("1.5", "1.5")])
def test_count_is_a_size_like_gpus(cli, command, count, shown):
    r = cli(*command, "--count", count)
    assert (r.exit_code, r.stderr) == (2, f"mlcost: error: --count must be a whole number from 1 to 2,147,483,647, "
                                          f"got {shown}\n")


def test_the_largest_count_is_still_accepted(cli):
    r = cli("carbon", "--gpu", "a100", "--hours", "1", "--count", str(2**31 - 1), "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["energy"]["count"] == 2_147_483_647
