"""Bytes per operator call (counting.bytes) and the roofline on a chip (costs.roofline), from the test
models' own dimensions."""
from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mlcost.counting import count_module  # noqa: E402
from mlcost.costs import roofline  # noqa: E402
from mlcost.refdata import Accelerator  # noqa: E402


def _calls(model, *args, **kw):
    p = count_module(model, args, backend="torch", **kw)
    return p, [c for c in p.calls if c.flops or c.bytes]


def _mac_call(calls):
    (c,) = [c for c in calls if c.macs]
    return c


def test_linear_bytes_are_input_weight_bias_and_output():
    with torch.device("meta"):
        model, x = nn.Linear(64, 32), torch.empty(8, 64)
    _, calls = _calls(model, x)
    c = _mac_call(calls)
    assert c.macs == 8 * 64 * 32
    assert c.bytes_read == 4 * (8 * 64 + 32 * 64 + 32)  # x, W (its transpose is a view: same storage), bias
    assert c.bytes_written == 4 * 8 * 32
    assert c.bytes == 11392
    assert roofline.intensity(c.flops, c.bytes) == pytest.approx(2 * 8 * 64 * 32 / 11392)  # 2.876 FLOP/B


def test_conv_bytes():
    with torch.device("meta"):
        model, x = nn.Conv2d(3, 8, 3), torch.empty(1, 3, 16, 16)
    _, calls = _calls(model, x)
    c = _mac_call(calls)
    assert c.macs == 8 * 14 * 14 * 3 * 3 * 3
    assert c.bytes_read == 4 * (3 * 16 * 16 + 8 * 3 * 3 * 3 + 8)  # input, weight, bias
    assert c.bytes_written == 4 * 8 * 14 * 14
    assert c.flops / c.bytes == pytest.approx(2 * 42336 / (4 * (768 + 216 + 8 + 1568)))


def test_elementwise_reads_and_writes_its_tensor_and_views_move_nothing():
    class M(nn.Module):
        def forward(self, x):
            return torch.relu(x).view(400).reshape(20, 20).t()

    _, calls = _calls(M(), torch.empty(4, 100, device="meta"))
    assert [(c.op, c.bytes_read, c.bytes_written, c.flops) for c in calls] == [("aten::relu", 1600, 1600, 400)]


def test_bf16_bytes_at_their_dtype():
    with torch.device("meta"):
        model, x = nn.Linear(64, 32, bias=False).to(torch.bfloat16), torch.empty(8, 64, dtype=torch.bfloat16)
    _, calls = _calls(model, x)
    c = _mac_call(calls)
    assert (c.bytes_read, c.bytes_written, c.dtype) == (2 * (8 * 64 + 32 * 64), 2 * 8 * 32, "bfloat16")


def test_sdpa_moves_q_k_v_and_output_not_scores():
    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=k.shape[1] != q.shape[1])

    q = torch.empty(2, 4, 16, 8, device="meta")
    kv = torch.empty(2, 2, 16, 8, device="meta")  # grouped-query: 2 k/v heads for 4 query heads
    _, calls = _calls(Attn(), q, kv, kv)
    (c,) = [c for c in calls if c.op == "aten::scaled_dot_product_attention"]
    assert c.bytes_read == 4 * (2 * 4 * 16 * 8 + 2 * (2 * 2 * 16 * 8))  # Q + K + V at their own heads
    assert c.bytes_written == 4 * 2 * 4 * 16 * 8  # the output; the 2*4*16*16 scores never leave the chip
    assert c.macs == 2 * 4 * 16 * 16 * (8 + 8)


def test_embedding_reads_only_looked_up_rows():
    with torch.device("meta"):
        model = nn.Embedding(1000, 16)
    ids = torch.zeros(2, 5, dtype=torch.long, device="meta")
    _, calls = _calls(model, ids)
    (c,) = [c for c in calls if c.op == "aten::embedding"]
    assert c.bytes_read == 8 * 2 * 5 + 4 * 2 * 5 * 16  # int64 indices + 10 rows of 16 floats (not 1000 rows)
    assert c.bytes_written == 4 * 2 * 5 * 16


def test_copies_move_bytes_and_operator_rows_carry_them():
    class M(nn.Module):
        def forward(self, x):
            return torch.cat([x, x], 0).transpose(0, 1).contiguous()

    p, calls = _calls(M(), torch.empty(3, 5, device="meta"))
    assert [(c.op, c.bytes_read, c.bytes_written) for c in calls] == [
        ("aten::cat", 2 * 60, 120), ("aten::clone", 120, 120)]  # contiguous() of a transpose is a clone
    assert p.flops_forward == 0


# --- the roofline ---

