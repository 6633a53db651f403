"""Serving cost of a decoder on one chip, from the roofline of its operator calls: ``mlcost infer``.

* prefill: one forward over the prompt (batch B x P tokens); its ``seconds_floor`` is the time to first token.
* decode: one forward over one new token per sequence, whose attention calls read a KV cache of
  P + k tokens at step k = 0 .. N-1 (K and V counted as read, at their own heads; sliding-window layers
  keep their window; multi-head latent attention reads its latent cache, as costs.kv_cache states).  Every call outside attention costs the same at every step; each attention call is
  re-evaluated (FLOPs and bytes) at the step's context length.  The floor per step is averaged over the N
  steps (exactly for N <= 64, else by the trapezoid rule on 65 evenly spaced steps: the floor is piecewise
  linear in the context length, so the error is below 1e-3 of the mean).
* per 1M output tokens: the request's floor (prefill + N decode steps) per B x N output tokens, turned into
  kWh, gCO2e and USD by the carbon module (``costs.carbon.estimate``: power, PUE, grid, prices).

Every figure is a floor (costs.roofline): real serving is slower, so energy, CO2e and cost are lower bounds.
Units: seconds, bytes, FLOPs (1 MAC = 2 FLOPs), tokens.
"""
from __future__ import annotations

import math
from typing import Any

from mlcost.counting.bytes import Call, compute_dtype, make_call, tensor_bytes
from mlcost.counting.formulas import TS, lookup
from mlcost import units
from mlcost.costs import roofline
from mlcost.costs.kv_cache import CacheShape, LayerCache, from_attention_calls
from mlcost.errors import UsageError
from mlcost.results import InferenceEstimate

EXACT_STEPS = 64
ATTENTION = "aten::scaled_dot_product_attention"


def attention_at(call: Call, keys: int) -> Call:
    """An attention CALL re-evaluated with KEYS key/value positions (the cache plus the new token)."""
    q, k, v, mask, *rest = list(call.args) + [None] * max(0, 4 - len(call.args))
    k2 = TS(k.shape[:-2] + (keys, k.shape[-1]), k.dtype)
    v2 = TS(v.shape[:-2] + (keys, v.shape[-1]), v.dtype)
    mask2 = TS(mask.shape[:-1] + (keys,), mask.dtype) if isinstance(mask, TS) else mask
    args = [q, k2, v2, mask2, *rest]
    out = TS(q.shape[:-1] + (v.shape[-1],), q.dtype)
    _, formula = lookup(ATTENTION)
    macs, other = formula(args, [out])
    return make_call(call.op, call.module, call.phase, macs, other, args, [out])


def latent_attention_at(call: Call, keys: int, layer: LayerCache) -> Call:
    """An MLA layer's decode attention CALL over a latent cache of KEYS positions, as an MLA kernel runs it
    (costs.kv_cache: DeepSeek-V2 section 2.1.2's absorbed form).  Each query head scores all d_c + d_R
    latent elements of every cached position and sums their first d_c (the values): B x heads x Lq x KEYS x
    (2 d_c + d_R) MACs, the SDPA formula with E = d_c + d_R and Ev = d_c.  Bytes: the queries, the latent
    cache once (keys and values are the same elements), the mask; the d_c-wide output written."""
    q, _k, _v, mask, *rest = list(call.args) + [None] * max(0, 4 - len(call.args))
    width = layer.elements_per_token
    rank = width - layer.rope
    lead = q.shape[:-1]  # (batch, heads, Lq)
    q2 = TS(lead + (width,), q.dtype)
    latent = TS(q.shape[:1] + (1, keys, width), _k.dtype)
    values = TS(q.shape[:1] + (1, keys, rank), _k.dtype)
    mask2 = TS(mask.shape[:-1] + (keys,), mask.dtype) if isinstance(mask, TS) else mask
    out = TS(lead + (rank,), q.dtype)
    _, formula = lookup(ATTENTION)
    macs, other = formula([q2, latent, values, mask2, *rest], [out])
    read = sum(tensor_bytes(t) for t in (q2, latent, mask2) if isinstance(t, TS))
    return Call(call.op, call.module, call.phase, int(macs), 2 * int(macs) + int(other), read, tensor_bytes(out),
                compute_dtype([q2]), (q2, latent, values, mask2, *rest))


