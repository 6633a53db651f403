"""ONNX models: load the graph (never external-data payloads), bind dynamic dims, infer shapes, count.

``profile_file(path, opts) -> Profile`` (format "onnx", backend "onnx").  Counting lives in
``mlcost.counting.onnx_graph`` (the walk) and ``mlcost.counting.onnx_ops`` (per-node formulas).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlcost import limits
from mlcost.errors import InputError, UnsupportedOperatorError, UsageError, import_optional
from mlcost.formats import ProfileOptions, onnx_bounds
from mlcost.results import InputSpec, Profile

# Bound the protobuf we parse: a .onnx graph (weights in external data excluded) is at most 2 GiB.
MAX_ONNX_BYTES = limits.MAX_ONNX_BYTES
_DETACH_MIN_BYTES = 4096  # initializer payloads this large are kept out of checker/inference copies


def profile_file(spec: str | Path, opts: ProfileOptions) -> Profile:
    """Profile the ONNX model at SPEC: params from initializers, MACs/FLOPs per node (1 MAC = 2 FLOPs)."""
    onnx = import_optional("onnx", "onnx", "reading ONNX models")
    from mlcost.counting import onnx_graph

    if opts.training:
        raise UsageError("--training is not available for ONNX models: an ONNX graph holds the forward pass only")
    path = Path(spec)
    model = _load(onnx, path)
    assumptions: list[str] = []
    inputs = bind_inputs(model.graph, opts, path.name)
    _check(onnx, model, path, assumptions)
    inferred = _infer_detached(onnx, model, path.name, assumptions)
    counted = onnx_graph.count_graph(inferred, onnx, data_graph=model.graph)
    if opts.strict and counted.unsupported:
        listed = ", ".join(f"{u.op} x{u.count} in {u.module or '<root>'}" for u in counted.unsupported[:5])
        more = f" and {len(counted.unsupported) - 5} more" if len(counted.unsupported) > 5 else ""
        raise UnsupportedOperatorError(f"--strict: {path.name} uses operators no formula covers: {listed}{more}")
    details: dict[str, Any] = {
        "ir_version": int(model.ir_version),
        "opsets": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "nodes": len(model.graph.node),
        **counted.details,
    }
    return Profile(
        model=str(spec),
        format="onnx",
        backend="onnx",
        params=counted.params,
        memory=counted.memory,
        flops_forward=counted.flops,
        macs_forward=counted.macs,
        inputs=inputs,
        by_module=counted.by_module,
        by_operator=counted.by_operator,
        unsupported_ops=counted.unsupported,
        assumptions=tuple(assumptions) + counted.assumptions,
        conventions=counted.conventions,
        details=details,
        training=False,
        calls=counted.calls,
    )


def _load(onnx: Any, path: Path):
    """Parse the protobuf; any failure to read it is the user's file, not our bug: one InputError line."""
    from mlcost import safeio

    safeio.check_regular(path, "ONNX model", MAX_ONNX_BYTES)  # protobuf's 2 GiB limit; no FIFO or device
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, RuntimeWarning-as-error, UnicodeDecodeError...
        raise InputError(f"{path.name}: not a valid ONNX model (corrupt protobuf: {_first_line(exc)})") from None
    if not model.HasField("graph") or not (len(model.graph.node) or len(model.graph.output)):
        raise InputError(f"{path.name}: not a valid ONNX model (no graph)")
    if len(model.functions):
        try:
            inlined = onnx_bounds.inlined_node_count(model, path.name)
        except RecursionError:
            raise InputError(f"{path.name}: local functions nest deeper than mlcost follows") from None
        if inlined > limits.MAX_INLINED_NODES:
            raise InputError(f"{path.name}: inlining its local functions would give {inlined} nodes, over the "
                             f"limit of {limits.MAX_INLINED_NODES} (functions calling functions multiply)")
        try:
            from onnx import inliner

            model = inliner.inline_local_functions(model)
        except Exception as exc:
            raise InputError(f"{path.name}: cannot inline the model's local functions: {_first_line(exc)}") from None
    return model


def _check(onnx: Any, model: Any, path: Path, assumptions: list[str]) -> None:
    """onnx.checker on the model; external-data files that are absent (only the graph was copied) are no error.

    The checker insists that every external-data file exists, although mlcost never reads one; when some
    are missing, the in-memory model is checked with its external tensors emptied (and then restored).
    """
    missing = sorted(_missing_external(onnx, model, path.parent))
    try:
        if not missing:  # the checker reads the file itself (no copy through Python), external files beside it
            onnx.checker.check_model(str(path))
            return
        saved = []
        for t in model.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                saved.append((t, list(t.dims), [(e.key, e.value) for e in t.external_data]))
                del t.dims[:], t.external_data[:]
                t.dims.append(0)  # an empty tensor needs no payload, so no external file either
                t.data_location = onnx.TensorProto.DEFAULT
        try:
            onnx.checker.check_model(model)
        finally:
            for t, dims, entries in saved:
                del t.dims[:], t.external_data[:]
                t.dims.extend(dims)
                for key, value in entries:
                    e = t.external_data.add()
                    e.key, e.value = key, value
                t.data_location = onnx.TensorProto.EXTERNAL
    except Exception as exc:  # ValidationError, or a protobuf that the checker cannot walk
        raise InputError(f"{path.name}: invalid ONNX model: {_first_line(exc)}") from None
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    assumptions.append(f"external data file(s) {shown} not found beside the model: parameters are counted from the "
                       "initializers' declared shapes (external payloads are never read in any case)")


