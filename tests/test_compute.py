"""mlcost compute: the cost model (counting, 6ND + Kaplan attention, hardware x time) and its reference data."""
from __future__ import annotations

import math

import pytest

from mlcost.costs import compute as cm
from mlcost.errors import InputError, UsageError
from mlcost.refdata import find_accelerator, read_csv
from mlcost.results import ComputeEstimate, InputSpec, MemoryStats, ParamStats, Profile, UnsupportedOp

DAY = 86_400
PFS_DAY = 8.64e19


# --- "AI and Compute" appendix examples (the post's appendix), both methods ---------------------------
# The post rounds its inputs and results to ~2 significant figures and aims to be right within a
# factor of 2-3; rel=0.05 is "within its published rounding".  Wider tolerances are explained inline.
COUNTING = [
    # (name, add-multiplies or FLOPs per forward, examples, epochs, published pfs-days, rel)
    ("AlexNet", 2 * 0.75e9, 1.2e6, 90, 0.0054, 0.05),  # 0.005625
    ("VGG", 2 * 16e9, 1.2e6, 74, 0.098, 0.02),  # 0.09867 (8,525 PF; the post prints 8,524 PF)
    ("NAS", 2 * 10.0e9, 50_000 * 12_800, 50, 22, 0.02),  # 22.22: 12,800 networks x 50,000 images
    ("DQN", 2 * 2.5e6, 5e6 * 32, 1, 2.7e-5, 0.05),  # 2.78e-5 (2.4 PF; the post prints 2.3 PF)
    ("DeepSpeech2", 2 * 98e6, 12_000 * 3_600 * 50, 20, 0.30, 0.03),  # 0.294
    # ResNet-151: the inputs give 0.1216, the post prints 0.117.
    ("ResNets", 2 * 11.4e9, 1.2e6, 128, 0.117, 0.04),
]


@pytest.mark.parametrize(("name", "fwd", "examples", "epochs", "published", "rel"), COUNTING, ids=[c[0] for c in COUNTING])
def test_ai_and_compute_counting_examples(name, fwd, examples, epochs, published, rel):
    est = cm.from_flops_per_sample(fwd, samples=examples, epochs=epochs)
    assert est.method == "counting"
    assert est.flops == round(fwd * 3 * examples * epochs)  # forward x (1 + 2 backward)
    assert est.pfs_days == pytest.approx(published, rel=rel)
    assert est.pfs_days == est.flops / PFS_DAY


HARDWARE = [
    # (name, gpu, count, days, peak override TFLOP/s, utilization, published pfs-days, rel)
    ("AlexNet", "GTX 580", 2, 5.5, None, None, 0.0058, 0.02),  # 0.005735, table peak 1.58 TFLOPS
    ("Visualizing ConvNets", "GTX 580", 1, 12, 1.54, None, 0.0062, 0.03),  # 0.00610
    ("Dropout", "GTX 580", 1, 4, 1.54, None, 0.0021, 0.04),  # 0.00203
    ("Seq2Seq", "K20", 8, 10, None, None, 0.093, 0.02),  # 0.0924
    ("DeepSpeech2", "titan x", 16, 5, None, 0.50, 0.25, 0.05),  # 0.24: the post had specific info -> 50%
    ("Xception", "K80", 60, 30, 8.5, None, 5.0, 0.02),  # 5.05; AI and Compute takes 8.5 TFLOPS per K80
    ("NAS", "K40", 800, 28, None, None, 31, 0.02),  # 31.0
    # VGG: 4 x 15 days x 5.1 TFLOPS x 0.33 = 0.101 pfs-days; the post prints 0.12 (10,000 PF), 16% above
    # its own inputs -- inside the post's factor-of-2-3 aim, not its rounding.
    ("VGG", "titan black", 4, 15, None, None, 0.12, 0.17),
]


