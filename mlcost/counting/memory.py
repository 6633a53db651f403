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


def training_memory(module, saved: dict[int, tuple[int, int, bool]], optimizer: str, precision: str) -> tuple[int, dict, str]:
    """(training_peak_bytes, breakdown, assumption) for one step: weights + grads + optimizer states
    + saved activations.  ``saved``: storage id -> (nbytes, itemsize, is_float) from the measured forward."""
    stats = param_stats(module)
    n_all, n_train = stats.total, stats.trainable
    buffers = sum(b.numel() * b.element_size() for b in _unique(module.buffers()))
    opt = OPTIMIZER_STATE_BYTES[optimizer]
    if precision == "fp32":
        w, g, master, states = 4 * n_all, 4 * n_train, 0, opt * n_train
        act = sum(n if not fl else n // size * 4 for n, size, fl in saved.values())
        note = f"fp32 training: weights 4 B/param, gradients 4 B/trainable param, {optimizer} states {opt} B/param"
    elif precision == "bf16":
        w, g, master, states = 2 * n_all, 2 * n_train, 0, opt // 2 * n_train
        act = sum(n if not fl else n // size * 2 for n, size, fl in saved.values())
        note = (f"pure bf16 training: weights 2 B/param, gradients 2 B, {optimizer} states in bf16 "
                f"({opt // 2} B/param), floating activations 2 B/element")
    else:
        w, g, master, states = 2 * n_all, 2 * n_train, 4 * n_train, opt * n_train
        act = sum(n if not fl else n // size * 2 for n, size, fl in saved.values())
        note = ("mixed precision: bf16 weights 2 + bf16 gradients 2 + fp32 master copy 4 + fp32 "
                f"{optimizer} states {opt} B/param (= {4 + opt + 4} B/param with Adam-type optimizers: 16, "
                "reference_facts §7c, EleutherAI Transformer Math 101 / ZeRO 16Ψ); activations in bf16")
    if optimizer == "sgd":
        note += "; sgd without momentum keeps no state (momentum would add 4 B/param)"
    breakdown = {
        "weights_bytes": w + buffers,
        "gradients_bytes": g,
        "master_weights_bytes": master,
        "optimizer_states_bytes": states,
        "saved_activations_bytes": act,
        "optimizer": optimizer,
        "precision": precision,
    }
    total = w + buffers + g + master + states + act
    note += "; saved activations measured with saved_tensors_hooks (unique storages); transient backward buffers not included"
    return total, breakdown, note