def _missing_external(onnx: Any, model: Any, folder: Path) -> set[str]:
    """Relative external-data locations of graph initializers that do not exist under FOLDER.

    Absolute or climbing ('..') locations are left to the checker, which refuses them.
    """
    missing = set()
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        rel = Path(location)
        if location and not rel.is_absolute() and ".." not in rel.parts and not (folder / rel).is_file():
            missing.add(location)
    return missing


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."


def bind_inputs(graph: Any, opts: ProfileOptions, where: str) -> tuple[InputSpec, ...]:
    """Give every graph input a static shape from ``--input-shape`` / ``--dim`` (edits GRAPH in place).

    A dynamic dimension left unbound is an error that names it and its input.
    """
    from mlcost.counting.onnx_graph import dtype_name

    init = {t.name for t in graph.initializer} | {t.values.name for t in graph.sparse_initializer}
    real = [i for i in graph.input if i.name not in init]
    for value in real:
        if not value.type.HasField("tensor_type"):
            raise InputError(f"{where}: input {value.name!r} is not a tensor ({value.type.WhichOneof('value')}); not supported")
    if opts.input_shapes and len(opts.input_shapes) != len(real):
        names = ", ".join(repr(v.name) for v in real)
        raise UsageError(f"--input-shape given {len(opts.input_shapes)} time(s), but {where} has {len(real)} input(s): {names}")
    for name, value in opts.dims.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"--dim {name}={value}: the value must be a positive integer")
    bound: dict[str, int] = dict(opts.dims)
    named: set[str] = set()
    specs = []
    for n, value in enumerate(real):
        tt = value.type.tensor_type
        dims = list(tt.shape.dim) if tt.HasField("shape") else None
        given = opts.input_shapes[n] if opts.input_shapes else None
        if given is not None:
            if dims is not None and len(dims) != len(given):
                raise UsageError(f"--input-shape {_fmt(given)} for input {value.name!r}: rank {len(given)}, but the model "
                                 f"declares rank {len(dims)} ({_fmt_dims(dims)})")
            if dims is None:
                tt.shape.SetInParent()
                for _ in given:
                    tt.shape.dim.add()
                dims = list(tt.shape.dim)
            for axis, (d, g) in enumerate(zip(dims, given)):
                if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != g:
                    raise UsageError(f"--input-shape {_fmt(given)} for input {value.name!r}: dimension {axis} is "
                                     f"fixed at {d.dim_value} in the model")
                if d.HasField("dim_param") and d.dim_param:
                    named.add(d.dim_param)
                    if bound.setdefault(d.dim_param, g) != g:
                        raise UsageError(f"dimension {d.dim_param!r} bound to both {bound[d.dim_param]} and {g}")
        elif dims is None:
            raise InputError(f"{where}: input {value.name!r} declares no shape; give it with --input-shape")
        shape = []
        for axis, d in enumerate(dims):
            if given is not None:
                shape.append(given[axis])
            elif d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
            elif d.HasField("dim_param") and d.dim_param:
                named.add(d.dim_param)
                if d.dim_param not in bound:
                    raise InputError(f"{where}: input {value.name!r} has dynamic dimension {d.dim_param!r} (axis {axis}) "
                                     f"left unbound; bind it with --dim {d.dim_param}=VALUE or --input-shape")
                shape.append(bound[d.dim_param])
            else:
                raise InputError(f"{where}: input {value.name!r} has an unnamed dynamic dimension (axis {axis}); "
                                 f"give the full shape with --input-shape")
        for d, s in zip(dims, shape):
            d.Clear()
            d.dim_value = s
        specs.append(InputSpec(tuple(shape), dtype_name(tt.elem_type), value.name))
    unknown = sorted(set(opts.dims) - named)
    if unknown:
        have = ", ".join(sorted(named)) or "none"
        raise UsageError(f"--dim {unknown[0]}: no input of {where} has a dimension named {unknown[0]!r} (named dims: {have})")
    _substitute(graph, bound)
    return tuple(specs)


def _substitute(graph: Any, bound: dict[str, int]) -> None:
    """Replace bound symbolic dims in the declared outputs and value_info, so inference sees one story."""
    for value in list(graph.output) + list(graph.value_info):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            for d in value.type.tensor_type.shape.dim:
                if d.HasField("dim_param") and d.dim_param in bound:
                    v = bound[d.dim_param]
                    d.Clear()
                    d.dim_value = v


def _fmt(shape: tuple[int, ...]) -> str:
    return ",".join(str(s) for s in shape)


def _fmt_dims(dims: list[Any]) -> str:
    return ",".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)