def decode_steps(prompt: int, new: int) -> list[tuple[int, float]]:
    """(cached tokens, weight) pairs whose weighted sum is the mean over steps k = 0..NEW-1 of f(PROMPT + k)."""
    if new <= EXACT_STEPS + 1:
        return [(prompt + k, 1 / new) for k in range(new)]
    n = EXACT_STEPS
    points = [prompt + round(i * (new - 1) / n) for i in range(n + 1)]
    return [(p, (0.5 if i in (0, n) else 1.0) / n) for i, p in enumerate(points)]


def _layer(cache: CacheShape | None, layer: int) -> LayerCache | None:
    if cache is None or layer >= len(cache.layers):
        return None
    return cache.layers[layer]


def decode_floor(calls: list[Call], chip: roofline.Chip, cache: CacheShape | None, prompt: int,
                 new: int) -> dict[str, Any]:
    """The decode step's mean floor over the N steps, with its FLOPs and bytes (means too) and bound."""
    att = [c for c in calls if c.op == ATTENTION and c.args]
    rest = [c for c in calls if not (c.op == ATTENTION and c.args)]
    base = roofline.analyse(rest, chip, keep_calls=False)

    def one(i: int, c: Call, cached: int) -> Call:  # a layer's attention reads its cache (at most its window) + the new token
        layer = _layer(cache, i)
        keys = min(cached + 1, (layer.window if layer is not None else None) or cached + 1)
        if layer is not None and layer.kind == "latent":
            return latent_attention_at(c, keys, layer)
        return attention_at(c, keys)

    def at(cached: int) -> list[Call]:
        return [one(i, c, cached) for i, c in enumerate(att)]

    seconds = flops = nbytes = compute_s = 0.0
    for cached, w in decode_steps(prompt, new):
        step = at(cached)
        r = roofline.analyse(step, chip, keep_calls=False) if step else None
        s = base["seconds_floor"] + (r["seconds_floor"] if r else 0.0)
        seconds += w * s
        flops += w * (base["flops"] + (r["flops"] if r else 0))
        nbytes += w * (base["bytes"] + (r["bytes"] if r else 0))
        compute_s += w * (base["seconds_floor"] * base["compute_bound_share"]
                          + (r["seconds_floor"] * r["compute_bound_share"] if r else 0.0))
    last = roofline.analyse(rest + at(prompt + new - 1), chip, keep_calls=False)
    return {"seconds_per_token_floor": seconds, "flops_per_step": round(flops), "bytes_per_step": round(nbytes),
            "intensity": roofline.intensity(flops, nbytes), "bound": "compute" if compute_s > seconds / 2 else "memory",
            "compute_bound_share": compute_s / seconds if seconds else 0.0, "attention_calls": len(att),
            "last_step": {"seconds_floor": last["seconds_floor"], "bytes": last["bytes"], "flops": last["flops"]},
            "by_operator": last["by_operator"][:8]}


def _phase(roof: dict[str, Any]) -> dict[str, Any]:
    return {"seconds_floor": roof["seconds_floor"], "flops": roof["flops"], "bytes": roof["bytes"],
            "intensity": roof["intensity"], "bound": "compute" if roof["compute_bound_share"] > 0.5 else "memory",
            "compute_bound_share": roof["compute_bound_share"], "by_operator": roof["by_operator"][:8]}


