"""mlcost infer: prefill and decode floors of a Llama-shaped decoder, by hand from its dimensions."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from tests._cli import run_cli  # noqa: E402

# Llama-shaped: hidden 256, 2 layers, 4 heads of 64, 2 KV heads, SwiGLU 512, vocab 1000, untied head, float32
LLAMA = dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=1000, hidden_size=256,
             intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=2048, tie_word_embeddings=False, dtype="float32")
H100_BW = 3350e9  # bytes/s, reference_data/hardware.csv
# weights read per decode step: per layer q 256x256, k and v 256x128, o 256x256, gate/up/down 3 x 256x512;
# the LM head 1000x256; 5 RMSNorm weights of 256 (the embedding reads one row per token, not its table)
WEIGHT_BYTES = 4 * (2 * (65536 + 2 * 32768 + 65536 + 3 * 131072) + 256_000 + 5 * 256)  # 5,747,712
KV_BYTES_PER_TOKEN = 2 * 2 * 2 * 64 * 4  # K and V x 2 layers x 2 KV heads x head_dim 64 x 4 bytes = 2048


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("llama")
    (folder / "config.json").write_text(json.dumps(LLAMA))
    return folder


def test_llama_kv_cache_and_decode_floor_by_hand(llama):
    import mlcost

    est = mlcost.infer(llama, chip="h100", prompt_tokens=512, new_tokens=64)
    assert est.kv_cache_bytes == KV_BYTES_PER_TOKEN * (512 + 64) == 1_179_648
    # decode step k reads the cache of 512 + k tokens plus its own K, V: mean over k = 0..63 of 513 + k = 544.5
    kv_mean = KV_BYTES_PER_TOKEN * 544.5
    floor = est.decode["seconds_per_token_floor"]
    hand = (WEIGHT_BYTES + kv_mean) / H100_BW  # memory-bound: intensity ~0.6 FLOP/B, far below H100's ridge
    assert est.decode["bound"] == "memory"
    # the rest is activations: vectors of 256..1000 floats per op (~150 kB of 7 MB): 2.2% above the weights + cache
    assert hand <= floor <= 1.03 * hand
    assert est.decode["bytes_per_step"] == pytest.approx(WEIGHT_BYTES + kv_mean, rel=0.03)
    last = {o["op"]: o for o in est.decode["by_operator"]}["aten::scaled_dot_product_attention"]
    # the last step: 2 layers' K and V at 576 tokens, plus Q and the output (4 heads x 64 floats each)
    assert last["bytes"] == KV_BYTES_PER_TOKEN * 576 + 2 * 2 * 4 * 64 * 4
    assert est.tokens_per_second == pytest.approx(1 / floor)
    assert est.time_to_first_token_s == est.prefill["seconds_floor"]
    assert est.request_seconds == pytest.approx(est.prefill["seconds_floor"] + 64 * floor)
    d = est.to_dict()
    assert d["schema"] == "mlcost.infer/1" and d["fits"] is True
    assert d["prefill"]["seconds_floor"] > 0 and d["decode"]["seconds_per_token_floor"] == floor
    assert d["memory"]["peak_bytes"] == d["memory"]["weights_bytes"] + d["kv_cache_bytes"] + d["memory"]["activations_peak_bytes"]
    # hardware.csv's 80 (GB) read as GiB, the one reading profile's memory.fits uses too
    assert d["memory"]["chip_memory_bytes"] == 80 * 2**30 == 85_899_345_920
    per_m = d["seconds_per_million_tokens"]
    assert per_m == pytest.approx(est.request_seconds / 64 * 1e6)
    assert d["energy_kwh_per_million_tokens"] > 0 and d["co2e_g_per_million_tokens"] > 0


def test_cli_infer_factory_and_price(tmp_path):
    r = run_cli("infer", "tests/models/llama.py:build_small", "--chip", "a100", "--batch", "2", "--prompt-tokens", "32",
                "--new-tokens", "8", "--price-per-hour", "2", "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    # factory: the cache comes from its 2 attention calls: K and V x 2 KV heads x head_dim 16 x 4 bytes per token
    assert d["kv_cache_bytes"] == 2 * 2 * 2 * 16 * 4 * (32 + 8) * 2  # x 40 tokens x batch 2
    assert d["cost_usd_per_million_tokens"] == pytest.approx(2 * d["seconds_per_million_tokens"] / 3600)
    assert d["tokens_per_second"] == pytest.approx(2 / d["decode"]["seconds_per_token_floor"])
    table = run_cli("infer", "tests/models/llama.py:build_small", "--chip", "a100", "--prompt-tokens", "32",
                    "--new-tokens", "8")
    assert table.exit_code == 0 and "time to 1st token" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_cli_infer_lists_unsupported_ops_and_strict_refuses_them():
    # SpectralMix: torch.fft.rfft then irfft over the model dim, one call each per forward, no FLOP formula
    spectral = "tests/models/llama.py:build_small_spectral"
    size = ["--chip", "a100", "--prompt-tokens", "32", "--new-tokens", "8"]
    r = run_cli("infer", spectral, *size, "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = [{"op": "aten::_fft_c2r", "module": "spectral", "count": 1},
            {"op": "aten::_fft_r2c", "module": "spectral", "count": 1}]
    assert r.json()["unsupported_ops"] == {"prefill": rows, "decode": rows}
    plain = run_cli("infer", "tests/models/llama.py:build_small", *size, "--format", "json").json()
    assert plain["unsupported_ops"] == {"prefill": [], "decode": []}
    table = run_cli("infer", spectral, *size).stdout
    assert "unsupported ops    aten::_fft_c2r x1 in spectral, aten::_fft_r2c x1 in spectral" in table
    assert max(len(line) for line in table.splitlines()) <= 80
    md = run_cli("infer", spectral, *size, "--format", "markdown").stdout
    assert "| **unsupported ops** | aten::_fft_c2r x1 in spectral, aten::_fft_r2c x1 in spectral (not counted;" in md
    strict = run_cli("infer", spectral, *size, "--strict")
    assert strict.exit_code == 2 and len(strict.stderr.strip().splitlines()) == 1
    assert strict.stderr.strip() == ("mlcost: error: operators with no FLOP formula (--strict): "
                                     "aten::_fft_c2r x1 in spectral, aten::_fft_r2c x1 in spectral")
    assert run_cli("infer", "tests/models/llama.py:build_small", *size, "--strict").exit_code == 0


@pytest.mark.parametrize("args, needle", [
    (["--chip", "nochip", "--prompt-tokens", "8", "--new-tokens", "2"], "unknown accelerator"),
    (["--chip", "h100", "--prompt-tokens", "0", "--new-tokens", "2"], "--prompt-tokens"),
    (["--chip", "h100", "--prompt-tokens", "8", "--new-tokens", "2", "--price-per-hour", "-1"], "--price-per-hour"),
])
def test_cli_infer_bad_input_is_one_line(args, needle):
    r = run_cli("infer", "tests/models/llama.py:build_small", *args)
    assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--batch", "--prompt-tokens", "--new-tokens"])
def test_cli_infer_huge_size_is_refused_by_name(llama, option):
    # a batch of 1e27 reached torch.zeros and overflowed its int64 sizes: exit 70, 'internal error'
    sizes = {"--batch": "1", "--prompt-tokens": "8", "--new-tokens": "2", option: str(10**27)}
    r = run_cli("infer", llama, "--chip", "h100", *[x for kv in sizes.items() for x in kv])
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    assert r.stderr.strip() == (f"mlcost: error: {option} must be a whole number from 1 to 2,147,483,647, "
                                "got an integer of 28 digits")


def test_gguf_header_becomes_a_llama_decoder(tmp_path):
    pytest.importorskip("gguf")
    pytest.importorskip("transformers")
    import mlcost
    from tests.test_gguf import write_gguf

    # 1 block, 64 wide, 4 heads (head_dim 16), 2 KV heads, vocab 40 (the token list), built in float16
    est = mlcost.infer(write_gguf(tmp_path / "tiny.gguf"), chip="h100", prompt_tokens=16, new_tokens=4)
    assert est.kv_cache_bytes == 2 * 1 * 2 * 16 * (16 + 4) * 2  # K and V x 1 layer x 2 heads x 16 x 20 tokens x 2 B
    assert any("GGUF llama" in a and "quantized" in a for a in est.assumptions)
    assert est.prefill["seconds_floor"] > 0 and est.decode["bound"] == "memory"


def test_non_decoders_are_refused_in_one_line(tmp_path):
    pytest.importorskip("onnx")
    from tests.models import tiny
    from tests.test_onnx import export

    path = export(*tiny.build(), tmp_path / "lin.onnx")
    r = run_cli("infer", path, "--chip", "h100", "--prompt-tokens", "8", "--new-tokens", "2")
    assert r.exit_code == 2 and "decoder" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("infer", "tests/models/tiny.py:build", "--chip", "h100", "--prompt-tokens", "8", "--new-tokens", "2")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_sliding_window_caps_cache_and_decode_reads(tmp_path):
    pytest.importorskip("transformers")
    import mlcost

    cfg = dict(model_type="mistral", architectures=["MistralForCausalLM"], vocab_size=100, hidden_size=64,
               intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               max_position_embeddings=256, sliding_window=8, dtype="float32")
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    est = mlcost.infer(tmp_path, chip="h100", prompt_tokens=32, new_tokens=4)
    # every layer keeps the last 8 tokens only: K and V x 2 layers x 2 KV heads x 16 x 8 tokens x 4 bytes
    assert est.kv_cache_bytes == 2 * 2 * 2 * 16 * 8 * 4 == 4096
    last = {o["op"]: o for o in est.decode["by_operator"]}["aten::scaled_dot_product_attention"]
    assert last["bytes"] == 4096 + 2 * 2 * 4 * 16 * 4  # the window's K, V + Q and the output per layer
    assert est.kv_cache["layer_kinds"] == {"sliding": 2}


# DeepSeek-V3-shaped MLA, bf16: 2 dense layers, 4 heads, kv_lora_rank 64, qk_rope_head_dim 16, qk_nope 32, v 32
DEEPSEEK = dict(model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"], vocab_size=1000, hidden_size=256,
                intermediate_size=512, moe_intermediate_size=128, num_hidden_layers=2, first_k_dense_replace=2,
                num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=64, q_lora_rank=96, qk_rope_head_dim=16,
                qk_nope_head_dim=32, v_head_dim=32, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
                max_position_embeddings=512, dtype="bfloat16")


def test_mla_decode_reads_the_latent_cache_that_kv_cache_bytes_counts(tmp_path):
    """One convention for multi-head latent attention (costs.kv_cache): the cache is the latent, and decode
    attention reads it, in the absorbed form.  transformers' DeepSeek code attends over decompressed per-head
    K (32 + 16) and V (32): re-timed as such, a step read 4 x (48 + 32) = 320 elements per token and layer
    where kv_cache_bytes counts 64 + 16 = 80.  (The meta run of that attention also failed: the fused CPU
    kernel needs one head size, and its meta kernel returned K's width.)"""
    pytest.importorskip("transformers")
    import mlcost

    (tmp_path / "config.json").write_text(json.dumps(DEEPSEEK))
    est = mlcost.infer(tmp_path, chip="h100", prompt_tokens=64, new_tokens=4)
    latent = 64 + 16  # kv_lora_rank + qk_rope_head_dim, per token and layer
    assert est.kv_cache_bytes == 2 * latent * (64 + 4) * 2 == 21_760  # 2 layers x 80 x 68 tokens x 2 bytes
    assert est.kv_cache["layer_kinds"] == {"latent": 2}
    last = {o["op"]: o for o in est.decode["by_operator"]}["aten::scaled_dot_product_attention"]
    # the last step's two layers read the whole cache kv_cache_bytes counts, once, plus the absorbed queries
    # (4 heads x 80) and write the latent-wide output (4 heads x 64), bf16
    assert last["bytes"] == est.kv_cache_bytes + 2 * (4 * latent + 4 * 64) * 2 == 24_064
    # 4 heads x 68 positions x (80 score + 64 value) MACs per layer, 2 FLOPs each, + 6 FLOPs per score
    # (scale and softmax)
    assert last["flops"] == 2 * (2 * 4 * 68 * (latent + 64) + 6 * 4 * 68) == 159_936
    assert any("absorbed form" in a for a in est.assumptions)


def test_sdpa_with_narrower_values_runs_fused_on_meta():
    """Q/K of 48 and V of 32 per head (MLA's shapes): the meta run is the fused kernel CUDA runs for them
    (memory-efficient attention: no batch x heads x L x L scores), output at V's width."""
    import torch

    from mlcost.counting import dispatch

    class Attend(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    q, k = torch.empty(2, 4, 64, 48, device="meta"), torch.empty(2, 4, 64, 48, device="meta")
    v = torch.empty(2, 4, 64, 32, device="meta")
    r = dispatch.run(Attend(), (q, k, v), {})
    # the output 2 x 4 x 64 x 32 fp32, the log-sum-exp 2 x 4 x 64 fp32 (64 query rows: a multiple of 32) and
    # the kernel's dropout seed and offset (two int64 scalars)
    assert r.activations_peak_bytes == 2 * 4 * 64 * 32 * 4 + 2 * 4 * 64 * 4 + 2 * 8 == 67_600


def test_precision_sets_the_serving_dtype(llama):
    import mlcost

    est = mlcost.infer(llama, chip="h100", prompt_tokens=16, new_tokens=2, precision="bf16")
    # the float32 config served in bfloat16: weights at 2 bytes, the KV cache too
    assert est.kv_cache_bytes == KV_BYTES_PER_TOKEN // 2 * 18
    assert est.memory["weights_bytes"] * 2 == mlcost.infer(llama, chip="h100", prompt_tokens=16,
                                                           new_tokens=2).memory["weights_bytes"]
    assert "bf16" in est.chip["peak_flops_per_s"]


def test_infer_help():
    r = run_cli("infer", "--help")
    assert r.exit_code == 0 and "--prompt-tokens" in r.stdout and "--chip" in r.stdout
    assert "infer" in run_cli("--help").stdout
