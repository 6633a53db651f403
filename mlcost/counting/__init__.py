"""Counting core: FLOPs, MACs, parameters and memory of a torch module without its weights.

``count_module`` is the one entry point; the fvcore and torch-dispatch backends share the
formula registry and policy in ``mlcost.counting.formulas`` (stated in ``Profile.conventions``).
Units: FLOPs and MACs are counts (1 MAC = 2 FLOPs), memory in bytes.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from mlcost.choices import Backend, values
from mlcost.errors import UnsupportedOperatorError, UsageError, raised_in_mlcost
from mlcost.results import InputSpec, MemoryStats, ModuleRow, OperatorRow, Profile, UnsupportedOp

BACKENDS = values(Backend)


def count_module(module, args: tuple = (), kwargs: dict | None = None, *, backend: str = "auto",
                 training: bool = False, optimizer: str = "adam", precision: str = "fp32",
                 strict: bool = False, model_name: str = "", model_format: str = "torch",
                 inputs: tuple[InputSpec, ...] = (), assumptions: tuple[str, ...] = (),
                 checkpointing: bool = False, workspace: str = "none") -> Profile:
    """Profile ``module(*args, **kwargs)`` (meta or real tensors) into a complete ``Profile``."""
    from mlcost.counting import dispatch
    from mlcost.counting.bytes import BYTES_POLICY
    from mlcost.counting.formulas import POLICY
    from mlcost.counting.memory import OPTIMIZER_STATE_BYTES, PRECISIONS, param_stats, training_memory, weights_bytes

    kwargs = dict(kwargs or {})
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if optimizer not in OPTIMIZER_STATE_BYTES:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATE_BYTES)}")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    from mlcost.counting.workspace import KINDS, assumption, neutral_summary

    if workspace not in KINDS:
        raise UsageError(f"unknown workspace {workspace!r}; choose one of {', '.join(KINDS)}")
    if checkpointing and not training:
        raise UsageError("--checkpointing trades memory for recompute in a training step: add --training")
    notes = list(assumptions)
    was_training = {m: m.training for m in module.modules()}
    module.train(training)  # eval for inference counts (batch-norm running stats), train for a step
    try:
        fv = None
        if backend == "fvcore":  # only on request: auto is the dispatch counter (same totals, rows, memory)
            reason = _fvcore_blocker(args, kwargs, training)
            if reason is None:
                try:
                    from mlcost.counting import fvcore_backend

                    fv = fvcore_backend.run(module, args)
                except Exception as exc:  # tracing failed: say why, in one line
                    if raised_in_mlcost(exc):  # a bug in mlcost's own handles is not a tracing failure
                        raise
                    reason = f"jit tracing failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"
            if fv is None:
                on_meta = any(t.is_meta for t in (*module.parameters(), *args) if hasattr(t, "is_meta"))
                raise UsageError(f"the fvcore backend cannot count this model: {reason}; use --backend torch"
                                 + (", or --device cpu (jit tracing fails on meta tensors for some ops, "
                                    "convolutions among them)" if on_meta else ""))
            notes.append("backend: fvcore (jit trace) with mlcost's operator handles")
        try:
            run_module, run_args, run_kwargs, cast_note = _cast_for_precision(module, args, kwargs, training, precision)
            if cast_note:
                notes.append(cast_note)
            dr = dispatch.run(run_module, run_args, run_kwargs, training=training, optimizer=optimizer,
                              precision=precision, checkpointing=checkpointing, workspace=workspace)
        except UsageError:
            raise
        except BaseException as exc:  # the model's own code, or torch on its inputs, raised (even SystemExit)
            from mlcost.errors import InputError

            if raised_in_mlcost(exc):  # ...unless mlcost's own code (a formula, the tracker) raised: ours, exit 70
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            hint = ""
            if "meta" in first.lower():  # e.g. .item() / a Python `if` on a tensor: meta tensors hold no values
                hint = ("; the meta device holds shapes, not values: a model that reads its tensors' values "
                        "(data-dependent control flow, .item()) needs real tensors (--device cpu)")
            raise InputError(f"the model failed to run on its inputs: {type(exc).__name__}: {first}{hint}") from exc
    finally:
        for m, flag in was_training.items():
            m.training = flag

    fwd = fv if fv is not None else dr.forward
    bwd = dr.backward
    unsupported = dict(fwd.unsupported)
    if bwd is not None:
        for key, n in bwd.unsupported.items():
            unsupported[(key[0] + " (backward)", key[1])] = n
    if strict and unsupported:
        names = ", ".join(f"{op} x{n} in {mod or '<root>'}" for (op, mod), n in sorted(unsupported.items()))
        raise UnsupportedOperatorError(f"operators with no FLOP formula (--strict): {names}")

    macs_f = sum(r[1] for r in fwd.ops.values())
    flops_f = sum(2 * r[1] + r[2] for r in fwd.ops.values())
    calls = tuple(dr.forward.calls) + (tuple(bwd.calls) if bwd is not None else ())
    op_bytes: dict[str, int] = {}
    for c in dr.forward.calls:
        op_bytes[c.op] = op_bytes.get(c.op, 0) + c.bytes
    ops = []
    for op, (ncalls, macs, other) in sorted(fwd.ops.items(), key=lambda kv: -(2 * kv[1][1] + kv[1][2])):
        fb = None
        if bwd is not None:
            b = bwd.ops.get(op)
            fb = 2 * b[1] + b[2] if b else 0
        ops.append(OperatorRow(op=op, calls=ncalls, flops=2 * macs + other, macs=macs, flops_backward=fb,
                               bytes=op_bytes.get(op)))
    if bwd is not None:  # backward-only ops (threshold_backward, mm, ...) get rows too: rows sum to totals
        for op, (_, macs, other) in sorted(bwd.ops.items()):
            if op not in fwd.ops:
                ops.append(OperatorRow(op=op, calls=0, flops=0, macs=0, flops_backward=2 * macs + other))

    flops_of = _with_uncalled_containers(module, fwd.mod_flops)
    macs_of = _with_uncalled_containers(module, fwd.mod_macs)
    back_of = _with_uncalled_containers(module, bwd.mod_flops) if bwd is not None else {}
    rows = []
    for name, m in module.named_modules():
        rows.append(ModuleRow(
            name=name, type=type(m).__name__, depth=name.count(".") + 1 if name else 0,
            params=sum(p.numel() for p in m.parameters()),
            flops=flops_of.get(name, 0), macs=macs_of.get(name, 0),
            flops_backward=back_of.get(name, 0) if bwd is not None else None))

    stats = param_stats(module)
    ws = dr.workspace or neutral_summary()
    mem = MemoryStats(weights_bytes=weights_bytes(module), activations_peak_bytes=dr.activations_peak_bytes,
                      workspace=ws)
    if training:
        peak, breakdown, note = training_memory(dr.step, dr.saved or {}, optimizer, precision, ws["kind"])
        mem = MemoryStats(mem.weights_bytes, mem.activations_peak_bytes, peak, breakdown, workspace=ws)
        notes.append(note)
    notes.append("activations_peak_bytes: peak bytes of tensors created and alive during one forward "
                 + ("with autograd recording (training)" if training else "under no_grad")
                 + ", measured on the module's device"
                 + (f", plus the kernel workspaces of --workspace {ws['kind']}" if ws["kind"] != "none" else ""))
    notes.append(assumption(ws))
    if unsupported:
        notes.append(f"{sum(unsupported.values())} call(s) of operators with no formula were not counted "
                     "(see unsupported_ops)")
    details = {}
    if dr.checkpointing is not None:
        rec = dr.recompute.ops.values() if dr.recompute is not None else ()
        details["checkpointing"] = {**dr.checkpointing, "recompute_flops": sum(2 * r[1] + r[2] for r in rec),
                                    "recompute_macs": sum(r[1] for r in rec)}
        notes.append(f"--checkpointing: {dr.checkpointing['how']}; backward reran "
                     f"{details['checkpointing']['recompute_flops']:,} forward FLOPs (details.checkpointing, measured; "
                     "not in flops_backward)")
    return Profile(
        model=model_name, format=model_format, backend="fvcore" if fv is not None else "torch",
        params=stats, memory=mem, flops_forward=flops_f, macs_forward=macs_f,
        flops_backward=(sum(2 * r[1] + r[2] for r in bwd.ops.values()) if bwd is not None else None),
        macs_backward=(sum(r[1] for r in bwd.ops.values()) if bwd is not None else None),
        inputs=tuple(inputs) or _specs(args, kwargs), by_module=tuple(rows), by_operator=tuple(ops),
        unsupported_ops=tuple(UnsupportedOp(op, mod, n) for (op, mod), n in sorted(unsupported.items())),
        assumptions=tuple(notes), conventions={**POLICY, **BYTES_POLICY}, training=training, calls=calls,
        details=details,
    )


def _cast_for_precision(module, args: tuple, kwargs: dict, training: bool, precision: str):
    """(module, args, kwargs, note) to train in PRECISION: bf16 and mixed train bf16 weights on bf16 inputs.
    A module in another float dtype is cast as a copy (the caller's module is never changed).  amp keeps the
    module as it is: autocast casts each op's inputs inside the run (fp32 weights, gradients and states)."""
    import copy

    import torch

    if not training or precision in ("fp32", "amp"):
        return module, args, kwargs, None
    floats = [p for p in module.parameters() if p.is_floating_point()]
    if all(p.dtype == torch.bfloat16 for p in floats):
        return module, args, kwargs, None
    twin = copy.deepcopy(module).to(torch.bfloat16)

    def cast(v):
        return v.to(torch.bfloat16) if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    return (twin, tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()},
            f"--precision {precision}: the model's floating weights and inputs were cast to bfloat16 for the step")


