"""Torch dispatch backend: counts every aten call of a real run (meta or CPU) with the shared
formula registry, attributes it to modules (torch's ModuleTracker, forward and backward),
tracks live activation storages (bytes) and, for training, the tensors autograd saves.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.module_tracker import ModuleTracker

from mlcost.counting import bytes as _bytes
from mlcost.counting import deferred_imports
from mlcost.counting import workspace as _workspace
from mlcost.counting.formulas import LISTED_FREE, TS, canonical, is_listed, lookup
from mlcost.counting import fused as _fused
from mlcost.counting.storage import StorageTracker

_ROOT = "@"


@dataclass
class PhaseCounts:
    """Counts of one phase (forward or backward): per op [calls, macs, other_flops], per module subtree."""

    ops: dict[str, list[int]] = field(default_factory=dict)
    mod_macs: Counter = field(default_factory=Counter)
    mod_flops: Counter = field(default_factory=Counter)  # FLOPs = 2*MACs + other
    unsupported: Counter = field(default_factory=Counter)  # (op, innermost module) -> calls
    calls: list = field(default_factory=list)  # every call with its bytes (counting.bytes.Call), in order
    name: str = "forward"

    def add(self, op: str, macs: int, other: int, modules: list[str]) -> None:
        row = self.ops.setdefault(op, [0, 0, 0])
        row[0] += 1
        row[1] += macs
        row[2] += other
        for m in modules:
            self.mod_macs[m] += macs
            self.mod_flops[m] += 2 * macs + other


def _leaves(x) -> list:
    """The tensors in an aten call's arguments or result (a tensor, nested tuples/lists, a kwargs dict):
    what pytree's tree_flatten finds among them, without its generic per-node machinery (it ran several
    times per dispatched op)."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in ((v,) if isinstance(v, torch.Tensor) else _leaves(v))]
    if isinstance(x, dict):
        return _leaves(list(x.values()))
    return []


def _ts(v):
    if isinstance(v, torch.Tensor):
        return TS(tuple(int(s) for s in v.shape), str(v.dtype).removeprefix("torch."), _bytes.strided_bytes(v),
                  v.requires_grad)
    if isinstance(v, (list, tuple)):
        return [_ts(x) for x in v]
    return v


def _schema_args(func, args, kwargs) -> list:
    try:
        schema = func._schema.arguments
    except AttributeError:
        return [_ts(a) for a in args]
    out = []
    for i, a in enumerate(schema):
        if i < len(args):
            v = args[i]
        elif a.name in kwargs:
            v = kwargs[a.name]
        else:
            v = a.default_value if a.has_default_value() else None
        out.append(_ts(v))
    return out


