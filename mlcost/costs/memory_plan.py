"""What a user plans GPUs with, from a Profile: weights per dtype, the largest layer, the KV cache,
per-GPU training memory under sharding, and whether it fits a chip.  Bytes throughout.

- ``weights_by_dtype``: the parameters at 4 / 2 / 1 / 0.5 bytes each (fp32, bf16, int8, int4), the table
  ``accelerate estimate-memory`` prints (buffers and quantization scales not included).
- ``largest_layer``: the module holding the most parameters directly (not through children), as
  DeepSpeed's ``model_to_params`` picks ``largest_layer_params``; what ZeRO-3/FSDP gather at once and what
  ``device_map="auto"`` must fit on one device.
- ``kv_cache_bytes``: decoders only, from ``costs.kv_cache`` (one formula, shared with ``mlcost infer``).
- ``fits``: needed vs the chip's memory (``reference_data/hardware.csv`` memory_gb, read as GiB: HBM
  stacks come in powers of two, an "80 GB" A100 has 80 GiB); inference needs weights + activation peak
  (+ the KV cache at ``--kv-tokens``), training the per-GPU step peak.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlcost.errors import UsageError
from mlcost.results import Profile

WEIGHT_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "int8": 1, "int4": 0.5}


def largest_layer(prof: Profile) -> dict[str, Any] | None:
    """{"name", "params", "bytes"} of the module with the most parameters of its own (None without modules)."""
    rows = list(prof.by_module)
    if not rows:
        return None
    names = {r.name for r in rows}
    children: dict[str, int] = {}
    for r in rows:
        if r.name:
            parent = r.name.rsplit(".", 1)[0] if "." in r.name else ""
            while parent not in names and parent:
                parent = parent.rsplit(".", 1)[0] if "." in parent else ""
            children[parent] = children.get(parent, 0) + r.params
    best = max(rows, key=lambda r: r.params - children.get(r.name, 0))  # the first of equals, in module order
    own = best.params - children.get(best.name, 0)
    if own <= 0:
        return None
    total = prof.params.total or 1
    per_param = sum(prof.params.bytes_by_dtype.values()) / total if prof.params.bytes_by_dtype else 4
    return {"name": best.name or "(root)", "type": best.type, "params": own, "bytes": round(own * per_param)}


def apply(prof: Profile, opts: Any) -> Profile:
    """PROF with the memory plan its options ask for (and the always-on weights table)."""
    from mlcost.costs import sharding

    mem, notes = prof.memory, list(prof.assumptions)
    if getattr(opts, "attn", None) is not None and prof.format != "hf":
        raise UsageError(f"--attn chooses a Hugging Face model's attention; this is a {prof.format} model")
    layer = largest_layer(prof)
    changes: dict[str, Any] = {
        "weights_by_dtype": {k: round(prof.params.total * b) for k, b in WEIGHT_DTYPE_BYTES.items()},
        "largest_layer": layer,
    }
    kv = prof.details.get("kv_cache")
    kv_tokens = getattr(opts, "kv_tokens", None)
    if kv_tokens is not None and not kv:
        raise UsageError("--kv-tokens sizes a decoder's KV cache: give a Hugging Face decoder (config.json with "
                         "attention heads and a causal LM head)")
    if kv:
        changes["kv_cache_bytes"] = kv["bytes"]
    gpus, shard = getattr(opts, "gpus", 1) or 1, getattr(opts, "shard", "none") or "none"
    per_gpu = None
    if gpus != 1 or shard != "none":
        if mem.training_peak_bytes is None or not mem.training:
            raise UsageError("--gpus/--shard size per-GPU training memory: add --training (and a model with a forward)")
        per_gpu, details = sharding.per_gpu_training(mem.training, mem.training_peak_bytes, gpus, shard,
                                                     layer["bytes"] if layer else 0)
        changes["per_gpu_training_peak_bytes"] = per_gpu
        changes["sharding"] = details
        notes.append(sharding.describe(shard, gpus))
    chip = getattr(opts, "chip", None)
    if chip is not None:
        fits, note = _fits(prof, chip, changes.get("kv_cache_bytes"), per_gpu)
        changes["fits"] = fits
        if note:
            notes.append(note)
    return replace(prof, memory=replace(mem, **changes), assumptions=tuple(notes))


def _fits(prof: Profile, chip: str, kv_bytes: int | None, per_gpu: int | None) -> tuple[dict | None, str | None]:
    from mlcost.refdata import find_accelerator

    acc = find_accelerator(chip)
    if not acc.memory_gb:
        return None, f"memory.fits: {acc.name} has no memory capacity in reference_data/hardware.csv"
    m = prof.memory
    capacity = acc.memory_bytes
    if prof.training and m.training_peak_bytes is not None:
        needed, what = (per_gpu, "per-GPU training step peak") if per_gpu is not None else (m.training_peak_bytes, "training step peak")
    else:
        needed = m.weights_bytes + (m.activations_peak_bytes or 0) + (kv_bytes or 0)
        what = "weights + activation peak" + (" + KV cache" if kv_bytes else "")
    return ({"chip": acc.name, "capacity_bytes": capacity, "needed_bytes": needed, "headroom_bytes": capacity - needed,
             "fits": needed <= capacity, "needed": what},
            f"memory.fits: {what} against {acc.name}'s {acc.memory_gb:g} GiB; the CUDA context, allocator "
            "fragmentation and library workspaces also take memory (headroom is an upper bound)")