def _chip(tflops=1.0, gb_s=100.0):
    """A made-up chip: 1 TFLOP/s fp32 and 100 GB/s, so its ridge point is 10 FLOP/B."""
    return Accelerator(name="TestChip", aliases=(), vendor="", year=None, peak_tflops={"fp32": tflops},
                       default_precision="fp32", bandwidth_gb_s=gb_s, source="test")


class TwoLayers(nn.Module):
    """A skinny linear (2.9 FLOP/B: memory-bound) then a square 256 matmul (42.7 FLOP/B: compute-bound)."""

    def __init__(self):
        super().__init__()
        self.skinny = nn.Linear(64, 32)
        self.square = nn.Linear(256, 256)

    def forward(self, x, y):
        return self.skinny(x), self.square(y)


def _two_layers():
    with torch.device("meta"):
        model = TwoLayers()
        x, y = torch.empty(8, 64), torch.empty(256, 256)
    return count_module(model, (x, y), backend="torch")


def test_bound_on_both_sides_of_the_ridge_and_totals_sum_rows():
    roof = roofline.analyse(_two_layers().calls, _chip())
    rows = {r["module"]: r for r in roof["calls"]}
    skinny, square = rows["skinny"], rows["square"]
    assert skinny["bound"] == "memory" and skinny["intensity"] < 10
    assert skinny["seconds_floor"] == pytest.approx(11392 / 100e9)  # bytes / bandwidth
    assert square["bound"] == "compute" and square["intensity"] > 10
    assert square["bytes"] == 4 * (3 * 256 * 256 + 256)  # x, W, bias, out
    assert square["seconds_floor"] == pytest.approx(2 * 256 ** 3 / 1e12)  # FLOPs / peak
    assert roof["chip"]["ridge_flops_per_byte"] == pytest.approx(10.0)
    total = sum(r["seconds_floor"] for r in roof["calls"])
    assert roof["seconds_floor"] == pytest.approx(total)
    assert sum(o["seconds_floor"] for o in roof["by_operator"]) == pytest.approx(total)
    assert {m["module"]: m["seconds_floor"] for m in roof["by_module"]}[""] == pytest.approx(total)
    assert roof["bytes"] == sum(r["bytes"] for r in roof["calls"]) == 11392 + 787456
    assert roof["compute_bound_share"] == pytest.approx(square["seconds_floor"] / total)
    assert roof["dominant"][0]["module"] == "square"


def test_group_bound_is_the_one_holding_most_time():
    p = _two_layers()
    roof = roofline.analyse(p.calls, _chip())
    (row,) = [o for o in roof["by_operator"] if o["flops"]]  # both linears: one operator (addmm, or linear whole)
    calls = [r for r in roof["calls"] if r["op"] == row["op"]]
    assert row["calls"] == 2 and sorted(r["bound"] for r in calls) == ["compute", "memory"]
    assert row["bound"] == "compute"  # the square one holds most of the row's time
    assert row["seconds_floor"] == pytest.approx(sum(r["seconds_floor"] for r in calls))
    assert row["bytes"] == 11392 + 787456
    # a memory-bound chip (huge peak, tiny bandwidth) flips both
    slow = roofline.analyse(p.calls, _chip(tflops=1e6, gb_s=1.0))
    assert slow["memory_bound_share"] == pytest.approx(1.0)


def test_roofline_on_a_profile_via_options_and_json_round_trip():
    import mlcost
    from mlcost.results import Profile

    with torch.device("meta"):
        model, x = nn.Linear(64, 32), torch.empty(8, 64)
    p = mlcost.profile(model, x, backend="torch", chip="h100")
    roof = p.to_dict()["roofline"]
    assert roof["chip"]["name"] == "H100-SXM5"
    assert roof["chip"]["bandwidth_bytes_per_s"] == 3350e9
    assert roof["bytes"] == 11392 and roof["flops"] == 2 * 8 * 64 * 32
    assert roof["seconds_floor"] == pytest.approx(11392 / 3350e9)  # far below H100's ridge: memory-bound
    back = Profile.from_dict(p.to_dict())
    assert back.roofline == roof
    calls = roofline.calls_from_json(roof["calls"])
    assert roofline.analyse(calls, "a100")["seconds_floor"] == pytest.approx(11392 / 2039e9)


def test_training_step_floor_has_forward_and_backward():
    with torch.device("meta"):
        model, x = nn.Linear(64, 32), torch.empty(8, 64)
    p = count_module(model, (x,), backend="torch", training=True)
    roof = roofline.analyse(p.calls, _chip())
    assert set(roof["phases"]) == {"forward", "backward"}
    assert roof["seconds_floor"] == pytest.approx(roof["phases"]["forward"]["seconds_floor"]
                                                  + roof["phases"]["backward"]["seconds_floor"])
    assert any(o["op"].endswith("(backward)") for o in roof["by_operator"])
    assert math.isclose(sum(o["seconds_floor"] for o in roof["by_operator"]), roof["seconds_floor"])


