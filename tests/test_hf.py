"""Hugging Face configs written in the tests (no downloads): exact parameter counts, refusal of remote
code, missing fields, mixture of experts and the safetensors cross-check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from mlcost.errors import InputError, UnsafeFileError  # noqa: E402
from mlcost.formats import ProfileOptions, detect_format  # noqa: E402
from mlcost.formats import hf, moe  # noqa: E402

BERT_BASE = dict(model_type="bert", vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)
GPT2_SMALL = dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                  architectures=["GPT2LMHeadModel"])
LLAMA2_7B = dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, tie_word_embeddings=False,
                 architectures=["LlamaForCausalLM"])
T5_SMALL = dict(model_type="t5", vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
                is_encoder_decoder=True, architectures=["T5ForConditionalGeneration"])
TINY_MIXTRAL = dict(model_type="mixtral", vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                    max_position_embeddings=256, architectures=["MixtralForCausalLM"])


def write_config(folder: Path, cfg: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def built_params(tmp_path: Path, cfg: dict) -> tuple[str, int]:
    config, _, _ = hf.load_config(write_config(tmp_path / cfg["model_type"], cfg))
    model, name, _ = hf.build_model(config)
    assert next(model.parameters()).device.type == "meta"
    return name, sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "cfg,cls,params",
    [
        # 30522*768 + 512*768 + 2*768 + 2*768 (embeddings) + 12 * 7,087,872 (layers) + 768*768 + 768 (pooler)
        (BERT_BASE, "BertModel", 23_837_184 + 12 * 7_087_872 + 590_592),
        # 50257*768 (wte, tied with the LM head) + 1024*768 (wpe) + 12 * 7,087,872 + 2*768 (ln_f)
        (GPT2_SMALL, "GPT2LMHeadModel", 38_597_376 + 786_432 + 12 * 7_087_872 + 1_536),
        # 2*32000*4096 (embeddings + untied head) + 32*(4*4096^2 + 3*11008*4096 + 2*4096) + 4096
        (LLAMA2_7B, "LlamaForCausalLM", 262_144_000 + 32 * 202_383_360 + 4_096),
        # 32128*512 (shared, tied) + encoder 6*3,146,752 + 256 + 512 + decoder 6*4,195,840 + 256 + 512
        (T5_SMALL, "T5ForConditionalGeneration", 16_449_536 + 18_881_280 + 25_175_808),
    ],
)
def test_reference_param_counts(tmp_path, cfg, cls, params):
    name, n = built_params(tmp_path, cfg)
    assert name == cls
    assert n == params
    assert n in (109_482_240, 124_439_808, 6_738_415_616, 60_506_624)  # reference_facts.md §6b; t5-small


def test_detect_and_config_file_spec(tmp_path):
    folder = write_config(tmp_path / "m", BERT_BASE)
    assert detect_format(folder) == "hf" and detect_format(folder / "config.json") == "hf"
    assert hf.load_config(folder / "config.json")[2] == folder


def test_remote_code_refused(tmp_path):
    folder = write_config(tmp_path / "r", {**LLAMA2_7B, "auto_map": {"AutoConfig": "x.Cfg"}})
    with pytest.raises(UnsafeFileError, match="--trust-remote-code"):
        hf.load_config(folder)


@pytest.mark.parametrize(
    "cfg,message",
    [
        ({k: v for k, v in LLAMA2_7B.items() if k != "hidden_size"}, "missing required field 'hidden_size'"),
        ({k: v for k, v in GPT2_SMALL.items() if k != "n_layer"}, "missing required field 'n_layer' or 'num_hidden_layers'"),
        ({k: v for k, v in LLAMA2_7B.items() if k != "model_type"}, "missing required field 'model_type'"),
        ({**LLAMA2_7B, "model_type": "no-such-model"}, "no-such-model"),
    ],
)
def test_missing_fields(tmp_path, cfg, message):
    with pytest.raises(InputError, match=message):
        hf.load_config(write_config(tmp_path / "c", cfg))


def test_bad_json(tmp_path):
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        hf.load_config(tmp_path)


def test_mixtral_total_and_active_params(tmp_path):
    config, _, _ = hf.load_config(write_config(tmp_path / "mx", TINY_MIXTRAL))
    model, _, _ = hf.build_model(config)
    assert moe.moe_shape(config) == (4, 2)
    total, expert = moe.param_split(model)
    per_layer_experts = 4 * (2 * 128) * 64 + 4 * 64 * 128  # gate_up (E, 2f, h) + down (E, h, f)
    per_layer = 4 * 64 * 64 // 1 - 2 * 64 * 32 + 4 * 64 + per_layer_experts + 2 * 64  # q,o 64x64; k,v 32x64; router; norms
    assert per_layer == 2 * 64 * 64 + 2 * 32 * 64 + 4 * 64 + per_layer_experts + 2 * 64
    assert total == 2 * 1000 * 64 + 2 * per_layer + 64 == 350_016
    assert expert == 2 * per_layer_experts == 196_608
    assert moe.active_params(total, expert, 4, 2) == 350_016 - 196_608 // 2 == 251_712


# ---- counted forward (meta device, torch dispatch backend) ----

def _profile(tmp_path: Path, cfg: dict, **opts):
    return hf.profile_file(write_config(tmp_path / "m", cfg), ProfileOptions(**opts))


def _op_macs(prof) -> dict[str, int]:
    return {r.op: r.macs for r in prof.by_operator if r.macs}


def test_gpt2_small_counted(tmp_path):
    s = 128
    prof = _profile(tmp_path, GPT2_SMALL, seq_len=s)
    assert prof.format == "hf" and prof.backend == "torch" and prof.params.total == 124_439_808
    assert [(i.name, i.shape) for i in prof.inputs] == [("input_ids", (1, s))]
    linear = 768 * 2304 + 768 * 768 + 768 * 3072 + 3072 * 768  # c_attn, c_proj, c_fc, mlp c_proj weights
    assert _op_macs(prof) == {
        "aten::addmm": s * 12 * linear,  # 10,871,635,968
        "aten::linear": s * 50257 * 768,  # tied LM head (nn.Linear; GPT-2's Conv1D blocks call addmm)
        # q @ k^T and attn @ v, all heads: one SDPA call per layer, what transformers builds by default
        "aten::scaled_dot_product_attention": 2 * 12 * s * s * 768,
    }
    assert prof.macs_forward == sum(_op_macs(prof).values())
    assert prof.flops_forward == 2 * prof.macs_forward + sum(r.flops - 2 * r.macs for r in prof.by_operator)
    assert prof.unsupported_ops == ()
    assert any("seq_len 128 (--seq-len)" in a for a in prof.assumptions)


def test_gpt2_hf_agrees_with_module(tmp_path):
    """The same GPT-2-small shape as a plain module (tests/models/gpt2.py, SDPA attention) and as an HF config."""
    import torch

    from mlcost.counting import count_module
    from models import gpt2

    s = 64
    with torch.device("meta"):
        module, _ = gpt2.build(seq_len=s)
    ids = torch.zeros(1, s, dtype=torch.long, device="meta")
    mod = count_module(module, (ids,), {}, backend="torch")
    prof = _profile(tmp_path, GPT2_SMALL, seq_len=s)
    assert mod.params.total == prof.params.total == 124_439_808
    assert mod.macs_forward == prof.macs_forward == s * (12 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) + 50257 * 768) + 2 * 12 * s * s * 768


def test_default_inputs_and_llama_counts(tmp_path):
    prof = _profile(tmp_path, LLAMA2_7B)
    s = 512  # min(512, max_position_embeddings 4096)
    assert prof.inputs[0].shape == (1, s) and prof.params.total == 6_738_415_616
    linear = 4 * 4096 * 4096 + 3 * 4096 * 11008
    assert _op_macs(prof) == {"aten::linear": s * (32 * linear + 32000 * 4096),
                              "aten::scaled_dot_product_attention": 2 * 32 * s * s * 4096}
    assert prof.details["attn_implementation"] == "sdpa"
    eager = _profile(tmp_path / "eager", LLAMA2_7B, attn="eager")  # --attn eager: explicit matmuls, same MACs
    assert _op_macs(eager) == {"aten::linear": s * (32 * linear + 32000 * 4096), "aten::bmm": 2 * 32 * s * s * 4096}
    assert any("seq_len 512 = min(512, max_position_embeddings 4096) by default" in a for a in prof.assumptions)


def test_bert_and_t5_counted(tmp_path):
    s = 32
    bert = _profile(tmp_path / "b", BERT_BASE, seq_len=s, batch_size=2)
    assert bert.inputs[0].shape == (2, s) and bert.params.total == 109_482_240
    assert _op_macs(bert) == {"aten::linear": 2 * s * 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 768 * 768,  # + pooler (1 token per row)
                              "aten::bmm": 2 * 2 * 12 * s * s * 768}  # BERT: eager (transformers has no SDPA for it here)
    t5 = _profile(tmp_path / "t", T5_SMALL, seq_len=s)
    assert [i.name for i in t5.inputs] == ["input_ids", "decoder_input_ids"]
    enc = 4 * 512 * 512 + 2 * 512 * 2048
    dec = 8 * 512 * 512 + 2 * 512 * 2048  # self-attn 4, cross-attn q/o 2 + k/v on the encoder output 2 (same length)
    assert _op_macs(t5) == {"aten::linear": s * (6 * enc + 6 * dec + 32128 * 512),
                            "aten::scaled_dot_product_attention": 3 * 6 * 2 * s * s * 512}  # T5: SDPA by default


def test_mixtral_active_and_all_experts_flops(tmp_path):
    s = 128
    prof = _profile(tmp_path, TINY_MIXTRAL, seq_len=s)
    m = prof.details["moe"]
    assert prof.params.total == m["params_total"] == 350_016 and prof.params.active == m["params_active"] == 251_712
    attn = 64 * 64 + 32 * 64 + 32 * 64 + 64 * 64  # q, k, v, o
    router = 4 * 64
    expert = 2 * 128 * 64 + 64 * 128  # gate_up + down of one expert (MACs per token)
    head = 1000 * 64
    assert m["macs_forward_active"] == prof.macs_forward == s * (2 * (attn + router + 2 * expert) + head) + 2 * 2 * s * s * 64
    assert m["macs_forward_all_experts"] == s * (2 * (attn + router + 4 * expert) + head) + 2 * 2 * s * s * 64
    assert m["flops_per_token_active"] == m["flops_forward_active"] // s and m["tokens"] == s
    assert m["flops_forward_all_experts"] > m["flops_forward_active"]
    assert any("active params per token" in a for a in prof.assumptions)


def test_moe_config_with_every_layer_dense(tmp_path):
    """DeepSeek-V3 with first_k_dense_replace = num_hidden_layers (test_infer's tiny one): the config names 4 routed
    experts but every layer is a dense MLP, so there is nothing to route; it was refused as 'routed experts in a
    layout mlcost cannot count'."""
    from test_infer import DEEPSEEK

    prof = _profile(tmp_path, DEEPSEEK, seq_len=8)
    attn = (96 * 256 + 96 + 4 * (32 + 16) * 96  # q_a_proj, q_a_layernorm, q_b_proj (4 heads x (nope 32 + rope 16))
            + (64 + 16) * 256 + 64 + 4 * (32 + 32) * 64  # kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj (nope + v)
            + 256 * 4 * 32)  # o_proj
    mlp = 3 * 512 * 256  # gate, up, down at intermediate_size (dense)
    layer = attn + mlp + 2 * 256  # + input and post-attention RMSNorms
    assert attn == 112_800 and layer == 506_528
    # embeddings + 2 layers + final norm + untied head
    assert prof.params.total == 1000 * 256 + 2 * layer + 256 + 1000 * 256 == 1_525_312
    assert prof.params.active is None and "moe" not in prof.details  # dense: no active subset
    assert any("every layer is dense" in a for a in prof.assumptions)


def test_cross_check_with_safetensors(tmp_path):
    from test_safetensors import llama2_7b_tensors, write_sharded, write_st

    folder = write_config(tmp_path / "llama", LLAMA2_7B)
    write_sharded(folder, llama2_7b_tensors(), shards=2)
    assert detect_format(folder) == "hf"
    prof = hf.profile_file(folder, ProfileOptions(seq_len=8))
    assert prof.details["checkpoint"] == {"params": 6_738_415_616, "weights_bytes": 13_476_831_232, "tensors": 291,
                                          "model_params": 6_738_415_616, "matches": True}
    # GPT-2 with the tied LM head stored twice in the checkpoint: explained, not an error
    g = write_config(tmp_path / "gpt2", {**GPT2_SMALL, "n_layer": 1})
    tensors = {"transformer.wte.weight": ("F32", (50257, 768)), "transformer.wpe.weight": ("F32", (1024, 768)),
               "lm_head.weight": ("F32", (50257, 768)), "transformer.ln_f.weight": ("F32", (768,)),
               "transformer.ln_f.bias": ("F32", (768,))}
    for n, shape in {"ln_1.weight": (768,), "ln_1.bias": (768,), "attn.c_attn.weight": (768, 2304), "attn.c_attn.bias": (2304,),
                     "attn.c_proj.weight": (768, 768), "attn.c_proj.bias": (768,), "ln_2.weight": (768,), "ln_2.bias": (768,),
                     "mlp.c_fc.weight": (768, 3072), "mlp.c_fc.bias": (3072,), "mlp.c_proj.weight": (3072, 768),
                     "mlp.c_proj.bias": (768,)}.items():
        tensors[f"transformer.h.0.{n}"] = ("F32", shape)
    write_st(g / "model.safetensors", tensors)
    prof = hf.profile_file(g, ProfileOptions(seq_len=8))
    assert prof.params.total == 38_597_376 + 786_432 + 7_087_872 + 1_536
    assert prof.details["checkpoint"]["params"] == prof.params.total + 50257 * 768
    assert any("tied weights" in a for a in prof.assumptions)


def test_other_json_file_with_as_hf(cli, tmp_path):
    (tmp_path / "gpt2-tiny.json").write_text(json.dumps({**GPT2_SMALL, "n_layer": 1, "n_positions": 64}))
    r = cli("profile", tmp_path / "gpt2-tiny.json", "--as", "hf", "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["params"]["total"] == 38_597_376 + 64 * 768 + 7_087_872 + 1_536
    assert d["inputs"][0]["shape"] == [1, 64]  # min(512, n_positions 64)


def test_damaged_checkpoint_beside_config_only_skips_cross_check(tmp_path):
    folder = write_config(tmp_path / "g", {**GPT2_SMALL, "n_layer": 1})
    (folder / "model.safetensors").write_bytes(b"\x00\x00")
    prof = hf.profile_file(folder, ProfileOptions(seq_len=4))
    assert prof.params.total == 38_597_376 + 786_432 + 7_087_872 + 1_536
    assert "truncated" in prof.details["checkpoint"]["error"]
    assert any(a.startswith("cross-check skipped") for a in prof.assumptions)


def test_weights_in_the_checkpoint_dtype_unless_training(tmp_path):
    """Inference: weights occupy what config.json's dtype says (Llama-2-7B ships float16: 2 bytes x
    6,738,415,616 = 13,476,831,232); training: --precision decides (fp32: 4 bytes per parameter)."""
    fp16 = {**LLAMA2_7B, "num_hidden_layers": 2, "torch_dtype": "float16"}
    params = 262_144_000 + 2 * 202_383_360 + 4_096  # embed + head + 2 layers + final norm
    prof = _profile(tmp_path / "a", fp16, seq_len=8)
    assert prof.params.bytes_by_dtype == {"float16": 2 * params}
    assert any("weights in float16 (the dtype config.json names)" in a for a in prof.assumptions)
    train = _profile(tmp_path / "b", fp16, seq_len=8, training=True, precision="fp32")
    assert train.params.bytes_by_dtype == {"float32": 4 * params}
    plain = _profile(tmp_path / "c", {**LLAMA2_7B, "num_hidden_layers": 2}, seq_len=8)
    assert plain.params.bytes_by_dtype == {"float32": 4 * params}