@pytest.mark.parametrize(("name", "gpu", "count", "days", "peak", "util", "published", "rel"), HARDWARE, ids=[h[0] for h in HARDWARE])
def test_ai_and_compute_gpu_time_examples(name, gpu, count, days, peak, util, published, rel):
    est = cm.from_hardware(gpu, count, days * DAY, peak_tflops=peak, utilization=util)
    acc = find_accelerator(gpu)
    tflops = peak if peak is not None else acc.peak_tflops["fp32"]
    u = util if util is not None else 0.33
    assert est.method == "hardware_time"
    assert est.flops == round(count * tflops * 1e12 * days * DAY * u)
    assert est.pfs_days == pytest.approx(published, rel=rel)
    assert est.gpu_hours == pytest.approx(count * days * 24)


def test_gnmt_example_with_data_factor():
    # 96 K80 x 9 days x 8.5 TFLOPS x 0.33 x sqrt(10 x 100) = 76.6 pfs-days; the post prints 79 (6.9e6 PF)
    est = cm.from_hardware("k80", 96, 9 * DAY, peak_tflops=8.5)
    assert est.pfs_days * math.sqrt(10 * 100) == pytest.approx(79, rel=0.04)


def test_reference_table_matches_the_appendix_examples():
    rows = {r["name"]: r for r in read_csv("ai_and_compute")}
    assert float(rows["VGG"]["pfs_days_counting"]) == 0.098
    assert float(rows["VGG"]["pfs_days_gpu_time"]) == 0.12
    assert float(rows["AlexNet"]["pfs_days"]) == 0.0054  # counting figure preferred over 0.0058
    agz = rows["AlphaGo Zero"]  # chart-only: the value as read from the post's chart, and it says so
    assert (agz["pfs_days"], agz["value_kind"]) == ("1860", "chart_read") and "as read from the chart" in agz["source"]
    assert float(rows["GPT-3 175B"]["pfs_days"]) == pytest.approx(3.14e23 / 8.64e19, rel=1e-5)  # Brown et al. 2020
    assert all(r["source"].strip() for r in rows.values())


# --- parameters x tokens ------------------------------------------------------------------------------
def test_6nd_exact():
    est = cm.from_params_tokens(1_000_000_000, 20_000_000_000)
    assert est.flops == 120_000_000_000_000_000_000  # 6 * 1e9 * 2e10
    assert est.pfs_days == 1.2e20 / 8.64e19
    assert est.breakdown == {"flops_6nd": 120_000_000_000_000_000_000, "flops_attention": 0}
    assert est.gpu_hours is None and est.accelerator is None
    assert any("6·N·D" in a for a in est.assumptions)


def test_kaplan_attention_term():
    # GPT-2-small shape: n_layer 12, n_ctx 1024, d_model 768; 124,439,808 params; 1e9 tokens
    est = cm.from_params_tokens(124_439_808, 1_000_000_000, layers=12, seq_len=1024, d_model=768)
    attention = 6 * 12 * 1024 * 768 * 1_000_000_000  # 3 x Kaplan's forward 2·n_layer·n_ctx·d_attn, per token
    assert est.breakdown["flops_attention"] == attention == 56_623_104_000_000_000
    assert est.flops == 6 * 124_439_808 * 1_000_000_000 + attention
    assert any("attention term" in a for a in est.assumptions)


def test_kaplan_needs_all_three():
    with pytest.raises(UsageError, match="--layers, --seq-len and --d-model"):
        cm.from_params_tokens(1e9, 1e9, layers=12)


# --- hardware x time and timing on an accelerator -----------------------------------------------------
def test_hardware_time_exact_and_range():
    est = cm.from_hardware("a100", 8, 3600, utilization=0.5)
    assert est.flops == 4_492_800_000_000_000_000  # 8 * 312e12 * 3600 * 0.5
    assert est.gpu_hours == 8 and est.wall_hours == 1
    assert est.accelerator.precision == "bf16"  # the chip's default: dense 16-bit tensor peak
    default = cm.from_hardware("a100", 8, 3600)
    lo, hi = default.range["flops"]
    assert (lo, hi) == (round(8 * 312e12 * 3600 * 0.25), round(8 * 312e12 * 3600 * 0.50))
    assert lo < default.flops < hi
    assert default.accelerator.utilization == cm.DEFAULT_UTILIZATION == 0.33


