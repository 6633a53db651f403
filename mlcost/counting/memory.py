"""Parameter statistics and training-memory accounting (bytes)."""
from __future__ import annotations

from mlcost.choices import TrainingPrecision, values
from mlcost.results import ParamStats

OPTIMIZER_STATE_BYTES = {"sgd": 0, "adam": 8, "adamw": 8}  # per trainable parameter, fp32 states
PRECISIONS = values(TrainingPrecision)


def _unique(tensors):
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def param_stats(module) -> ParamStats:
    """Parameter counts (elements) and bytes by dtype; tied parameters count once."""
    params = _unique(module.parameters())
    by_dtype: dict[str, int] = {}
    bytes_by: dict[str, int] = {}
    for p in params:
        d = str(p.dtype).removeprefix("torch.")
        by_dtype[d] = by_dtype.get(d, 0) + p.numel()
        bytes_by[d] = bytes_by.get(d, 0) + p.numel() * p.element_size()
    return ParamStats(
        total=sum(p.numel() for p in params),
        trainable=sum(p.numel() for p in params if p.requires_grad),
        by_dtype=by_dtype,
        bytes_by_dtype=bytes_by,
    )


def weights_bytes(module) -> int:
    """Bytes of parameters + buffers in their own dtypes."""
    return sum(t.numel() * t.element_size() for t in _unique([*module.parameters(), *module.buffers()]))


def training_memory(step, saved: dict[int, tuple[int, int, bool]], optimizer: str, precision: str,
                    workspace: str = "none") -> tuple[int, dict, str]:
    """(training_peak_bytes, breakdown, assumption) of one measured steady-state step.

    ``step``: the ``training_step.StepMemory`` measured by running forward, backward and the optimizer
    step; ``saved``: storage id -> (nbytes, itemsize, is_float) of what autograd saved, in the dtypes
    the run saved them in.  The peak is the maximum of live bytes over the step, not a sum of parts.
    ``workspace``: the kernel workspaces the run planned (counting.workspace), which the note names."""
    act = sum(n for n, _size, _fl in saved.values())
    breakdown = {
        "weights_bytes": step.weights_bytes,
        "gradients_bytes": step.gradients_bytes,
        "master_weights_bytes": step.master_weights_bytes,
        "optimizer_states_bytes": step.optimizer_states_bytes,
        "saved_activations_bytes": act,
        "step_peak_bytes": step.step_peak_bytes,
        "peak_phase": step.peak_phase,
        "backward_peak_bytes": step.backward_peak_bytes,
        "optimizer_start_bytes": step.optimizer_start_bytes,
        "optimizer_transient_bytes": step.optimizer_transient_bytes,
        "optimizer": optimizer,
        "precision": precision,
    }
    layouts = {
        "fp32": "fp32 weights, gradients and optimizer states",
        "bf16": "pure bf16: weights, gradients and optimizer states in bf16",
        "amp": ("torch.autocast (AMP): fp32 weights, gradients and optimizer states, the forward's ops in bf16 or "
                "fp32 as CUDA autocast's op lists cast them"),
        "mixed": ("mixed precision as Megatron-LM/DeepSpeed lay it out: bf16 weights and gradients, fp32 master "
                  "weights and fp32 optimizer states (2+2+4+8 = 16 B/param with Adam: Rajbhandari et al. 2020, "
                  "ZeRO, section 3.1)"),
    }
    note = (f"training_peak_bytes: the peak of live bytes over one measured steady-state step ({layouts[precision]}; "
            f"torch.optim {optimizer} with foreach=True as on CUDA, its states allocated before the step, gradients "
            f"None before the forward), reached in the {step.peak_phase}; "
            + ("kernels' private workspaces (cuBLAS/cuDNN, CPU oneDNN scratchpads) and fragmentation not included"
               if workspace == "none" else
               f"the kernel workspaces of --workspace {workspace} included where they have a rule; cuBLAS/cuDNN "
               "workspaces and fragmentation not included"))
    if optimizer == "sgd":
        note += "; sgd without momentum keeps no state (momentum would add one parameter-sized buffer)"
    return step.peak_bytes, breakdown, note
