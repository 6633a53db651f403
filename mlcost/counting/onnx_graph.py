"""Walk a shape-inferred ONNX graph: parameters from initializers, MACs/FLOPs per node, module tree.

Units: counts of elements, MACs and FLOPs (1 MAC = 2 FLOPs), bytes.  Node names exported from
PyTorch carry the module scope ("/layer1/layer1.0/conv1/Conv" -> module "layer1.0.conv1"); nodes
are grouped into that tree so per-module rows line up with the PyTorch path's.
"""
from __future__ import annotations

import ast
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from mlcost import limits
from mlcost.counting import onnx_ops
from mlcost.counting.bytes import BYTES_POLICY, Call, compute_dtype, onnx_call_bytes, tensor_bytes
from mlcost.counting.formulas import TS
from mlcost.results import MemoryStats, ModuleRow, OperatorRow, ParamStats, UnsupportedOp

# TensorProto.DataType -> (name, bits per element)
_DTYPES = {
    1: ("float32", 32), 2: ("uint8", 8), 3: ("int8", 8), 4: ("uint16", 16), 5: ("int16", 16), 6: ("int32", 32),
    7: ("int64", 64), 8: ("string", 0), 9: ("bool", 8), 10: ("float16", 16), 11: ("float64", 64),
    12: ("uint32", 32), 13: ("uint64", 64), 14: ("complex64", 64), 15: ("complex128", 128), 16: ("bfloat16", 16),
    17: ("float8_e4m3fn", 8), 18: ("float8_e4m3fnuz", 8), 19: ("float8_e5m2", 8), 20: ("float8_e5m2fnuz", 8),
    21: ("uint4", 4), 22: ("int4", 4), 23: ("float4_e2m1", 4), 24: ("float8_e8m0", 8), 25: ("uint2", 2), 26: ("int2", 2),
}
_FLOAT = {1, 10, 11, 16, 17, 18, 19, 20, 23, 24}
_QUANT = {2, 3, 21, 22, 25, 26}
# (op, input slot) pairs that hold quantized weights; a uint8/int8 tensor elsewhere is data, not a weight.
_QUANT_WEIGHT_SLOTS = {("DequantizeLinear", 0), ("QLinearConv", 3), ("QLinearMatMul", 3), ("MatMulInteger", 1),
                       ("ConvInteger", 1), ("MatMulNBits", 1), ("GatherBlockQuantized", 0)}
# Batch-norm running statistics are buffers, not parameters (as on the PyTorch path).
_BUFFER_SLOTS = {("BatchNormalization", 3), ("BatchNormalization", 4)}
# Inputs that play the part of attributes (sizes, scales, bounds): neither parameters nor buffers.
_HYPER_SLOTS = {("Resize", 1), ("Resize", 2), ("Resize", 3), ("Upsample", 1), ("Clip", 1), ("Clip", 2), ("Pad", 1),
                ("Pad", 2), ("Reshape", 1), ("Expand", 1), ("Tile", 1), ("Slice", 1), ("Slice", 2), ("Slice", 3),
                ("Slice", 4), ("ConstantOfShape", 0), ("Range", 0), ("Range", 1), ("Range", 2)}
_MICROSOFT = frozenset({"FusedMatMul", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "SkipLayerNormalization",
                        "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization", "MultiHeadAttention",
                        "GroupQueryAttention", "MatMulIntegerToFloat"})


def dtype_name(elem_type: int) -> str:
    return _DTYPES.get(int(elem_type), (f"onnx_dtype_{int(elem_type)}", 0))[0]


def _nbytes(count: int, elem_type: int) -> int:
    return -(-count * _DTYPES.get(int(elem_type), ("", 0))[1] // 8)


@dataclass
class Counted:
    params: ParamStats
    memory: MemoryStats
    flops: int
    macs: int
    by_module: tuple[ModuleRow, ...]
    by_operator: tuple[OperatorRow, ...]
    unsupported: tuple[UnsupportedOp, ...]
    assumptions: tuple[str, ...]
    conventions: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)
    calls: tuple = ()  # counting.bytes.Call per counted node, in graph order (the roofline's input)


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    elem_type: int
    source: str  # initializer | constant | alias
    alias_of: str | None = None
    uses: list[tuple[str, int]] = field(default_factory=list)  # (op, slot) of direct consumers
    aliased: bool = False  # an Identity node gives it another name
    first_module: str | None = None