def test_time_on_accelerator_and_precision_override():
    est = cm.from_params_tokens(1e9, 2e10, gpu="h100", count=4)
    assert est.gpu_hours == pytest.approx(1.2e20 / (989.4e12 * 0.33) / 3600)
    assert est.wall_hours == pytest.approx(est.gpu_hours / 4)
    assert est.range["gpu_hours"] == pytest.approx([1.2e20 / (989.4e12 * 0.5) / 3600, 1.2e20 / (989.4e12 * 0.25) / 3600])
    fp8 = cm.from_params_tokens(1e9, 2e10, gpu="h100", precision="fp8")
    assert fp8.accelerator.peak_flops_per_s == 1978.9e12
    fp32 = cm.from_params_tokens(1e9, 2e10, gpu="K80")
    assert fp32.accelerator.precision == "fp32"  # no tensor cores
    with pytest.raises(UsageError, match="no published fp8 peak"):
        cm.from_params_tokens(1e9, 2e10, gpu="v100", precision="fp8")
    custom = cm.from_params_tokens(1e9, 2e10, gpu="wse-1", peak_tflops=1000)
    assert custom.accelerator.name == "Cerebras-WSE-1" and custom.accelerator.peak_flops_per_s == 1e15


@pytest.mark.parametrize(("name", "expected"), [
    ("a100", "A100-SXM4-80GB"), ("A100-80GB", "A100-SXM4-80GB"), ("nvidia a100", "A100-SXM4-80GB"),
    ("A100 40GB", "A100-SXM4-40GB"), ("H100", "H100-SXM5"), ("h200", "H200-SXM"), ("Tesla V100", "V100-SXM2"),
    ("tpu v3", "TPU-v3"), ("TPUv4", "TPU-v4"), ("ipu", "Graphcore-GC2"), ("L4", "L4"), ("T4", "T4"),
])
def test_gpu_name_matching(name, expected):
    assert find_accelerator(name).name == expected


def test_unknown_gpu_suggests_closest():
    with pytest.raises(UsageError, match="closest: .*H100-SXM5"):
        cm.from_hardware("H1000", 1, 3600)


def test_hardware_table_is_sourced_and_dense():
    rows = read_csv("hardware")
    names = {r["name"] for r in rows}
    for want in ("K80", "P100-SXM2", "V100-SXM2", "V100-PCIe", "T4", "A100-SXM4-40GB", "A100-SXM4-80GB", "H100-SXM5",
                 "H200-SXM", "L4", "TPU-v2", "TPU-v3", "TPU-v4", "Cerebras-WSE-1", "Graphcore-GC2"):
        assert want in names
    assert all(r["source"].strip() for r in rows)
    h100 = find_accelerator("h100")
    assert h100.peak_tflops["bf16"] == 989.4  # dense = 1,978.9 sparse / 2
    assert "V100 datasheet (PCIe column)" in find_accelerator("V100 PCIe").source
    assert not any("UNVERIFIED" in r["source"] + r["notes"] for r in rows)


# --- counting from a profile --------------------------------------------------------------------------
def _profile(fwd, bwd=None, inputs=(InputSpec((4, 3, 32, 32)),), unsupported=()):
    return Profile(model="tiny", format="torch", backend="torch", params=ParamStats(10, 10),
                   memory=MemoryStats(40), flops_forward=fwd, macs_forward=None if fwd is None else fwd // 2, flops_backward=bwd,
                   inputs=inputs, unsupported_ops=unsupported)


