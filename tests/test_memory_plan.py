"""Serving and planning memory: weights per dtype, largest layer, KV cache at --kv-tokens, per-GPU
training memory under ZeRO/FSDP sharding (against the ZeRO paper's and DeepSpeed's formulas), and
memory.fits on a chip."""
from __future__ import annotations

import pytest

from mlcost.costs import sharding
from mlcost.errors import UsageError

torch = pytest.importorskip("torch")


def test_zero_paper_formulas_figure1():
    """Rajbhandari et al. 2020, Figure 1: Ψ = 7.5B, N_d = 64, K = 12 -> 120 GB, 31.4 GB, 16.6 GB, 1.88 GB."""
    psi, n = 7_500_000_000, 64
    assert sharding.zero_model_states_bytes(psi, n, "none") == 16 * psi  # 120 GB
    assert sharding.zero_model_states_bytes(psi, n, "zero1") == 4 * psi + 12 * psi // n  # 31.4 GB
    assert round(sharding.zero_model_states_bytes(psi, n, "zero1") / 1e9, 1) == 31.4
    assert round(sharding.zero_model_states_bytes(psi, n, "zero2") / 1e9, 1) == 16.6
    assert round(sharding.zero_model_states_bytes(psi, n, "zero3") / 1e9, 2) == 1.88
    with pytest.raises(UsageError):
        sharding.zero_model_states_bytes(psi, 0, "zero1")


def test_deepspeed_estimators_where_they_overlap():
    """DeepSpeed's no-offload estimators, reproduced from stage_1_and_2.py / stage3.py:
    zero2 4Ψ + 16Ψ/N, zero3 4·largest_layer + 18Ψ/N.  They agree with the paper's P_os+g / P_os+g+p except
    for what DeepSpeed adds: an fp32 gradient partition (4Ψ/N in its 16, 2Ψ/N more in its 18 than the
    paper's 16) and, for ZeRO-2, full-size 2-byte gradient buckets (2Ψ); the gathered layer is the same."""
    psi, layer, n = 6_738_415_616, 131_072_000, 8  # Llama-2-7B; its embedding is the largest layer
    ds = sharding.deepspeed_estimates(psi, layer, n)
    assert ds["zero2"] - sharding.zero_model_states_bytes(psi, n, "zero2") == 2 * psi + 2 * psi // n
    assert ds["zero3"] - sharding.zero_model_states_bytes(psi, n, "zero3") == 4 * layer + 2 * psi // n


def test_per_gpu_training_partitions_measured_states():
    # a step: persistent weights 200 + master 400 + states 800; backward peak 1000 (activations + grads 200);
    # at the optimizer's start 300 alive (grads 200 + output 100), its own transient 600 on top
    bd = {"weights_bytes": 200, "gradients_bytes": 200, "master_weights_bytes": 400, "optimizer_states_bytes": 800,
          "backward_peak_bytes": 1000, "optimizer_start_bytes": 300, "optimizer_transient_bytes": 600,
          "step_peak_bytes": 1000, "peak_phase": "backward"}
    peak = 1400 + 1000
    assert sharding.per_gpu_training(bd, peak, 4, "none", 50)[0] == peak
    # zero1: master and states / 4 -> 1400 - 900 = 500 persistent; backward 500 + 1000; optimizer 500 + 300 + 600/4
    assert sharding.per_gpu_training(bd, peak, 4, "zero1", 50)[0] == 500 + 1000
    # zero2: + gradients / 4 (150 off): backward 500 + 1000 - 150
    assert sharding.per_gpu_training(bd, peak, 4, "zero2", 50)[0] == 500 + 1000 - 150
    z3 = sharding.per_gpu_training(bd, peak, 4, "zero3", 50)
    # zero3: + weights / 4 (150 off): persistent 350; backward 350 + 1000 - 150, + the gathered layer 2 x 50
    assert z3[0] == 350 + 1000 - 150 + 2 * 50 and z3[1]["gathered_layer_bytes"] == 100
    assert sharding.per_gpu_training(bd, peak, 4, "fsdp", 50)[0] == z3[0]
    big = dict(bd, optimizer_transient_bytes=4000, step_peak_bytes=4300, peak_phase="optimizer")
    # an optimizer peak: unsharded 1400 + 300 + 4000; zero1 steps a quarter of it: 500 + 300 + 1000
    assert sharding.per_gpu_training(big, 1400 + 4300, 4, "none", 50)[0] == 1400 + 4300
    assert sharding.per_gpu_training(big, 1400 + 4300, 4, "zero1", 50)[0] == 500 + 300 + 1000