def _infer_detached(onnx: Any, model: Any, where: str, assumptions: list[str]):
    """Shape inference on the graph without its weight payloads.

    Inference serializes the whole model; shapes come from the initializers' dims, so large payloads
    are detached first (marked external) and put back afterwards.  The inferred copy keeps them detached.
    """
    saved: dict[str, bytes] = {}
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL and len(t.raw_data) >= _DETACH_MIN_BYTES:
            saved[t.name] = t.raw_data
            t.ClearField("raw_data")
            t.data_location = onnx.TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = "location", "mlcost-detached-payload"
    try:
        inferred = _infer_shapes(onnx, model, where, assumptions)
        return _fold_and_reinfer(onnx, model, inferred, where, assumptions)
    finally:
        for t in model.graph.initializer:
            if t.name in saved:
                del t.external_data[:]
                t.data_location = onnx.TensorProto.DEFAULT
                t.raw_data = saved[t.name]


def _infer_shapes(onnx: Any, model: Any, where: str, assumptions: list[str]):
    """Strict shape inference with data propagation (shape arithmetic); the non-strict result as fallback."""
    from onnx import shape_inference

    try:
        return shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as strict_exc:  # InferenceError, or a shape conflict the graph itself declares
        try:
            inferred = shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
        except Exception as exc:
            raise InputError(f"{where}: shape inference failed: {_first_line(exc)}") from None
        assumptions.append(f"strict shape inference failed ({_first_line(strict_exc)}); "
                           "counted with the non-strict result, nodes without shapes are listed as unsupported")
        return inferred


_FOLD_MAX_ELEMENTS = limits.FOLD_MAX_ELEMENTS  # shape arithmetic is small; anything bigger is data, left to inference
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


def _fold_and_reinfer(onnx: Any, model: Any, inferred: Any, where: str, assumptions: list[str], rounds: int = 4):
    """Evaluate shape arithmetic (Shape -> Gather -> Div -> Concat -> Reshape) that ONNX's data propagation
    leaves symbolic, then infer again on a copy where those values are constants.

    The returned model keeps every original node (so all are counted) with the sharper value_info.
    """
    import numpy as np
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    opsets = {(o.domain or ""): int(o.version) for o in model.opset_import}
    known: dict[str, Any] = {}
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL and math.prod(t.dims) <= _FOLD_MAX_ELEMENTS:
            try:
                known[t.name] = numpy_helper.to_array(t)
            except (ValueError, TypeError) as exc:  # its data does not fill its dims (a damaged file)
                raise InputError(f"{where}: initializer {t.name!r} does not match its dims {list(t.dims)}: "
                                 f"{_first_line(exc)}") from None
    current = inferred
    for _ in range(rounds):
        shapes = _static_shapes(current.graph)
        folded: list[int] = []
        for i, node in enumerate(model.graph.node):
            if node.domain not in ("", "ai.onnx") or node.op_type in _NO_FOLD or all(o in known for o in node.output):
                continue
            if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
                continue
            try:
                if node.op_type == "Shape":
                    shape = shapes.get(node.input[0])
                    if shape is None:
                        continue
                    attrs = {a.name: a.i for a in node.attribute}
                    outs = [np.array(shape, dtype=np.int64)[attrs.get("start", 0):attrs.get("end", len(shape))]]
                elif all(n == "" or n in known for n in node.input):
                    if not onnx_bounds.fold_size_ok(node, known):  # checked before evaluating: Range(0, 1e12) allocates
                        continue
                    outs = ReferenceEvaluator(node, opsets=opsets).run(None, {n: known[n] for n in node.input if n})
                else:
                    continue
            except Exception:  # not evaluable here: leave it to inference
                continue
            if len(outs) != len(node.output) or any(np.asarray(o).size > _FOLD_MAX_ELEMENTS for o in outs):
                continue
            known.update((name, np.asarray(o)) for name, o in zip(node.output, outs) if name)
            folded.append(i)
        if not folded:
            break
        light = onnx.ModelProto()
        light.CopyFrom(model)  # cheap: weight payloads are detached here
        keep = [n for n in model.graph.node if not all(o in known for o in n.output)]
        needed = {n for node in keep for n in node.input} | {o.name for o in model.graph.output}
        del light.graph.node[:]
        light.graph.node.extend(keep)
        have = {t.name for t in light.graph.initializer}
        for name, value in known.items():
            if name in needed and name not in have:
                light.graph.initializer.append(numpy_helper.from_array(value, name))
        try:
            light_inferred = onnx.shape_inference.infer_shapes(light, strict_mode=False, data_prop=True)
        except Exception:
            break
        del current.graph.value_info[:]
        current.graph.value_info.extend(light_inferred.graph.value_info)
        present = {v.name for v in current.graph.value_info} | {v.name for v in current.graph.input}
        for name, value in known.items():
            if name not in present and name not in have and value.dtype != object:
                elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
                current.graph.value_info.append(onnx.helper.make_tensor_value_info(name, elem, list(value.shape)))
    return current


def _static_shapes(graph: Any) -> dict[str, tuple[int, ...]]:
    out = {}
    for v in list(graph.input) + list(graph.value_info) + list(graph.output):
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            dims = v.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                out[v.name] = tuple(int(d.dim_value) for d in dims)
    return out