def test_from_profile_per_sample_default_backward():
    est = cm.from_profile(_profile(8_000), samples=1_000, epochs=2)
    assert est.flops == 8_000 // 4 * 1_000 * 2 * 3  # forward per sample (batch 4) x samples x epochs x 3
    assert est.inputs["flops_per_sample"] == 2_000
    assert any("/ 4 samples in the profiled input" in a for a in est.assumptions)


def test_from_profile_measured_backward_and_tokens():
    est = cm.from_profile(_profile(8_000, bwd=12_000), samples=1_000, epochs=2)
    assert est.flops == 2_000 * 1_000 * 2 * (1 + 1.5)  # backward measured: 12,000 / 8,000 = 1.5 x forward
    assert any("as measured in the profile" in a for a in est.assumptions)
    lm = _profile(2 * 256 * 1_000, inputs=(InputSpec((2, 128), "int64"),),
                  unsupported=(UnsupportedOp("aten::foo", "blk", 3),))
    est = cm.from_profile(lm, tokens=1_000_000)
    assert est.inputs["flops_per_token"] == 2_000  # forward / (2 x 128 tokens in the profiled input)
    assert est.flops == 2_000 * 1_000_000 * 3
    assert any("lower bound" in a for a in est.assumptions)


def test_from_profile_needs_flops_and_one_size():
    with pytest.raises(UsageError, match="no FLOP count"):
        cm.from_profile(_profile(None), samples=10)
    with pytest.raises(UsageError, match="exactly one of --samples or --tokens"):
        cm.from_profile(_profile(8_000), samples=10, tokens=10)


# --- bad input and the JSON twin ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), None, True])
def test_bad_quantities(bad):
    for call in (lambda: cm.from_params_tokens(bad, 1e9), lambda: cm.from_params_tokens(1e9, bad),
                 lambda: cm.from_flops_per_sample(1e9, samples=bad), lambda: cm.from_flops_per_sample(bad, samples=1),
                 lambda: cm.from_hardware("a100", 1, bad), lambda: cm.from_params_tokens(1e9, 1e9, epochs=bad)):
        with pytest.raises(UsageError):
            call()


def test_bad_count_and_utilization():
    with pytest.raises(UsageError, match="count must be positive"):
        cm.from_hardware("a100", 0, 3600)
    with pytest.raises(UsageError, match="whole number"):
        cm.from_hardware("a100", 1.5, 3600)
    with pytest.raises(UsageError, match="fraction of peak"):
        cm.from_hardware("a100", 1, 3600, utilization=33)
    with pytest.raises(UsageError, match="unknown precision"):
        cm.from_hardware("a100", 1, 3600, precision="fp4")


def test_round_trip_and_schema():
    est = cm.from_params_tokens(7e9, 2e12, gpu="a100", count=64)
    data = est.to_dict()
    assert data["schema"] == "mlcost.compute/1"
    assert {"flops", "pfs_days", "gpu_hours", "range", "method", "assumptions"} <= set(data)
    assert isinstance(data["flops"], int) and data["flops"] == 84_000_000_000_000_000_000_000  # 6 * 7e9 * 2e12
    assert ComputeEstimate.from_dict(data) == est
    with pytest.raises(InputError, match="expected schema"):
        ComputeEstimate.from_dict({"schema": "mlcost.profile/1"})
    with pytest.raises(InputError, match="malformed"):
        ComputeEstimate.from_dict({**data, "flops": "many"})


