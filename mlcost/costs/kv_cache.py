"""The KV cache of a decoder: bytes held for TOKENS tokens of context, per layer kind.

Standard (multi-head or grouped-query) attention keeps a key and a value vector per token, layer and
key/value head::

    kv_cache_bytes = 2 x layers x kv_heads x head_dim x tokens x batch x bytes_per_element

(the formula of every serving calculator; e.g. Pope et al., "Efficiently Scaling Transformer
Inference", MLSys 2023, section 2).  Two variants change what is kept:

* sliding-window layers (Mistral ``sliding_window``; Gemma 2/3 ``layer_types``) keep at most the last
  ``window`` tokens: tokens = min(tokens, window) on those layers;
* multi-head latent attention (DeepSeek-V2/V3 ``kv_lora_rank``) keeps one compressed latent of
  ``kv_lora_rank + qk_rope_head_dim`` elements per token and layer, shared by all heads and not doubled
  (DeepSeek-V2, arXiv 2405.04434, section 2.1.3: "(d_c + d_h^R) l" elements per token); this is what an MLA
  serving kernel holds, not the decompressed per-head keys and values some reference implementations cache
  (transformers' DeepSeek code among them).

One convention for MLA, used by both ``memory.kv_cache_bytes`` and ``mlcost infer``'s decode re-timing
(costs.serving.latent_attention_at): the cache is the latent, and each decode step's attention reads it
once, in the absorbed form (section 2.1.2: W^UK absorbed into the queries, W^UV into the output), per
head over ``kv_lora_rank + qk_rope_head_dim`` score dimensions and ``kv_lora_rank`` value dimensions.
The absorbed projections cost what transformers' decompression of the one new token costs (kv_b_proj:
heads x kv_lora_rank x (qk_nope_head_dim + v_head_dim) MACs, the same weights), so the rest of the step
is as measured.  The prefill attends over the decompressed keys and values, as transformers computes them.

Units: bytes, elements, tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlcost.errors import InputError


def kv_cache_bytes(*, layers: int, kv_heads: int, head_dim: int, tokens: int, batch: int = 1,
                   bytes_per_element: float = 2, v_head_dim: int | None = None) -> int:
    """2 x layers x kv_heads x head_dim x tokens x batch x bytes (keys and values of head_dim each;
    with V_HEAD_DIM the values have their own width: layers x kv_heads x (k + v) x tokens x batch x bytes)."""
    for name, v in (("layers", layers), ("kv_heads", kv_heads), ("head_dim", head_dim), ("batch", batch)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"KV cache: {name} must be a positive integer, got {v!r}")
    if not isinstance(tokens, int) or tokens < 0:
        raise InputError(f"KV cache: tokens must be a whole number >= 0, got {tokens!r}")
    width = head_dim + (head_dim if v_head_dim is None else v_head_dim)
    return round(layers * kv_heads * width * tokens * batch * bytes_per_element)


@dataclass(frozen=True)
class LayerCache:
    """What one attention layer keeps per token: ELEMENTS (keys + values, or MLA's latent) up to WINDOW tokens."""

    elements_per_token: int
    window: int | None = None  # None: the whole context
    kind: str = "full"  # full | sliding | latent
    rope: int = 0  # latent: the decoupled RoPE key's elements (qk_rope_head_dim), read as keys, not values


@dataclass(frozen=True)
class CacheShape:
    """A decoder's KV cache, layer by layer; ``bytes(tokens, batch)`` is its size at that context."""

    layers: tuple[LayerCache, ...]
    bytes_per_element: float
    notes: tuple[str, ...] = ()

    def bytes(self, tokens: int, batch: int = 1) -> int:
        total = 0
        for layer in self.layers:
            kept = tokens if layer.window is None else min(tokens, layer.window)
            total += layer.elements_per_token * kept * batch
        return round(total * self.bytes_per_element)

    def to_dict(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for layer in self.layers:
            kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
        return {"layers": len(self.layers), "layer_kinds": kinds,
                "elements_per_token": sum(x.elements_per_token for x in self.layers),
                "bytes_per_element": self.bytes_per_element, "notes": list(self.notes)}


def _int(config: Any, *names: str) -> int | None:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def from_config(config: Any, bytes_per_element: float) -> CacheShape:
    """The cache of a Hugging Face decoder config (llama, mistral, qwen, gemma, gpt2, deepseek ...)."""
    layers = _int(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(config, "num_attention_heads", "n_head")
    if layers is None or heads is None:
        raise InputError("the config gives no num_hidden_layers / num_attention_heads, so no KV cache size")
    kv_heads = _int(config, "num_key_value_heads", "multi_query_group_num") or heads
    hidden = _int(config, "hidden_size", "n_embd", "d_model")
    head_dim = _int(config, "head_dim") or (hidden // heads if hidden else None)
    if head_dim is None:
        raise InputError("the config gives no head_dim or hidden_size, so no KV cache size")
    notes: list[str] = []
    rank = _int(config, "kv_lora_rank")
    if rank is not None:  # DeepSeek-V2/V3 multi-head latent attention
        rope = _int(config, "qk_rope_head_dim") or 0
        notes.append(f"multi-head latent attention: {rank} + {rope} (kv_lora_rank + qk_rope_head_dim) elements per "
                     "token and layer, the compressed cache an MLA kernel keeps (DeepSeek-V2 section 2.1.3); decode "
                     "attention reads it once per step in the absorbed form (section 2.1.2)")
        return CacheShape(tuple(LayerCache(rank + rope, None, "latent", rope) for _ in range(layers)),
                          bytes_per_element, tuple(notes))
    v_dim = _int(config, "v_head_dim") or head_dim
    per_token = kv_heads * (head_dim + v_dim)
    window = _int(config, "sliding_window")
    if getattr(config, "use_sliding_window", True) is False:
        window = None
    types = getattr(config, "layer_types", None)
    if isinstance(types, (list, tuple)) and len(types) == layers:
        out = tuple(LayerCache(per_token, window, "sliding") if "sliding" in str(t) and window else LayerCache(per_token)
                    for t in types)
    else:
        out = tuple(LayerCache(per_token, window, "sliding" if window else "full") for _ in range(layers))
    if any(x.window for x in out):
        n = sum(1 for x in out if x.window)
        notes.append(f"sliding-window attention: {n} of {layers} layers keep at most the last {window} tokens")
    return CacheShape(out, bytes_per_element, tuple(notes))


def from_attention_calls(calls: list, bytes_per_element: float | None = None) -> CacheShape:
    """The cache implied by a forward's attention calls (one per layer): each keeps its K and V heads.
    CALLS are counting.bytes.Call with args (query, key, value, ...) as TS."""
    from mlcost.counting.bytes import dtype_bits

    layers = []
    size = bytes_per_element
    for c in calls:
        k, v = c.args[1], c.args[2]
        heads = k.numel // (k.shape[-2] * k.shape[-1]) if len(k.shape) >= 2 else 1
        layers.append(LayerCache(heads * (k.shape[-1] + v.shape[-1]) // max(1, _batch(k))))
        if size is None:
            size = dtype_bits(k.dtype) / 8
    if not layers:
        raise InputError("no scaled_dot_product_attention call in the forward, so no KV cache to size (decoders must "
                         "attend with torch.nn.functional.scaled_dot_product_attention)")
    return CacheShape(tuple(layers), size or 2, ("KV cache sized from the forward's attention calls (K and V heads each)",))


def _batch(t: Any) -> int:
    return t.shape[0] if len(t.shape) == 4 else 1
