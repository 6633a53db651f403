"""Bounds on the work an ONNX file can ask for, each worked out before the work is done.

``inlined_node_count``: the graph's size after inlining local functions (functions calling functions
multiply: a 2 KB file can inline to billions of nodes).  ``fold_size_ok``: whether constant-folding one
node stays within ``limits.FOLD_MAX_ELEMENTS``, judged from its inputs (``Range(0, 1e12)`` or
``ConstantOfShape([1e6, 1e6])`` is refused before numpy allocates it).
"""
from __future__ import annotations

import math
from typing import Any

from mlcost import limits
from mlcost.errors import InputError

_FOLD_MAX_ELEMENTS = limits.FOLD_MAX_ELEMENTS


def inlined_node_count(model: Any, where: str = "model") -> int:
    """Nodes the graph would have once every call of a local function is inlined (subgraphs included),
    computed from the call structure without inlining: each function's size is worked out once, so
    functions that call each other many times over cost nothing to measure.  A recursive function is an error."""
    funcs = {(f.domain, f.name): f for f in model.functions}
    sizes: dict[tuple[str, str], int] = {}
    active: set[tuple[str, str]] = set()
    cap = limits.MAX_INLINED_NODES + 1

    def nodes_size(nodes: Any) -> int:
        total = 0
        for node in nodes:
            key = (node.domain, node.op_type)
            total += function_size(key) if key in funcs else 1
            for a in node.attribute:
                for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    total += nodes_size(g.node)
            if total > cap:
                return cap
        return total

    def function_size(key: tuple[str, str]) -> int:
        if key not in sizes:
            if key in active:
                raise InputError(f"{where}: local function {key[1]!r} calls itself; ONNX functions cannot recurse")
            active.add(key)
            sizes[key] = nodes_size(funcs[key].node)
            active.discard(key)
        return sizes[key]

    return nodes_size(model.graph.node)


# Ops folded only when a bound on their output size is known before they run (shape arithmetic).
_FOLD_SAME_SIZE = frozenset({"Identity", "Cast", "CastLike", "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Reciprocal", "Sign",
                             "Not", "Relu", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice",
                             "Softmax", "Exp", "Log", "Round", "Sigmoid", "Tanh"})
_FOLD_BROADCAST = frozenset({"Add", "Sub", "Mul", "Div", "Mod", "Pow", "Equal", "Less", "LessOrEqual", "Greater",
                             "GreaterOrEqual", "And", "Or", "Xor", "Where", "Max", "Min", "Sum", "Mean", "BitShift"})
_FOLD_REDUCE = frozenset({"ReduceProd", "ReduceSum", "ReduceMin", "ReduceMax", "ReduceMean", "ArgMax", "ArgMin",
                          "Size", "NonZero"})


def fold_size_ok(node: Any, known: dict[str, Any]) -> bool:
    """Whether NODE's outputs, evaluated on the KNOWN input values, stay within the folding limit, judged
    from the inputs alone (Range from its bounds, ConstantOfShape/Expand/Tile from their shape inputs).
    An op with no such bound is not folded (left to shape inference)."""
    import numpy as np

    ins = [known.get(n) if n else None for n in node.input]
    sizes = [int(np.asarray(v).size) for v in ins if v is not None]
    cap = _FOLD_MAX_ELEMENTS
    op = node.op_type
    try:
        if op == "Constant":
            for a in node.attribute:
                dims = a.sparse_tensor.dims if a.name == "sparse_value" else a.t.dims if a.name == "value" else None
                if dims is not None and math.prod(dims) > cap:
                    return False
            return True
        if op in _FOLD_SAME_SIZE or op in _FOLD_REDUCE:
            return max(sizes, default=0) <= cap
        if op in _FOLD_BROADCAST:
            shapes = [np.shape(v) for v in ins if v is not None]
            return math.prod(np.broadcast_shapes(*shapes)) <= cap if shapes else True
        if op == "Concat":
            return sum(sizes) <= cap
        if op == "Gather":
            return len(ins) == 2 and sizes[0] * max(sizes[1], 1) <= cap
        if op == "Range":
            start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in ins[:3])
            return delta != 0 and math.isfinite(start + limit + delta) and math.ceil((limit - start) / delta) <= cap
        if op == "ConstantOfShape":
            dims = [int(d) for d in np.asarray(ins[0]).reshape(-1)]
            return all(d >= 0 for d in dims) and math.prod(dims) <= cap
        if op == "Expand":
            dims = [int(d) for d in np.asarray(ins[1]).reshape(-1)]
            return all(d >= 0 for d in dims) and math.prod(np.broadcast_shapes(np.shape(ins[0]), tuple(dims))) <= cap
        if op == "Tile":
            reps = [int(r) for r in np.asarray(ins[1]).reshape(-1)]
            return all(r >= 0 for r in reps) and sizes[0] * math.prod(reps) <= cap
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
        return False
    return False