def test_trend_placement():
    # between VGG (0.098) and Seq2Seq? No: sorted by pfs-days Seq2Seq 0.085 < VGG 0.098 < ResNets 0.117
    t = cm.trend_position(0.09)
    assert (t["below"], t["above"]) == ("Seq2Seq", "VGG")
    assert t["x_alexnet"] == pytest.approx(0.09 / 0.0054)
    assert t["text"] == "between Seq2Seq and VGG; 17x AlexNet"
    assert cm.trend_position(1000)["text"].startswith("between Neural Machine Translation and AlphaGo Zero")
    assert cm.trend_position(1e26)["text"].startswith("above Llama 3.1 405B")
    t = cm.trend_position(3.8e25 / 8.64e19)["trends"]  # Llama 3.1 405B on both trends
    # 2012-2018: log2(pfs) = a + (12 / 3.4) * year; kept up, that pace would have reached 405B's compute in 2021
    assert t["2012-2018"]["doubling_months"] == 3.4 and 2020.5 < t["2012-2018"]["reached_year"] < 2021.5
    assert 2025 < t["since 2019"]["reached_year"] < 2026.5  # the 8.5-month fit runs a year below its 2024.5 point
    assert cm.trend_position(1e-6)["text"].startswith("below DQN")


def test_a_run_below_a_trends_first_result_is_not_given_a_year_before_the_trend(cli):
    """A tiny run (6 * 1e6 * 1e6 = 6e12 FLOPs = 6.94e-8 pfs-days) printed 'since 2019 (8.5-month doubling):
    1995.6': the since-2019 line run backwards.  Below a trend's first result it is 'already below' it."""
    r = cli("compute", "--params", "1M", "--tokens", "1M", env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.stderr
    [row] = [line for line in r.stdout.splitlines() if line.startswith("trend reaches it")]
    assert row == ("trend reaches it  2012-2018 (3.4-month doubling): already below the trend at its first run "
                   "(2012); since 2019 (8.5-month doubling): already below the trend at its first run (2020)")
    t = cli("compute", "--params", "1M", "--tokens", "1M", "-f", "json").json()["trend"]["trends"]
    assert [(v["before_start"], int(v["start_year"])) for v in t.values()] == [(True, 2012), (True, 2020)]
    assert t["since 2019"]["reached_year"] < 2019  # the number is still there, flagged
    big = cm.trend_position(3.8e25 / 8.64e19)["trends"]  # Llama 3.1 405B: above both trends' first results
    assert not big["2012-2018"]["before_start"] and not big["since 2019"]["before_start"]


def test_seq2seq_counting_example_is_loose_in_the_post():
    # (348M+304M) words x 0.380 GF x 2 x 3 x 7.5 epochs = 1.115e19 FLOPs = 0.129 pfs-days; the post prints
    # 7,300 PF = 0.085.  Its inputs give 1.53x its result: inside its factor-of-2-3 aim, not its rounding
    # (the GPU-time estimate, 0.093, reproduces within 1%).
    est = cm.from_flops_per_sample(2 * 0.380e9, samples=348e6 + 304e6, epochs=7.5)
    assert est.flops == 11_149_200_000_000_000_000  # 2 * 0.38e9 * 652e6 * 7.5 * 3
    assert est.pfs_days == pytest.approx(0.129, rel=0.01)
    assert est.pfs_days / 0.085 == pytest.approx(1.52, rel=0.01)


def test_profile_backward_missing_an_operator_is_not_trusted():
    """A measured backward with an uncounted backward op (conv nets: convolution_backward) is a lower bound that
    can be ~1% of forward; the 2 x forward convention is used and the measured figure stated."""
    missed = (UnsupportedOp("aten::convolution_backward (backward)", "features.0.0", 1),)
    est = cm.from_profile(_profile(8_000, bwd=100, unsupported=missed), samples=1_000)
    assert est.flops == 2_000 * 1_000 * 3  # not 2,000 x 1,000 x (1 + 100/8,000)
    assert est.inputs["backward_ratio"] == 2
    assert any("misses aten::convolution_backward, so it is not used" in a for a in est.assumptions)
    assert not any("lower bound" in a for a in est.assumptions)  # the forward count itself is complete
    both = missed + (UnsupportedOp("aten::foo", "blk", 1),)
    est = cm.from_profile(_profile(8_000, bwd=100, unsupported=both), samples=1_000)
    assert any("did not count 1 operator kind(s): aten::foo; FLOPs are a lower bound" in a for a in est.assumptions)