def module_path(node_name: str) -> str:
    """'/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1'; '/h.0/attn/MatMul' -> 'h.0.attn'; 'Add_3' -> ''."""
    if isinstance(node_name, bytes):  # protobuf hands back invalid UTF-8 strings as bytes
        node_name = node_name.decode("utf-8", "replace")
    if not node_name.startswith("/"):
        return ""
    scopes = node_name.strip("/").split("/", limits.MAX_NAME_PARTS + 1)
    if len(scopes) > limits.MAX_NAME_PARTS or len(node_name) > limits.MAX_NAME_CHARS:
        limits.check_name(node_name.replace("/", "."), f"node {node_name[:40]!r}")  # raises, naming the bound
    path = ""
    for part in scopes[:-1]:
        if not part:
            continue
        # The exporter repeats the parent scope in a child's name ("layer1" / "layer1.0").
        path = part if path and part.startswith(path + ".") else (f"{path}.{part}" if path else part)
    return path


def node_module(node: Any) -> str:
    """The module a node came from: its '/scope/.../Op' name (TorchScript exporter), else the dynamo
    exporter's ``pkg.torch.onnx.name_scopes`` metadata (['', 'layer1', 'layer1.0', 'add'] -> 'layer1.0')."""
    mod = module_path(node.name)
    if mod or not node.metadata_props:
        return mod
    scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")
    if not scopes or len(scopes) > 10_000:
        return ""
    try:
        parts = ast.literal_eval(scopes)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return ""
    if isinstance(parts, list) and len(parts) >= 2 and all(isinstance(x, str) for x in parts):
        return parts[-2]
    return ""


def _rewrites(node: Any) -> str:
    return next((p.value for p in node.metadata_props if p.key == "pkg.onnxscript.rewriter.rule_name"), "")


def _folded_bn(node: Any, model: Any) -> str | None:
    """Which exporter folded an eval-mode BatchNorm into NODE, or None.  The dynamo exporter's onnxscript
    rewriter names its rule in the node metadata; torch's TorchScript-based exporter leaves no mark but the
    weight it computes, which gets a generated name (``onnx::Conv_12``) instead of the module's ``conv.weight``."""
    if "FuseBatchNormInto" in _rewrites(node):
        return "onnxscript FuseBatchNormIntoConv"
    if (node.op_type == "Conv" and model.producer_name == "pytorch" and len(node.input) >= 2
            and node.input[1].startswith("onnx::Conv_")):
        return "torch's TorchScript-based exporter, whose fused Conv weights are named onnx::Conv_*"
    return None


def _fused_module(node: Any, tensors: dict) -> str:
    """The convolution's module for a Conv that onnxscript fused with the BatchNorm after it: the dynamo
    exporter hands the fused node the BatchNorm's name scope, but its weight is still the convolution's
    initializer ('conv.weight' -> 'conv').  '' when the node is no such fusion."""
    if "FuseBatchNormInto" not in _rewrites(node) or len(node.input) < 2:
        return ""
    weight = node.input[1]
    t = tensors.get(weight)
    if t is None or t.source != "initializer" or not weight.endswith(".weight") or len(weight) > 1000:
        return ""
    return weight[: -len(".weight")]