def _with_uncalled_containers(module, measured: dict) -> dict[str, int]:
    """Subtree totals per module name.  A container that is never called itself (an nn.ModuleList,
    an nn.ModuleDict) has no measured count: its row is the sum of its children's."""
    out: dict[str, int] = {}

    def visit(name: str, m) -> int:
        children = sum(visit(f"{name}.{c}" if name else c, child) for c, child in m.named_children())
        out[name] = int(measured[name]) if name in measured else children
        return out[name]

    visit("", module)
    return out


def _fvcore_blocker(args: tuple, kwargs: dict, training: bool) -> str | None:
    import torch

    if training:
        return "--training needs backward FLOPs, which only the torch dispatch backend measures"
    if kwargs:
        return "keyword inputs cannot be traced"
    if not args or not all(isinstance(a, torch.Tensor) for a in args):
        return "jit tracing needs positional tensor inputs"
    return None


def _specs(args: tuple, kwargs: dict) -> tuple[InputSpec, ...]:
    import torch

    out = [InputSpec(tuple(a.shape), str(a.dtype).removeprefix("torch.")) for a in args if isinstance(a, torch.Tensor)]
    out += [InputSpec(tuple(v.shape), str(v.dtype).removeprefix("torch."), k) for k, v in kwargs.items()
            if isinstance(v, torch.Tensor)]
    return tuple(out)


def param_stats(module):
    """ParamStats of an nn.Module (tied parameters once); for format loaders that have no graph."""
    from mlcost.counting.memory import param_stats as _ps

    return _ps(module)


@contextmanager
def deferred_imports() -> Iterator[None]:
    """Within this block torch's meta kernels (a count, or a model built on meta: ``nn.init`` runs them) import
    neither torch._dynamo nor sympy, torch's compiler stack, which they ask only for answers a run of concrete
    shapes outside torch.compile knows (``counting.lazy_dynamo``, ``counting.lazy_sympy``)."""
    from mlcost.counting import lazy_dynamo, lazy_sympy

    with lazy_dynamo.deferred(), lazy_sympy.deferred():
        yield


__all__ = ["count_module", "deferred_imports", "param_stats", "BACKENDS"]