def _llama_folder(tmp_path):
    import json

    cfg = dict(model_type="llama", vocab_size=96, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
               num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256, architectures=["LlamaForCausalLM"],
               torch_dtype="bfloat16")
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_hf_kv_cache_weights_table_largest_layer_and_fits(tmp_path):
    import mlcost

    pytest.importorskip("transformers")
    prof = mlcost.profile(str(_llama_folder(tmp_path)), seq_len=32, batch_size=2, kv_tokens=1000, chip="A100-80GB")
    m = prof.memory
    kv = prof.details["kv_cache"]
    assert kv["bytes_per_token"] == 2 * 2 * 2 * 8 * 2  # K and V x layers x kv_heads x head_dim (64/8) x bf16
    assert m.kv_cache_bytes == 2 * 2 * 2 * 8 * 1000 * 2 * 2  # x 1000 tokens x batch 2
    n = prof.params.total
    assert m.weights_by_dtype == {"fp32": 4 * n, "bf16": 2 * n, "int8": n, "int4": n // 2}
    # the MLP projections (64 x 160) hold more than the embedding (96 x 64); the first of them is named
    assert m.largest_layer == {"name": "model.layers.0.mlp.gate_proj", "type": "Linear", "params": 64 * 160,
                               "bytes": 64 * 160 * 2}
    assert prof.details["attn_implementation"] == "sdpa"
    f = m.fits
    assert f["capacity_bytes"] == 80 * 2**30 and f["fits"] is True
    assert f["needed_bytes"] == m.weights_bytes + m.activations_peak_bytes + m.kv_cache_bytes
    assert f["headroom_bytes"] == f["capacity_bytes"] - f["needed_bytes"]


def test_hf_sdpa_activations_below_eager(tmp_path):
    """SDPA (what transformers builds) never stores the batch x heads x S x S scores; eager does."""
    import mlcost

    pytest.importorskip("transformers")
    folder = _llama_folder(tmp_path)
    sdpa = mlcost.profile(str(folder), seq_len=128, batch_size=2)
    eager = mlcost.profile(str(folder), seq_len=128, batch_size=2, attn="eager")
    assert sdpa.flops_forward is not None and eager.details["attn_implementation"] == "eager"
    scores = 2 * 8 * 128 * 128 * 4  # one layer's fp32 softmax (batch x heads x S x S)
    assert eager.memory.activations_peak_bytes - sdpa.memory.activations_peak_bytes >= scores


def test_options_that_do_not_apply_are_errors(tmp_path):
    import mlcost

    from mlcost.errors import UsageError as UE

    net = torch.nn.Linear(4, 3)
    with pytest.raises(UE, match="--kv-tokens"):
        mlcost.profile(net, torch.zeros(2, 4), kv_tokens=10)
    with pytest.raises(UE, match="--training"):
        mlcost.profile(net, torch.zeros(2, 4), gpus=8, shard="zero3")
    with pytest.raises(UE, match="--attn"):
        mlcost.profile(net, torch.zeros(2, 4), attn="sdpa")
    with pytest.raises(UE):
        mlcost.profile(net, torch.zeros(2, 4), shard="zero4")


def test_training_per_gpu_and_fits_on_a_module():
    import mlcost

    with torch.device("meta"):
        net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 64))
    x = torch.empty(8, 64, device="meta")
    one = mlcost.profile(net, x, training=True).memory
    p = mlcost.profile(net, x, training=True, gpus=4, shard="zero3", chip="A100-80GB")
    m, t = p.memory, p.memory.training
    params = 64 * 256 + 256 + 256 * 64 + 64
    assert t["weights_bytes"] == t["gradients_bytes"] == 4 * params and t["optimizer_states_bytes"] == 8 * params + 4 * 4
    assert m.training_peak_bytes == one.training_peak_bytes  # the step itself does not change
    gathered = 2 * (64 * 256 + 256) * 4  # the largest layer (fc1; fc2 is as large, the first wins), fp32
    assert m.sharding["gathered_layer_bytes"] == gathered
    assert m.per_gpu_training_peak_bytes == max(m.sharding["backward_peak_bytes"], m.sharding["optimizer_peak_bytes"])
    assert m.per_gpu_training_peak_bytes < m.training_peak_bytes
    assert m.fits["needed_bytes"] == m.per_gpu_training_peak_bytes and m.fits["fits"] is True