# --- ONNX: the same byte rules per node ---

def test_onnx_bytes_agree_with_the_module(tmp_path):
    pytest.importorskip("onnx")
    from tests.models import tiny
    from tests.test_onnx import export

    from mlcost.formats import ProfileOptions
    from mlcost.formats.onnx import profile_file

    m, args = tiny.build()
    p = profile_file(export(m, args, tmp_path / "lin.onnx"), ProfileOptions())
    gemm = [c for c in p.calls if c.op == "Gemm"]
    assert [(c.bytes_read, c.bytes_written) for c in gemm] == [
        (4 * (2 * 8 + 16 * 8 + 16), 4 * 2 * 16),  # x (2, 8), W (16, 8), b (16) -> (2, 16)
        (4 * (2 * 16 + 4 * 16 + 4), 4 * 2 * 4)]
    (relu,) = [c for c in p.calls if c.op == "Relu"]
    assert (relu.bytes_read, relu.bytes_written) == (4 * 2 * 16, 4 * 2 * 16)
    assert {r.op: r.bytes for r in p.by_operator} == {"Gemm": 4 * (160 + 32 + 100 + 8), "Relu": 256}
    torch_p = count_module(m.eval(), tuple(args), backend="torch")
    assert sum(c.bytes for c in torch_p.calls) == sum(c.bytes for c in p.calls)  # both backends: 1456 bytes
    roof = roofline.with_roofline(p, "a100").roofline  # the ONNX graph on a chip: every node memory-bound
    assert roof["bytes"] == 1456 and roof["seconds_floor"] == pytest.approx(1456 / 2039e9)
    assert {m["module"] for m in roof["by_module"]} >= {"", "layers.0", "layers.1"}


# --- mlcost profile --chip ---

def test_cli_profile_chip_json_table_and_errors(tmp_path):
    from tests._cli import run_cli

    r = run_cli("profile", "tests/models/tiny.py:build", "--backend", "torch", "--chip", "a100", "--format", "json")
    assert r.exit_code == 0, r.stderr
    roof = r.json()["roofline"]
    # Linear(8,16) on (2,8): 4*(16+128+16)+4*32 = 768 B; ReLU 2*128 = 256 B; Linear(16,4): 4*(32+64+4)+4*8 = 432 B
    assert roof["bytes"] == 768 + 256 + 432
    assert roof["chip"]["name"] == "A100-SXM4-80GB"
    assert roof["seconds_floor"] == pytest.approx((768 + 256 + 432) / 2039e9)  # every call is memory-bound
    assert roof["memory_bound_share"] == 1.0
    mods = {m["module"]: m["bytes"] for m in roof["by_module"]}
    assert mods == {"": 1456, "layers": 768 + 432, "layers.0": 768, "layers.1": 432, "act": 256}
    table = run_cli("profile", "tests/models/tiny.py:build", "--backend", "torch", "--chip", "a100")
    assert table.exit_code == 0 and "roofline on A100-SXM4-80GB, per module" in table.stdout
    assert "time floor" in table.stdout
    bad = run_cli("profile", "tests/models/tiny.py:build", "--chip", "a1000000")
    assert bad.exit_code == 2 and "unknown accelerator" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    noplot = run_cli("profile", "tests/models/tiny.py:build", "--plot", str(tmp_path / "r.png"))
    assert noplot.exit_code == 2 and "--chip" in noplot.stderr


