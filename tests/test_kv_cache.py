"""KV cache bytes from a decoder's dimensions (mlcost.costs.kv_cache), by hand."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlcost.costs.kv_cache import from_config, kv_cache_bytes
from mlcost.errors import InputError


def test_formula_llama2_7b_and_llama3_8b():
    # Llama-2-7B: 32 layers, 32 KV heads x 128, fp16: 2 x 32 x 32 x 128 x 2 bytes = 0.5 MiB per token
    assert kv_cache_bytes(layers=32, kv_heads=32, head_dim=128, tokens=1, batch=1, bytes_per_element=2) == 524_288
    # Llama-3-8B (grouped-query, 8 KV heads), 4096 tokens x batch 4: 2 x 32 x 8 x 128 x 4096 x 4 x 2
    assert kv_cache_bytes(layers=32, kv_heads=8, head_dim=128, tokens=4096, batch=4) == 2 * 32 * 8 * 128 * 4096 * 4 * 2
    with pytest.raises(InputError):
        kv_cache_bytes(layers=0, kv_heads=8, head_dim=128, tokens=1)


def test_from_config_gqa_sliding_window_and_mla():
    llama = SimpleNamespace(num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, hidden_size=4096)
    assert from_config(llama, 2).bytes(1000, 2) == 2 * 32 * 8 * 128 * 1000 * 2 * 2
    mistral = SimpleNamespace(num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, hidden_size=4096,
                              sliding_window=4096)
    assert from_config(mistral, 2).bytes(10_000) == 2 * 32 * 8 * 128 * 4096 * 2  # only the window is kept
    gemma = SimpleNamespace(num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                            hidden_size=2304, sliding_window=512,
                            layer_types=["sliding_attention", "full_attention"] * 2)
    # two sliding layers keep 512 of 2000 tokens, two full layers all 2000: 2 x 4 x 256 x (2 x 512 + 2 x 2000) x 2
    assert from_config(gemma, 2).bytes(2000) == 2 * 4 * 256 * (2 * 512 + 2 * 2000) * 2
    deepseek = SimpleNamespace(num_hidden_layers=61, num_attention_heads=128, hidden_size=7168, kv_lora_rank=512,
                               qk_rope_head_dim=64)
    shape = from_config(deepseek, 2)
    assert shape.bytes(1) == 61 * (512 + 64) * 2 == 70_272  # one latent per token and layer, not K and V per head
    assert shape.to_dict()["layer_kinds"] == {"latent": 61}
