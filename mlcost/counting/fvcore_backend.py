"""fvcore backend: fvcore's jit-graph walker with mlcost's own handles for every op.

fvcore counts a fused multiply-add as one "flop"; here every handle comes from the shared
formula registry, and MACs and other FLOPs are kept apart in the returned counters, so the
MAC -> FLOP conversion (x2) happens once, in ``run``.  Unknown ops become unsupported rows.
"""
from __future__ import annotations

import warnings
from collections import Counter

from mlcost.counting.dispatch import PhaseCounts
from mlcost.counting.formulas import ALIASES, FORMULAS, KNOWN_FREE, MAC_OPS, TS, canonical, is_listed

_SEP = "\t"


def _value(v):
    """A jit Value -> TS (tensor), list of TS (tensor list) or its constant Python value."""
    import torch

    t = v.type()
    if isinstance(t, torch._C.TensorType):
        sizes = t.sizes()
        dtype = t.scalarType()
        return TS(tuple(int(s) for s in sizes), (dtype or "float").lower()) if sizes is not None else None
    if isinstance(t, torch._C.ListType):
        node = v.node()
        if node.kind() == "prim::ListConstruct":  # tensor lists (einsum) and int lists (kernel sizes)
            return [_value(i) for i in node.inputs()]
    try:
        return v.toIValue()
    except Exception:  # a non-constant scalar (e.g. from aten::size): formulas do not need it
        return None


_INTEGER = {"long", "int", "short", "char", "byte", "bool"}


def _shape_arithmetic(args: list, outs: list) -> bool:
    """True for integer scalar arithmetic (``d // n_heads`` on traced sizes): jit records it as aten ops
    on 0-dim tensors, while eager (the dispatch backend) does it in Python ints.  It is not model work."""
    tensors = [a for a in args if isinstance(a, TS)] + outs
    return bool(outs) and all(t.shape == () and t.dtype in _INTEGER for t in tensors)


def _handle(op: str, formula):
    def handle(inputs, outputs):
        args = [_value(v) for v in inputs]
        outs = [o for o in (_value(v) for v in outputs) if isinstance(o, TS)]
        if op not in MAC_OPS and _shape_arithmetic(args, outs):
            return Counter()
        macs, other = formula(args, outs)
        if not is_listed(op, macs, other):
            return Counter()
        return Counter({f"{op}{_SEP}calls": 1, f"{op}{_SEP}macs": int(macs), f"{op}{_SEP}other": int(other)})
    return handle


def _raw_names(op: str) -> list[str]:
    base = op.split("::", 1)[1]
    names = [op, op + "_"] + [f"aten::{a}" for a, t in ALIASES.items() if t == base]
    return names


def run(module, args: tuple) -> PhaseCounts:
    """Trace ``module(*args)`` with fvcore; raises whatever jit tracing raises."""
    from fvcore.nn import FlopCountAnalysis

    fca = FlopCountAnalysis(module, args)
    fca.clear_op_handles()
    fca._ignored_ops = {n for op in KNOWN_FREE for n in _raw_names(op)}
    for op, formula in FORMULAS.items():
        if op not in KNOWN_FREE:
            for raw in _raw_names(op):
                fca.set_op_handle(raw, _handle(op, formula))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = fca._analyze()

    counts = PhaseCounts()
    for name, c in stats.counts.items():
        macs = sum(v for k, v in c.items() if k.endswith(_SEP + "macs"))
        other = sum(v for k, v in c.items() if k.endswith(_SEP + "other"))
        counts.mod_macs[name] = macs
        counts.mod_flops[name] = 2 * macs + other  # fvcore's "flop" is a MAC: converted here, once
        if name == "":
            for k, v in c.items():
                op, _, what = k.partition(_SEP)
                row = counts.ops.setdefault(op, [0, 0, 0])
                row[{"calls": 0, "macs": 1, "other": 2}[what]] += int(v)
    # fvcore files an unsupported op under every ancestor; keep it at its innermost module only
    uns = stats.unsupported_ops
    for name, c in uns.items():
        own = Counter(c)
        prefix = name + "." if name else ""
        for child in uns:
            if child != name and child.startswith(prefix) and "." not in child[len(prefix):]:
                own.subtract(uns[child])
        for op, n in own.items():
            if n > 0:
                counts.unsupported[(canonical(op), name)] += n
    return counts
