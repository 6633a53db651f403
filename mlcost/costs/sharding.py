"""Per-GPU training memory under data-parallel sharding (ZeRO stages, FSDP).

Model states per GPU, for Ψ parameters on N data-parallel GPUs with mixed-precision Adam (2-byte weights,
2-byte gradients and K = 12 bytes of optimizer state per parameter: fp32 master weights, momentum and
variance), are those of Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion
Parameter Models", SC 2020, section 5.1 and Figure 1:

    none (DDP)     (2 + 2 + K) Ψ
    zero1 (P_os)   2Ψ + 2Ψ + KΨ/N
    zero2 (P_os+g) 2Ψ + (2 + K)Ψ/N
    zero3 (P_os+g+p), fsdp (FULL_SHARD)   (2 + 2 + K)Ψ/N

mlcost applies the same partitioning to the byte counts it measured (any precision and optimizer:
weights W, gradients G, master weights M, optimizer states S), so per_gpu = the measured step peak minus
what each stage takes off this GPU, ``(1 - 1/N)`` of each partitioned state.  Under zero3/fsdp one layer's
full weights and gradients are gathered at a time: DeepSpeed sizes that as ``4 x largest_layer_params``
(2-byte weights + 2-byte gradients; ``estimate_zero3_model_states_mem_needs``), mlcost as 2 x the largest
layer's weight bytes.  Activations and the step's temporaries are not sharded (each GPU runs its own
micro-batch of the profiled batch size).

DeepSpeed's own estimators (deepspeed/runtime/zero/stage_1_and_2.py and stage3.py, no offload) count a
little more than the paper: ZeRO-2 ``4Ψ + 16Ψ/N`` (full 2-byte weights and gradient buckets, plus an fp32
gradient partition in its 16), ZeRO-3 ``4·largest_layer + 18Ψ/N``; ``deepspeed_estimates`` gives both.
"""
from __future__ import annotations

from mlcost.errors import UsageError

SHARDS = ("none", "zero1", "zero2", "zero3", "fsdp")
# which measured states each stage partitions over the GPUs
_PARTITIONED = {
    "none": (),
    "zero1": ("master_weights_bytes", "optimizer_states_bytes"),
    "zero2": ("master_weights_bytes", "optimizer_states_bytes", "gradients_bytes"),
    "zero3": ("master_weights_bytes", "optimizer_states_bytes", "gradients_bytes", "weights_bytes"),
    "fsdp": ("master_weights_bytes", "optimizer_states_bytes", "gradients_bytes", "weights_bytes"),
}


def zero_model_states_bytes(params: int, gpus: int, shard: str, k: int = 12) -> int:
    """The ZeRO paper's per-GPU model-state bytes (section 5.1, Figure 1) for PARAMS parameters."""
    _check(gpus, shard)
    n = gpus
    if shard == "none":
        return (2 + 2 + k) * params
    if shard == "zero1":
        return 4 * params + k * params // n
    if shard == "zero2":
        return 2 * params + (2 + k) * params // n
    return (2 + 2 + k) * params // n


def deepspeed_estimates(params: int, largest_layer_params: int, gpus: int) -> dict[str, int]:
    """DeepSpeed's GPU estimates without offload (stage_1_and_2.estimate_zero2_model_states_mem_needs,
    stage3.estimate_zero3_model_states_mem_needs), bytes per GPU."""
    return {"zero2": 4 * params + int(16 * params / gpus),
            "zero3": 4 * largest_layer_params + int(18 * params / gpus)}


def _check(gpus: int, shard: str) -> None:
    if shard not in SHARDS:
        raise UsageError(f"unknown --shard {shard!r}; choose one of {', '.join(SHARDS)}")
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
        raise UsageError(f"--gpus must be a positive integer, got {gpus!r}")


def per_gpu_training(breakdown: dict, training_peak_bytes: int, gpus: int, shard: str,
                     largest_layer_bytes: int) -> tuple[int, dict]:
    """(per-GPU peak bytes, details) from a measured step's BREAKDOWN and peak.

    The step has two peaks: through backward (activations, gradients) and in the optimizer (gradients plus
    the optimizer's own transient: fp32 master gradients, foreach temporaries).  Each stage divides the
    states it partitions by N; from zero1 on each GPU steps only its partition, so the optimizer's
    transient is divided too.  The per-GPU peak is the larger of the two, plus the gathered layer."""
    _check(gpus, shard)
    parts = _PARTITIONED[shard]
    b = {k: int(breakdown.get(k, 0) or 0) for k in ("weights_bytes", "gradients_bytes", "master_weights_bytes",
                                                    "optimizer_states_bytes", "backward_peak_bytes",
                                                    "optimizer_start_bytes", "optimizer_transient_bytes")}

    def cut(name: str) -> int:  # what partitioning NAME over the GPUs takes off each one
        return b[name] - b[name] // gpus if name in parts else 0

    persistent = training_peak_bytes - int(breakdown.get("step_peak_bytes", 0) or 0)
    persistent -= sum(cut(n) for n in ("weights_bytes", "master_weights_bytes", "optimizer_states_bytes"))
    grads_cut = cut("gradients_bytes")
    backward = persistent + b["backward_peak_bytes"] - (grads_cut if breakdown.get("peak_phase") != "forward" else 0)
    transient = b["optimizer_transient_bytes"] // (gpus if shard != "none" else 1)
    optimizer = persistent + b["optimizer_start_bytes"] - grads_cut + transient
    gathered = 2 * largest_layer_bytes if shard in ("zero3", "fsdp") and gpus > 1 else 0
    peak = max(backward, optimizer) + gathered
    details = {
        "gpus": gpus, "shard": shard, "partitioned": list(parts), "backward_peak_bytes": backward + gathered,
        "optimizer_peak_bytes": optimizer + gathered, "gathered_layer_bytes": gathered,
        "activations": "not sharded: every GPU runs its own micro-batch of the profiled batch size",
    }
    return peak, details


def describe(shard: str, gpus: int) -> str:
    what = {"none": "nothing partitioned (DDP: every GPU holds all states)",
            "zero1": "optimizer states (with fp32 master weights) partitioned",
            "zero2": "optimizer states and gradients partitioned",
            "zero3": "optimizer states, gradients and weights partitioned, one layer gathered at a time",
            "fsdp": "FSDP FULL_SHARD, as ZeRO-3: states, gradients and weights partitioned, one layer gathered at a time"}
    return (f"per-GPU training memory on {gpus} GPU(s), --shard {shard}: {what[shard]}, each by 1/{gpus} "
            "(Rajbhandari et al. 2020, ZeRO, section 5.1); activations and step temporaries not sharded")