def _shape_of(value: Any) -> tuple[int, ...] | None:
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in value.type.tensor_type.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _attrs(onnx: Any, node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            out[a.name] = "<graph>"
            continue
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return out


def count_graph(model: Any, onnx: Any, data_graph: Any = None) -> Counted:
    """Count MODEL (shape-inferred); DATA_GRAPH holds the initializer payloads when MODEL's are detached."""
    graph = model.graph
    shapes: dict[str, tuple[int, ...] | None] = {}
    types: dict[str, int] = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[value.name] = _shape_of(value)
        if value.type.HasField("tensor_type"):
            types[value.name] = value.type.tensor_type.elem_type

    tensors: dict[str, _Tensor] = {}
    for t in graph.initializer:
        tensors[t.name] = _Tensor(tuple(int(d) for d in t.dims), t.data_type, "initializer")
    for st in graph.sparse_initializer:
        tensors[st.values.name] = _Tensor(tuple(int(d) for d in st.dims), st.values.data_type, "initializer")
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            for a in node.attribute:
                if a.name in ("value", "sparse_value"):
                    t = a.t if a.name == "value" else a.sparse_tensor.values
                    dims = a.t.dims if a.name == "value" else a.sparse_tensor.dims
                    tensors[node.output[0]] = _Tensor(tuple(int(d) for d in dims), t.data_type, "constant")
        elif node.op_type == "Identity" and len(node.input) == 1 and node.input[0] in tensors and node.output:
            src = tensors[node.input[0]]
            src.aliased = True
            tensors[node.output[0]] = _Tensor(src.shape, src.elem_type, "alias", alias_of=node.input[0])
    for name, t in tensors.items():
        shapes.setdefault(name, t.shape)
        shapes[name] = t.shape
        types[name] = t.elem_type

    macs_total = flops_total = 0
    per_module: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # module -> [macs, flops] of its own nodes
    module_ops: dict[str, Counter] = defaultdict(Counter)
    op_rows: dict[str, list[int]] = {}  # op -> [calls, flops, macs]
    unsupported: Counter = Counter()
    free_ops: Counter = Counter()
    unknown_shape_nodes: list[str] = []
    order: list[str] = []
    bias_adds = 0
    fused_bn = [0, 0, 0]  # BatchNorms the exporter folded away: [layers, params, FLOPs]
    fused_by: set[str] = set()
    producers = {out: n.op_type for n in graph.node for out in n.output}
    calls: list = []

    def ts(name: str):
        shape = shapes.get(name) if name else None
        return TS(shape, dtype_name(types.get(name, 1))) if shape is not None else None

    def record(node, op_key: str, mod: str, cost, bias_only: bool = False) -> None:
        ins, outs = [ts(n) for n in node.input], [ts(n) for n in node.output]
        if bias_only:  # an exported linear/conv bias: fused into its producer, which reads the bias vector
            bias = next((t for n, t in zip(node.input, ins) if n in tensors and t is not None), None)
            read, written = (tensor_bytes(bias) if bias is not None else 0), 0
        else:
            table = node.op_type == "Gather" and bool(node.input) and node.input[0] in tensors
            read, written = onnx_call_bytes(node.op_type, ins, outs, gather_table=table)
        calls.append(Call(op_key, mod, "forward", cost.macs if cost else 0, cost.flops if cost else 0, read, written,
                          compute_dtype(ins)))

    for node in graph.node:
        op = node.op_type
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        mod = _fused_module(node, tensors) or node_module(node)
        if mod not in per_module:
            order.append(mod)
        per_module[mod]
        module_ops[mod][op] += 1
        is_alias = op == "Identity" and node.output and node.output[0] in tensors and tensors[node.output[0]].source == "alias"
        for slot, name in enumerate(node.input):
            if name in tensors and not is_alias:
                tensors[name].uses.append((op, slot))
                if tensors[name].first_module is None:
                    tensors[name].first_module = mod
        if op == "Constant" or is_alias:
            continue
        key = op if not domain else f"{domain}::{op}"
        if domain and not (domain == "com.microsoft" and op in _MICROSOFT):
            unsupported[(key, mod)] += 1
            continue
        ins = [shapes.get(n) if n else None for n in node.input]
        outs = [shapes.get(n) if n else None for n in node.output]
        try:
            cost = onnx_ops.node_cost(op, ins, outs, _attrs(onnx, node))
        except onnx_ops.ShapeUnknown:
            unsupported[(f"{key} (shape not inferred)", mod)] += 1
            unknown_shape_nodes.append(node.name or key)
            continue
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            from mlcost.errors import InputError

            raise InputError(f"node {node.name or key!r} ({key}): {exc}") from None
        if cost is None:
            unsupported[(key, mod)] += 1
            continue
        if op in onnx_ops.FREE_OPS:
            free_ops[op] += 1
            record(node, key, mod, None)
            continue
        if op == "Add" and _is_bias_add(node, producers, tensors):
            bias_adds += 1  # an exported nn.Linear/conv bias: not counted, as on the PyTorch path
            record(node, key, mod, None, bias_only=True)
            continue
        record(node, key, mod, cost)
        folded = _folded_bn(node, model)
        if folded and outs and outs[0] is not None and len(outs[0]) >= 2:
            # the exporter folded an eval-mode BatchNorm into this node: what the module path counts for it
            fused_by.add(folded)
            y = outs[0]
            bn = onnx_ops.node_cost("BatchNormalization", [y, (y[1],), (y[1],)], [y], {})
            fused_bn[0] += 1
            fused_bn[1] += 2 * y[1]  # weight and bias, one each per channel
            fused_bn[2] += bn.flops if bn else 0
        macs_total += cost.macs
        flops_total += cost.flops
        per_module[mod][0] += cost.macs
        per_module[mod][1] += cost.flops
        row = op_rows.setdefault(key, [0, 0, 0])
        row[0] += 1
        row[1] += cost.flops
        row[2] += cost.macs

    params, buffers, param_module, assumptions = _classify(tensors)
    tied = _tied_transposes(data_graph if data_graph is not None else graph, set(params))
    if tied:
        params = [p for p in params if p not in tied]
        assumptions.append(f"{len(tied)} initializer(s) are transposed copies of another parameter (a tied weight the "
                           f"exporter stored twice: {', '.join(f'{a} = {b}^T' for a, b in list(tied.items())[:3])}); "
                           "counted once")
    generated = [p for p in params if p.startswith("onnx::")]
    if generated:
        assumptions.append(f"{len(generated)} parameter tensor(s) carry exporter-generated names (onnx::*): constants "
                           "the exporter folded from parameters (a transposed weight, a slice of a position table), "
                           "so their sizes can differ from the source module's parameters")
    by_dtype: Counter = Counter()
    bytes_by_dtype: Counter = Counter()
    module_params: Counter = Counter()
    for name in params:
        t = tensors[name]
        n = math.prod(t.shape)
        by_dtype[dtype_name(t.elem_type)] += n
        bytes_by_dtype[dtype_name(t.elem_type)] += _nbytes(n, t.elem_type)
        module_params[param_module[name]] += n
    total = sum(by_dtype.values())
    buffer_bytes = sum(_nbytes(math.prod(tensors[b].shape), tensors[b].elem_type) for b in buffers)
    stored = sum(_nbytes(math.prod(t.shape), t.elem_type) for t in tensors.values() if t.source != "alias")

    by_module = _tree(order, per_module, module_ops, module_params)
    op_bytes: Counter = Counter()
    for c in calls:
        op_bytes[c.op] += c.bytes
    by_operator = tuple(OperatorRow(op, c, f, m, bytes=op_bytes[op])
                        for op, (c, f, m) in sorted(op_rows.items(), key=lambda kv: -kv[1][1]))
    unsupported_rows = tuple(UnsupportedOp(op, mod, n) for (op, mod), n in unsupported.items())
    assumptions += [
        "counted node by node on the ONNX graph after shape inference; Conv/Gemm bias adds are not MACs",
        "ops that only move data (Reshape, Transpose, Concat, Slice, Cast, ...) cost nothing; "
        "Gather (embedding lookup) costs 0 MACs and is listed",
    ]
    if bias_adds:
        assumptions.append(f"{bias_adds} Add node(s) adding a constant bias to a MatMul/Conv output are the bias of "
                           "an exported linear/conv layer and are not counted (the policy's fused bias)")
    if fused_bn[0]:
        assumptions.append(f"{fused_bn[0]} BatchNorm layer(s) were folded into the preceding Conv/Gemm by the exporter "
                           f"({'; '.join(sorted(fused_by))}): their {fused_bn[1]} parameters (weight and bias per "
                           f"channel) and {fused_bn[2]} FLOPs are not in this graph; the module counts them (less any bias the "
                           "fused Conv gained in their place)")
    if any(n.op_type in ("If", "Loop", "Scan") for n in graph.node):
        assumptions.append("control-flow subgraphs (If/Loop/Scan) are not counted; they are listed as unsupported")
    return Counted(
        params=ParamStats(total=total, trainable=total, by_dtype=dict(by_dtype), bytes_by_dtype=dict(bytes_by_dtype)),
        memory=MemoryStats(weights_bytes=sum(bytes_by_dtype.values()) + buffer_bytes,
                           activations_peak_bytes=_peak_activations(graph, shapes, types, tensors)),
        flops=flops_total,
        macs=macs_total,
        by_module=by_module,
        by_operator=by_operator,
        unsupported=unsupported_rows,
        assumptions=tuple(assumptions),
        conventions={**{k: v for k, v in onnx_ops.POLICY.items() if k != "backward"}, **BYTES_POLICY},
        details={
            "free_ops": dict(free_ops),
            "stored_initializer_bytes": stored,
            "buffers": len(buffers),
            "buffer_bytes": buffer_bytes,
            "unknown_shape_nodes": unknown_shape_nodes[:100],
        },
        calls=tuple(calls),
    )


def _is_bias_add(node: Any, producers: dict[str, str], tensors: dict[str, _Tensor]) -> bool:
    """Add(MatMul/Gemm/Conv output, constant of rank 1..): how the exporter writes a linear layer's bias."""
    if len(node.input) != 2:
        return False
    a, b = node.input
    for x, c in ((a, b), (b, a)):
        t = tensors.get(c)
        if producers.get(x) in ("MatMul", "Gemm", "Conv", "ConvTranspose") and t is not None and len(t.shape) == 1:
            return True
    return False


def _tied_transposes(graph: Any, names: set[str]) -> dict[str, str]:
    """{copy: original} for rank-2 float initializers whose data is another's transpose (tied weights).

    Only exporter-made copies (onnx::* names) can be the duplicate; only payloads in the file are
    compared (external data is never read); a 64-element probe rules most pairs out cheaply.
    """
    from onnx import numpy_helper

    by_shape: dict[tuple[int, ...], list[Any]] = defaultdict(list)
    for t in graph.initializer:
        if t.name in names and len(t.dims) == 2 and t.data_type in _FLOAT and t.data_location != 1 and t.dims[0] != t.dims[1]:
            by_shape[tuple(t.dims)].append(t)
    arrays: dict[str, Any] = {}

    def array(t: Any) -> Any:
        if t.name not in arrays:
            arrays[t.name] = numpy_helper.to_array(t)
        return arrays[t.name]

    tied: dict[str, str] = {}
    for shape, group in by_shape.items():
        for t in group:
            if not t.name.startswith("onnx::"):
                continue
            for o in by_shape.get(shape[::-1], []):
                if o.name in tied or o.data_type != t.data_type:
                    continue
                try:
                    a, b = array(t), array(o)
                    same = bool((a[0, :64] == b[:64, 0]).all()) and bool((a == b.T).all())
                except Exception:  # an unreadable payload is not provably tied: count both
                    same = False
                if same:
                    tied[t.name] = o.name
                    break
    return tied


def _classify(tensors: dict[str, _Tensor]) -> tuple[list[str], list[str], dict[str, str], list[str]]:
    """Which constant tensors are parameters: floating (or quantized-weight) tensors of rank >= 1.

    Not parameters: integer shape/index constants, scalars, batch-norm running statistics (buffers),
    and an initializer whose only uses go through Identity aliases (each alias is counted instead).
    """
    params, buffers, aliases = [], [], 0
    module: dict[str, str] = {}
    for name, t in tensors.items():
        if not t.shape or (t.source == "constant" and math.prod(t.shape) <= 1):
            continue  # scalars (and 1-element Constant nodes) are hyperparameters, not weights
        weight_use = [u for u in t.uses if u not in _BUFFER_SLOTS and u not in _HYPER_SLOTS]
        if t.elem_type in _FLOAT:
            is_weight = bool(weight_use) or (not t.uses and not t.aliased)
        elif t.elem_type in _QUANT:
            is_weight = any(u in _QUANT_WEIGHT_SLOTS for u in t.uses)
        else:
            continue
        if t.uses and not weight_use:
            if any(u in _BUFFER_SLOTS for u in t.uses):
                buffers.append(name)
        elif is_weight:
            params.append(name)
            module[name] = t.first_module or ""
            aliases += t.source == "alias"
    notes = []
    if aliases:
        notes.append(f"{aliases} parameter(s) are Identity aliases of equal-valued initializers (the torch exporter "
                     "stores equal tensors once); each alias counts as its own parameter, as in the source module")
    if buffers:
        notes.append(f"{len(buffers)} batch-norm running-statistics tensor(s) are buffers, not parameters")
    return params, buffers, module, notes


def _tree(order: list[str], own: dict[str, list[int]], ops: dict[str, Counter], params: Counter) -> tuple[ModuleRow, ...]:
    """Module rows for every dotted prefix, pre-order, each summing its own nodes and its descendants."""
    totals: dict[str, list[int]] = {"": [0, 0, 0]}
    first: list[str] = [""]
    for mod in order + [m for m in params if m not in own]:
        parts = limits.check_name(mod, f"module {mod[:40]!r}") if mod else []
        for i in range(len(parts) + 1):
            name = ".".join(parts[:i])
            if name not in totals:
                totals[name] = [0, 0, 0]
                first.append(name)
            limits.check_tree_rows(len(totals), "ONNX graph")
            macs, flops = own.get(mod, (0, 0))
            totals[name][0] += macs
            totals[name][1] += flops
            totals[name][2] += params.get(mod, 0)
    children: dict[str, list[str]] = defaultdict(list)
    for name in first[1:]:
        children[name.rpartition(".")[0]].append(name)
    rows: list[ModuleRow] = []
    stack = [""]
    while stack:
        name = stack.pop()
        kinds = ops.get(name) or Counter()
        leaf = len(kinds) == 1 and not children.get(name)
        kind = "graph" if not name else (next(iter(kinds)) if leaf else "group")
        macs, flops, p = totals[name]
        rows.append(ModuleRow(name, kind, name.count(".") + 1 if name else 0, p, flops, macs))
        stack.extend(reversed(children.get(name, [])))
    return tuple(rows)


def _peak_activations(graph: Any, shapes: dict, types: dict, tensors: dict[str, _Tensor]) -> int | None:
    """Peak bytes of live non-constant values, running nodes in file order; None when a shape is unknown."""
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for n in node.input:
            last_use[n] = i
    keep = {o.name for o in graph.output}

    def size(name: str) -> int | None:
        shape = shapes.get(name)
        if shape is None or name not in types:
            return None
        return _nbytes(math.prod(shape), types[name])

    live: dict[str, int] = {}
    for value in graph.input:
        if value.name not in tensors:
            s = size(value.name)
            if s is None:
                return None
            live[value.name] = s
    peak = sum(live.values())
    for i, node in enumerate(graph.node):
        for out in node.output:
            if out and out not in tensors:
                s = size(out)
                if s is None:
                    return None
                live[out] = s
        peak = max(peak, sum(live.values()))
        for n in set(node.input) | set(node.output):
            if n in live and n not in keep and last_use.get(n, -1) <= i:
                del live[n]
    return peak