# torch functions counted whole (their aten decomposition differs by device: F.linear is addmm on a 2-D
# input, view + mm elsewhere, t + matmul on meta), with their arg names; the jit trace (fvcore) records
# the same names, so operator rows read alike on every torch backend
_WHOLE = {
    F.linear: ("aten::linear", ("input", "weight", "bias")),
    F.scaled_dot_product_attention: ("aten::scaled_dot_product_attention",
                                     ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")),
    F.rms_norm: ("aten::rms_norm", ("input", "normalized_shape", "weight", "eps")),
    torch.rms_norm: ("aten::rms_norm", ("input", "normalized_shape", "weight", "eps")),
}


class CountingMode(TorchDispatchMode):
    """Counts FLOPs/MACs per op and module; tracks peak bytes of storages created under it."""

    def __init__(self, tracker: ModuleTracker):
        super().__init__()
        self.tracker = tracker
        self.phase: PhaseCounts | None = PhaseCounts()
        self.suppress = 0  # >0 inside a function already counted whole
        self.storage = StorageTracker()  # live bytes by storage lifetime (params, buffers, inputs excluded)
        self._cache: dict = {}
        self.owner: str | None = None  # backward: the whole function whose autograd node is running
        self.planner = None  # counting.workspace.Planner: one kernel backend's private buffers (None: tensors only)

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """False: run __torch_dispatch__ as plain Python.  TorchDispatchMode otherwise wraps it in
        torch._disable_dynamo, whose first call imports torch._dynamo (~1 s, with sympy) only to keep
        torch.compile out of a mode that never runs under it.  The hook is torch's own documented opt-out
        (TorchDispatchMode._should_skip_dynamo); where a torch lacks it, it is unused and nothing changes."""
        return False

    def modules(self) -> list[str]:
        """The running module and all its ancestors: a subtree's count always covers its children's, even
        where torch's tracker lost a parent (a module called twice: its second call's backward pops it)."""
        names = {""}
        for p in self.tracker.parents:
            if p.startswith(_ROOT + "."):
                parts = p[2:].split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return sorted(names)

    def record(self, op: str, formula, args: list, outs: list) -> None:
        mods = self.modules()
        inner = max(mods, key=lambda m: (m.count(".") if m else -1, len(m)))
        if formula is None:
            self.phase.unsupported[(op, inner)] += 1
            self.record_bytes(op, args, outs, inner)  # its traffic is still known; its FLOPs are not (0 here)
            return
        macs, other = formula(args, outs)
        if is_listed(op, macs, other):
            self.phase.add(op, int(macs), int(other), mods)
        self.record_bytes(op, args, outs, inner, macs, other)

    def record_bytes(self, op: str, args: list, outs: list, module: str | None = None, macs: int = 0,
                     other: int = 0) -> None:
        """One call's bytes moved (counting.bytes), beside its FLOPs, for the roofline."""
        if module is None:
            mods = self.modules()
            module = max(mods, key=lambda m: (m.count(".") if m else -1, len(m)))
        self.phase.calls.append(_bytes.make_call(op, module, self.phase.name, macs, other, args, outs))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs_t = None
        ws = hit = None
        if self.planner is not None or (self.phase is not None and not self.suppress):
            hit = self._cache.get(func)
            if hit is None:
                hit = self._cache[func] = lookup(str(func.name() if hasattr(func, "name") else func))
        if self.planner is not None:
            ws = self.planner.of(hit[0], func, args, kwargs, out)  # the kernel's private buffers, if it has any
        if self.phase is not None and not self.suppress:
            op, formula = hit
            if self.owner is not None:  # a whole function's backward files under its forward's row
                op = self.owner
            if formula is None or formula.__name__ != "_zero" or op in LISTED_FREE:  # embedding: a 0-cost row
                outs_t = _leaves(out)
                self.record(op, formula, _schema_args(func, args, kwargs), [_ts(t) for t in outs_t])
            elif not getattr(func, "is_view", False) and op not in _bytes.VIEW_OPS:  # a copy: 0 FLOPs, bytes moved
                outs_t = _leaves(out)
                self.record_bytes(op, _schema_args(func, args, kwargs), [_ts(t) for t in outs_t])
        self._track(args, kwargs, out, outs_t, ws)
        return out

    def _track(self, args, kwargs, out, outs: list | None = None, ws=None) -> None:
        # OUTS: the result's tensors, when __torch_dispatch__ already found them; WS: the kernel's workspace
        if ws is not None:
            self.storage.kernel(ws.before)
        self.storage.add_outputs(_leaves((args, kwargs)), outs if outs is not None else _leaves(out),
                                 ws.outputs if ws is not None else None)
        if ws is not None:
            self.storage.kernel_after(ws.during)

    @property
    def peak(self) -> int:
        return self.storage.peak


class WholeFunctions(TorchFunctionMode):
    """Counts linear / SDPA / rms_norm as one op each, so meta, CPU and the jit graph all agree."""

    def __init__(self, mode: CountingMode):
        super().__init__()
        self.mode = mode

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        spec = _WHOLE.get(func)
        if spec is None and getattr(func, "__name__", None) in _workspace.NATIVE_RNNS \
                and func is getattr(torch._C._VariableFunctions, func.__name__, None):
            planner = self.mode.planner
            if func.__name__ == "lstm" and not kwargs:
                if _workspace.cpu_lstm_applies(planner, args):
                    return _workspace.cpu_lstm(*args)  # the oneDNN LSTM's own tensors, as the CPU run makes them
                if _workspace.native_lstm_applies(args):
                    return _workspace.native_lstm(*args)  # ATen's CPU branch, not the per-step one meta would take
            if planner is not None:
                planner.note(_workspace.NATIVE_RNNS[func.__name__], "the CPU's native recurrent kernel: not planned")
        if spec is None or self.mode.phase is None or self.mode.suppress:
            return func(*args, **kwargs)
        self.mode.suppress += 1
        try:
            out = _fused.meta_sdpa(args, kwargs) if func is F.scaled_dot_product_attention else None
            if out is None:
                out = func(*args, **kwargs)
        finally:
            self.mode.suppress -= 1
        name, params = spec
        norm = [_ts(args[i]) if i < len(args) else _ts(kwargs.get(p)) for i, p in enumerate(params)]
        op, formula = lookup(name)
        self.mode.record(op, formula, norm, [_ts(out)] if isinstance(out, torch.Tensor) else [])
        if isinstance(out, torch.Tensor) and out.grad_fn is not None:
            _own_backward(self.mode, op, out, (*args, *kwargs.values()))
        return out


def _own_backward(mode: CountingMode, op: str, out, inputs) -> None:
    """File the backward of one whole-function call under OP: hooks on the autograd nodes the call
    created (from OUT's grad_fn back to, not including, the nodes its inputs came from) name the
    backward ops they run.  So linear's grad mm/sum read as aten::linear, and SDPA's backward is one
    row whether it ran fused (CPU) or decomposed (meta): forward and backward rows agree by name."""
    stop = {id(t.grad_fn) for t in inputs if isinstance(t, torch.Tensor) and t.grad_fn is not None}
    todo, seen = [out.grad_fn], set()

    def enter(*_):
        mode.owner = op

    def leave(*_):
        mode.owner = None

    while todo:
        node = todo.pop()
        if node is None or id(node) in stop or id(node) in seen or type(node).__name__ == "AccumulateGrad":
            continue
        seen.add(id(node))
        node.register_prehook(enter)
        node.register_hook(leave)
        todo.extend(fn for fn, _ in node.next_functions)


class _BackwardTracker(ModuleTracker):
    """ModuleTracker whose backward attribution stays a chain of ancestors.

    torch leaves a module "entered" in backward until the gradient of its *inputs* is ready.  Two
    siblings that read the same tensor (wq/wk/wv, w1/w3) both wait for its full gradient, and a module
    whose inputs need no gradient (an embedding) never leaves at all, so later modules' backward ops
    were also filed under them.  When a module's backward begins, every entered module that is not
    its ancestor (or its descendant: a last layer shares its output with its parent) has finished: drop it.
    """

    paused = False  # checkpointing's recompute: its grad hooks would never fire and keep the rerun alive

    def _fw_pre_hook(self, mod, input) -> None:
        if not self.paused:
            super()._fw_pre_hook(mod, input)

    def _fw_post_hook(self, mod, input, output) -> None:
        if not self.paused:
            super()._fw_post_hook(mod, input, output)

    def _get_append_fn(self, name, is_bw):
        append = super()._get_append_fn(name, is_bw)
        if not is_bw:
            return append

        def fn(*args) -> None:
            for entered in list(self.parents):
                related = entered == name or name.startswith(entered + ".") or entered.startswith(name + ".")
                if entered != "Global" and not related:
                    self.parents.discard(entered)
            append(*args)

        return fn


def _storage_ids(tensors) -> set[int]:
    return {t.untyped_storage()._cdata for t in tensors if isinstance(t, torch.Tensor)}


@dataclass
class DispatchResult:
    forward: PhaseCounts
    backward: PhaseCounts | None
    activations_peak_bytes: int
    saved: dict[int, tuple[int, int, bool]] | None  # storage id -> (nbytes, itemsize, is_float)
    step: object | None = None  # training_step.StepMemory of the measured training step
    recompute: PhaseCounts | None = None  # --checkpointing: the forward ops backward reran
    checkpointing: dict | None = None
    workspace: dict | None = None  # counting.workspace.Planner.summary(): which kernel workspaces are in the peaks


def run(module, args: tuple, kwargs: dict, *, training: bool = False, optimizer: str = "adam",
        precision: str = "fp32", checkpointing: bool = False, amp_ops: str = "cuda",
        workspace: str = "none") -> DispatchResult:
    """Run the module once under the counting mode (and, when training, a whole optimizer step).
    WORKSPACE: whose kernel workspaces the peaks include (counting.workspace: none, or cpu)."""
    tracker = _BackwardTracker()
    for name, m in module.named_modules():
        tracker._known_modules[m] = _ROOT + ("." + name if name else "")
        tracker._seen_modules.add(m)
    mode = CountingMode(tracker)
    if workspace != "none":
        mode.planner = _workspace.Planner(workspace)
    weights = list(module.parameters()) + list(module.buffers())
    mode.storage.known = _storage_ids(weights) | _storage_ids(tree_flatten((args, kwargs))[0])
    saved: dict[int, tuple[int, int, bool]] = {}

    def pack(t):
        st = t.untyped_storage()
        key = st._cdata
        if key not in param_ids and key not in saved:
            saved[key] = (mode.storage.nbytes(key, st.nbytes()), t.element_size(), t.is_floating_point())
        return t

    param_ids = _storage_ids(weights)
    backward = step = recompute = ckpt_info = None
    fwd = mode.phase
    with deferred_imports(), tracker, mode, WholeFunctions(mode):
        amp = None
        if precision == "amp":
            from mlcost.counting.autocast import forward_under

            amp = forward_under(torch.bfloat16, amp_ops)  # autocast's op lists of AMP_OPS (cuda, or cpu for tests)
        if not training:
            with torch.no_grad(), amp or contextlib.nullcontext():
                out = module(*args, **kwargs)
            forward_peak = mode.peak
            tensors_peak = mode.storage.tensor_peak
        else:
            from mlcost.counting.training_step import run_step

            def begin_backward():
                nonlocal backward
                mode.phase = backward = PhaseCounts(name="backward")

            recompute = PhaseCounts(name="recompute") if checkpointing else None
            with contextlib.ExitStack() as stack:
                if checkpointing:
                    from mlcost.counting import checkpointing as ckpt

                    ckpt_info = stack.enter_context(ckpt.enabled(module, lambda: _phase(mode, recompute)))
                stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t))
                step, out = run_step(module, args, kwargs, mode, optimizer=optimizer, precision=precision,
                                     begin_backward=begin_backward, end_backward=lambda: None, forward_ctx=amp)
            mode.phase = fwd
            forward_peak = step.forward_peak_bytes  # activations_peak_bytes is the forward's
            tensors_peak = step.forward_tensors_peak_bytes
    del out
    mode.storage.close()
    return DispatchResult(fwd, backward, forward_peak, saved if training else None, step, recompute, ckpt_info,
                          mode.planner.summary(tensors_peak) if mode.planner is not None else None)


@contextlib.contextmanager
def _phase(mode: CountingMode, phase: PhaseCounts):
    """Count what runs inside into PHASE (checkpointing's recompute), then go back."""
    prev, mode.phase = mode.phase, phase
    mode.tracker.paused = True
    try:
        # backward (where the rerun happens) may run outside the forward's torch-function mode: without it SDPA
        # would decompose, save other tensors than the forward did, and checkpoint refuses the rerun
        with WholeFunctions(mode):
            yield
    finally:
        mode.phase = prev
        mode.tracker.paused = False


__all__ = ["run", "DispatchResult", "PhaseCounts", "canonical"]
