"""One steady-state training step, run for real (on meta, or on the module's own device) and measured.

Steady state is the step after the first: the optimizer's states exist, gradients were set to None
(``zero_grad(set_to_none=True)``, torch's default) before the forward.  The step is then

    forward (activations; the tensors autograd saves stay alive) -> loss -> backward (gradients appear,
    saved activations are released as their nodes run) -> [mixed: fp32 master gradients] -> optimizer.step()
    (its own temporaries: foreach Adam allocates whole lists of parameter-sized tensors) -> grads to None

and its peak is the maximum over the step of live bytes, measured by ``StorageTracker`` on every
operator call: persistent bytes (weights, buffers, fp32 master weights, optimizer states) plus the peak
of what the step creates.  Nothing is summed from parts that are never alive together.

The optimizer is torch's own (``torch.optim.SGD`` without momentum / ``Adam`` / ``AdamW``) with
``foreach=True``, torch's default on CUDA, where people train (on CPU torch defaults to the per-tensor
loop, which holds fewer temporaries at once).  Its learning rate and weight decay are 0, so a real
module's weights do not change; the operators it runs, hence the memory, are the same as with any
non-zero values (AdamW's decay is an in-place multiply).

Precisions (``PRECISIONS``):

- ``fp32``: fp32 weights, gradients and states.
- ``bf16``: pure bf16: weights, gradients and optimizer states in bf16 (the module is cast).
- ``amp``: torch.autocast (PyTorch AMP): fp32 weights, gradients and states; the forward's ops in bf16 or
  fp32 as autocast casts them (``counting.autocast``), so saved activations are in the dtypes it saves.
- ``mixed``: the Megatron-LM / DeepSpeed layout (Rajbhandari et al. 2020, "ZeRO", section 3.1): bf16
  weights and gradients used by forward and backward, an fp32 master copy of the weights and fp32 Adam
  states (2 + 2 + 4 + 8 = 16 bytes per parameter with Adam); the bf16 gradients are copied into fp32
  master gradients (freed one by one), the optimizer steps the masters, the bf16 weights are copied back.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch.utils._pytree import tree_flatten

PRECISIONS = ("fp32", "bf16", "mixed", "amp")
OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass
class StepMemory:
    """Bytes measured over one step.  ``step_peak_bytes``: the peak of what the step itself allocates
    (activations, gradients, temporaries); ``persistent_bytes`` were alive before and after it."""

    weights_bytes: int
    master_weights_bytes: int
    optimizer_states_bytes: int
    gradients_bytes: int
    forward_peak_bytes: int
    step_peak_bytes: int
    peak_phase: str  # forward | backward | optimizer
    backward_peak_bytes: int = 0  # the step's peak through forward and backward
    optimizer_start_bytes: int = 0  # what the step holds when the optimizer starts (gradients, the output)
    forward_tensors_peak_bytes: int = 0  # forward_peak_bytes without kernel workspaces (counting.workspace)
    optimizer_transient_bytes: int = 0  # the optimizer phase's own peak above that (fp32 master grads, temporaries)

    @property
    def persistent_bytes(self) -> int:
        return self.weights_bytes + self.master_weights_bytes + self.optimizer_states_bytes

    @property
    def peak_bytes(self) -> int:
        return self.persistent_bytes + self.step_peak_bytes


def _nbytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        key = t.untyped_storage()._cdata
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


def make_optimizer(name: str, params: list):
    """torch's optimizer NAME over PARAMS with its states already allocated (the steady state)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.0, foreach=True)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    opt = cls(params, lr=0.0, weight_decay=0.0, foreach=True)
    for p in params:  # the states torch's _init_group creates on the first step (its own layout)
        opt.state[p] = {"step": torch.tensor(0.0, dtype=torch.float32),
                        "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
    return opt


def run_step(module, args: tuple, kwargs: dict, mode, *, optimizer: str, precision: str, begin_backward,
             end_backward, forward_ctx=None) -> tuple[StepMemory, object]:
    """Run one step of MODULE under the counting MODE (already entered).  BEGIN_BACKWARD/END_BACKWARD switch
    the mode's FLOP phase around ``loss.backward()``.  Returns (memory, the forward's output)."""
    tracker = mode.storage
    params = [p for p in module.parameters() if p.requires_grad]
    masters = [p.detach().to(torch.float32) for p in params] if precision == "mixed" else []
    for m in masters:
        m.requires_grad_(True)
    opt = make_optimizer(optimizer, masters or params)
    states = [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    weights = [*module.parameters(), *module.buffers()]
    tracker.adopt([*weights, *masters, *states])
    for p in params:
        p.grad = None
    tracker.reset_peak()

    with forward_ctx or contextlib.nullcontext():
        out = module(*args, **kwargs)
    forward_peak = tracker.peak
    forward_tensors_peak = tracker.tensor_peak
    leaves = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad]
    if not leaves:
        from mlcost.errors import UsageError
        raise UsageError("--training: no model output depends on a trainable parameter")
    mode.phase = None  # the loss reduction is not the model's
    loss = sum(t.sum() for t in leaves)
    begin_backward()
    loss.backward()
    end_backward()
    mode.phase = None  # nor is the optimizer's step
    del loss, leaves
    backward_peak = tracker.peak
    grads_bytes = _nbytes([p.grad for p in params if p.grad is not None])
    tracker.reset_peak()  # the optimizer phase's own peak, from what is alive now
    opt_start = tracker.current
    with torch.no_grad():
        for p, m in zip(params, masters):  # bf16 gradient -> fp32 master gradient, freed as it goes
            m.grad = p.grad.to(torch.float32) if p.grad is not None else None
            p.grad = None
        opt.step()
        for p, m in zip(params, masters):
            p.copy_(m)
    opt_peak = tracker.peak
    step_peak = max(backward_peak, opt_peak)
    for p in (*params, *masters):
        p.grad = None
    phase = "forward" if step_peak == forward_peak else "backward" if step_peak == backward_peak else "optimizer"
    transient = opt_peak - opt_start
    mem = StepMemory(
        weights_bytes=_nbytes(weights), master_weights_bytes=_nbytes(masters), optimizer_states_bytes=_nbytes(states),
        gradients_bytes=grads_bytes, forward_peak_bytes=forward_peak, step_peak_bytes=step_peak, peak_phase=phase,
        forward_tensors_peak_bytes=forward_tensors_peak,
        backward_peak_bytes=backward_peak, optimizer_start_bytes=opt_start,
        optimizer_transient_bytes=transient)
    return mem, out