def test_cli_profile_roofline_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from tests._cli import run_cli

    out = tmp_path / "roofline.png"
    r = run_cli("profile", "tests/models/tiny.py:build", "--chip", "h100", "--plot", str(out), "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compute_prints_the_training_floor_beside_the_utilization_estimate(tmp_path):
    from tests._cli import run_cli

    prof = tmp_path / "tiny.json"
    r = run_cli("profile", "tests/models/tiny.py:build", "--training", "--chip", "a100", "--format", "json",
                "--output", prof)
    assert r.exit_code == 0, r.stderr
    step_bytes = json.loads(prof.read_text())["roofline"]["bytes"]
    c = run_cli("compute", "--profile", prof, "--samples", "1000000", "--chip", "h100", "--format", "json")
    assert c.exit_code == 0, c.stderr
    d = c.json()
    floor = d["roofline_floor"]
    # every call of the tiny step is memory-bound on H100, so the step floor is its bytes / 3350 GB/s
    assert floor["step_seconds_floor"] == pytest.approx(step_bytes / 3350e9)
    assert floor["steps"] == 1_000_000 / 2  # the profile's batch is 2 samples
    assert floor["gpu_hours_floor"] == pytest.approx(step_bytes / 3350e9 * 500_000 / 3600)
    assert d["gpu_hours"] is not None and d["accelerator"]["utilization"] == 0.33  # the estimate is unchanged
    assert any("which this model cannot reach on this chip" in a for a in d["assumptions"])
    table = run_cli("compute", "--profile", prof, "--samples", "1000000", "--gpu", "h100")
    assert "roofline floor" in table.stdout and "GPU-hours" in table.stdout


# --- --energy-model horowitz ---

def test_horowitz_energy_split_by_hand():
    from mlcost.costs import horowitz

    with torch.device("meta"):
        model, x = nn.Linear(64, 32), torch.empty(8, 64)
    est = horowitz.estimate(count_module(model, (x,), backend="torch").calls)
    # 16,384 fp32 MACs x (3.7 pJ mult + 0.9 pJ add) (Horowitz 2014 Fig. 1.1.9)
    assert est["arithmetic_j"] == pytest.approx(8 * 64 * 32 * 4.6e-12)
    # 11,392 bytes x 100 pJ / 8 B (1 MB cache) and x (1.3 + 2.6) / 2 nJ / 8 B (DRAM)
    assert est["sram_j"] == pytest.approx(11392 * 12.5e-12)
    assert est["dram_j"] == pytest.approx(11392 * 243.75e-12)
    assert est["total_range_j"] == pytest.approx([est["arithmetic_j"] + est["sram_j"] + 11392 * 162.5e-12,
                                                  est["arithmetic_j"] + est["sram_j"] + 11392 * 325e-12])
    assert est["data_movement_share"] == pytest.approx(1 - est["arithmetic_share"]) and est["data_movement_share"] > 0.9


def test_cli_energy_model_and_bf16_note(tmp_path):
    from tests._cli import run_cli

    r = run_cli("profile", "tests/models/tiny.py:build", "--energy-model", "horowitz", "--format", "json")
    assert r.exit_code == 0, r.stderr
    em = r.json()["energy_model"]
    # tiny: 384 MACs x 4.6 pJ + 32 ReLU FLOPs x 0.9 pJ; 1,456 bytes
    assert em["arithmetic_j"] == pytest.approx((384 * 4.6 + 32 * 0.9) * 1e-12)
    assert em["bytes"] == 1456
    bad = run_cli("profile", "tests/models/tiny.py:build", "--energy-model", "sze")
    assert bad.exit_code == 2 and "horowitz" in bad.stderr
    from mlcost.costs import horowitz

    with torch.device("meta"):
        m, x = nn.Linear(4, 4, bias=False).to(torch.bfloat16), torch.empty(2, 4, dtype=torch.bfloat16)
    est = horowitz.estimate(count_module(m, (x,), backend="torch").calls)
    assert est["arithmetic_j"] == pytest.approx(2 * 4 * 4 * 1.5e-12)  # FP16 figures: 1.1 + 0.4 pJ per MAC
    assert est["notes"] == ["bfloat16 arithmetic at the FP16 figures (the table gives no bfloat16)"]


def test_in_place_op_reads_and_writes_its_tensor():
    class M(nn.Module):
        def forward(self, x, y):
            x = x * 2  # a tensor of the forward's own, so the in-place add may write it
            return x.add_(y)

    _, calls = _calls(M(), torch.empty(4, 100, device="meta"), torch.empty(100, device="meta"))
    # mul: reads x (1600 B), writes 1600 B; add_: reads x and the broadcast y (400 B), writes x again
    assert [(c.op, c.bytes_read, c.bytes_written) for c in calls] == [
        ("aten::mul", 1600, 1600), ("aten::add", 1600 + 400, 1600)]


def test_module_table_folds_identical_blocks_in_execution_order():
    from mlcost.render.roofline import module_rows

    def row(name, flops, nbytes):
        return {"module": name, "depth": name.count(".") + 1 if name else 0, "flops": flops, "bytes": nbytes,
                "intensity": flops / nbytes, "seconds_floor": 1e-6, "share": 0.1, "bound": "memory"}

    mods = [row("", 100, 10), row("emb", 0.5, 1), row("layers", 90, 9)]
    for i in range(3):
        mods += [row(f"layers.{i}", 30, 3), row(f"layers.{i}.attn", 20, 2)]
    mods.append(row("head", 9.5, 1))
    labels = [r[0].strip() for r in module_rows({"by_module": mods}, depth=3)]
    assert labels == ["(root)", "emb", "layers", ".0–2 ×3", ".attn", "head"]


def test_training_profile_table_shows_the_step_floor():
    from tests._cli import run_cli

    r = run_cli("profile", "tests/models/tiny.py:build", "--training", "--chip", "h100")
    assert r.exit_code == 0, r.stderr
    assert "step floor" in r.stdout and "forward" in r.stdout and "backward" in r.stdout