def estimate(model: Any, *, chip: str, batch: int = 1, prompt_tokens: int, new_tokens: int, region: str | None = None,
             provider: str | None = None, price_per_hour: float | None = None, precision: str | None = None,
             trust_remote_code: bool = False, factory_args: dict | None = None,
             strict: bool = False) -> InferenceEstimate:
    """Prefill, decode and per-million-token cost of decoder MODEL (an HF folder/config.json, a GGUF/safetensors
    checkpoint beside its config, a file.py:factory, or an nn.Module taking token ids) on CHIP.

    Operators with no FLOP formula are listed in ``unsupported_ops`` (per phase: the prefill forward and one
    decode step), never dropped silently; STRICT makes them an UnsupportedOperatorError (exit 2)."""
    from mlcost.formats import decoder as decoders

    for name, v in (("--batch", batch), ("--prompt-tokens", prompt_tokens), ("--new-tokens", new_tokens)):
        units.require_size(v, name)
    if price_per_hour is not None and not (isinstance(price_per_hour, (int, float)) and price_per_hour > 0
                                           and math.isfinite(price_per_hour)):
        raise UsageError(f"--price-per-hour must be a positive number, got {price_per_hour!r}")
    ch = roofline.resolve(chip)
    dec = decoders.load(model, precision=precision, trust_remote_code=trust_remote_code,
                        factory_args=factory_args or {})
    if dec.max_positions is not None and prompt_tokens + new_tokens > dec.max_positions:
        raise UsageError(f"--prompt-tokens + --new-tokens = {prompt_tokens + new_tokens} exceeds the model's "
                         f"{dec.max_positions} positions (max_position_embeddings)")
    pre = dec.count(batch, prompt_tokens, strict=strict)
    step = dec.count(batch, 1, strict=strict)
    att = [c for c in pre.calls if c.op == ATTENTION and c.args]
    cache = dec.cache or (from_attention_calls(att) if att else None)
    if cache is None:
        raise UsageError(f"{dec.name}: no attention call (torch.nn.functional.scaled_dot_product_attention) in its "
                         "forward, so no KV cache and no decode cost; mlcost infer is for decoders")
    prefill = _phase(roofline.analyse(pre.calls, ch, keep_calls=False))
    decode = decode_floor(list(step.calls), ch, cache, prompt_tokens, new_tokens)
    kv = cache.bytes(prompt_tokens + new_tokens, batch)
    weights = pre.memory.weights_bytes
    act = pre.memory.activations_peak_bytes or 0
    peak = weights + kv + act
    capacity = ch.acc.memory_bytes  # one reading of memory_gb (GiB) for infer and profile's memory.fits
    tpot = decode["seconds_per_token_floor"]
    request_s = prefill["seconds_floor"] + new_tokens * tpot
    per_million_s = request_s / (batch * new_tokens) * 1e6
    notes = [*dec.notes, *cache.notes,
             f"prefill: one forward over {batch} x {prompt_tokens} tokens; decode: {new_tokens} steps of one token per "
             f"sequence, attention reading a KV cache of {prompt_tokens}..{prompt_tokens + new_tokens - 1} tokens "
             "(K and V at their own heads; an MLA layer reads its latent); floors are lower bounds (no overlap, no "
             "reuse across operators)",
             "time to first token = the prefill floor; seconds per output token = the mean decode step floor; "
             f"tokens/s = batch {batch} / that; per 1M output tokens = (prefill + {new_tokens} steps) / "
             f"({batch} x {new_tokens}) tokens",
             "the cache write of each new token (2 x kv bytes per layer) is not counted; the prefill's activation "
             "peak includes the prompt's KV cache it writes, so the memory peak is an upper bound by at most that"]
    cost = _per_million(ch, per_million_s, region, provider, price_per_hour)
    notes += cost.pop("assumptions")
    return InferenceEstimate(
        model=dec.name, chip=ch.describe(c.dtype for c in pre.calls if c.macs), batch=batch,
        prompt_tokens=prompt_tokens, new_tokens=new_tokens, prefill=prefill, decode=decode, kv_cache_bytes=kv,
        kv_cache=cache.to_dict(),
        memory={"weights_bytes": weights, "kv_cache_bytes": kv, "activations_peak_bytes": act, "peak_bytes": peak,
                "chip_memory_bytes": capacity, "fits": None if capacity is None else peak <= capacity},
        time_to_first_token_s=prefill["seconds_floor"], seconds_per_output_token=tpot,
        tokens_per_second=batch / tpot if tpot else None, request_seconds=request_s, per_million=cost,
        assumptions=tuple(dict.fromkeys(notes)),
        unsupported_ops={"prefill": pre.unsupported_ops, "decode": step.unsupported_ops},
    )


def _per_million(chip: roofline.Chip, seconds: float, region: str | None, provider: str | None,
                 price_per_hour: float | None) -> dict[str, Any]:
    """kWh, gCO2e and USD of SECONDS on one CHIP (the carbon module's power, PUE, grid and price data)."""
    from mlcost.costs import carbon

    est = carbon.estimate(gpu=chip.acc.name, count=1, seconds=seconds, region=region, provider=provider,
                          price_per_hour=price_per_hour)
    return {"seconds": seconds, "energy_kwh": est.energy.energy_kwh, "co2e_g": est.co2e_kg * 1000,
            "cost_usd": est.cost_usd, "intensity_g_per_kwh": est.intensity.get("value_g_per_kwh"),
            "region": est.intensity.get("resolved"), "cost_source": est.cost_source,
            "assumptions": [f"per 1M output tokens: {seconds:.4g} s (the floor) on one {chip.name}",
                            *est.assumptions]}


__all__ = ["estimate", "decode_floor", "attention_at", "latent_attention_at", "decode_steps"]
