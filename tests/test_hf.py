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
