"""MACs and FLOPs of one ONNX node, from its input/output shapes and attributes.

Counts are ints: MACs (multiply-adds) and FLOPs (1 MAC = 2 FLOPs, ``mlcost.units.FLOPS_PER_MAC``).
The operator policy (what an elementwise op, a softmax or a norm costs) is the one the PyTorch
path uses (``mlcost.counting.formulas``: its constants, and its conv/einsum formulas called on the
node's shapes), so the same model counted as a module and as an ONNX export agrees.

``node_cost`` returns None for an operator no formula covers (the caller lists it as unsupported)
and raises ``ShapeUnknown`` when a shape it needs was not inferred (listed the same way).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlcost.counting.formulas import (
    AFFINE_FLOPS_PER_ELEMENT,
    FORMULAS,
    INTERP_FLOPS,
    NORM_FLOPS_PER_ELEMENT,
    POLICY,
    RMS_NORM_FLOPS_PER_ELEMENT,
    SOFTMAX_FLOPS_PER_ELEMENT,
    TS,
)
from mlcost.units import FLOPS_PER_MAC

Shape = tuple[int, ...]

BATCHNORM_EVAL_FLOPS_PER_ELEMENT = 2  # formulas: eval batch norm 2/element (+ affine)
ATTENTION_CONVENTION = POLICY["attention"]

# Ops that move, reinterpret or create data: 0 MACs, 0 FLOPs (the policy's views/copies/indexing/creation).
FREE_OPS = frozenset({
    "Reshape", "Transpose", "Concat", "Slice", "Shape", "Size", "Constant", "ConstantOfShape", "Squeeze",
    "Unsqueeze", "Cast", "CastLike", "Identity", "Flatten", "Split", "SplitToSequence", "Expand", "Tile", "Pad",
    "Range", "Dropout", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Trilu", "NonZero",
    "DepthToSpace", "SpaceToDepth", "OneHot", "EyeLike", "Compress", "ReverseSequence", "Optional",
    "OptionalGetElement", "OptionalHasElement", "Col2Im", "CenterCropPad", "Unique",
})
# Embedding lookups: 0 MACs but listed in their own operator row.
LOOKUP_OPS = frozenset({"Gather"})

# 1 FLOP per output element: arithmetic, comparisons, selections and activations alike.
ELEMENTWISE_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs", "Exp", "Log", "Erf", "Tanh", "Sigmoid",
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "HardSigmoid", "HardSwish", "Softplus",
    "Softsign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Clip",
    "Max", "Min", "Mean", "Sum", "Mod", "Floor", "Ceil", "Round", "Sign", "Mish", "ThresholdedRelu", "BitShift",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Where", "IsNaN",
    "IsInf", "Shrink", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "QuantizeLinear", "DequantizeLinear",
    "Swish", "FastGelu", "BiasGelu", "QuickGelu",
})
SOFTMAX_OPS = frozenset({"Softmax", "LogSoftmax", "Hardmax"})
NORM_OPS = frozenset({
    "LayerNormalization", "InstanceNormalization", "GroupNormalization", "RMSNormalization",
    "SimplifiedLayerNormalization", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
    "LpNormalization", "MeanVarianceNormalization", "BatchNormalization",
})
# 1 FLOP per input element.
REDUCE_OPS = frozenset({
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare", "CumSum", "ArgMax", "ArgMin", "TopK",
})
POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})


class ShapeUnknown(Exception):
    """A shape this node's formula needs was not inferred."""


@dataclass(frozen=True)
class NodeCost:
    macs: int
    flops: int


def numel(shape: Shape | None) -> int:
    if shape is None:
        raise ShapeUnknown
    return math.prod(shape)


def _need(shapes: Sequence[Shape | None], i: int) -> Shape:
    if i >= len(shapes) or shapes[i] is None:
        raise ShapeUnknown
    return shapes[i]  # type: ignore[return-value]


def _has(shapes: Sequence[Shape | None], i: int) -> bool:
    return i < len(shapes) and shapes[i] is not None


def _cost(macs: int, other_flops: int = 0) -> NodeCost:
    return NodeCost(macs, FLOPS_PER_MAC * macs + other_flops)


def node_cost(op: str, ins: Sequence[Shape | None], outs: Sequence[Shape | None], attrs: dict[str, Any]) -> NodeCost | None:
    """The cost of one node of type OP (ai.onnx or a known com.microsoft op); None: no formula."""
    if op in FREE_OPS or op in LOOKUP_OPS:
        return NodeCost(0, 0)
    if op in ("Conv", "ConvInteger", "QLinearConv", "ConvTranspose"):
        x, w, y = _need(ins, 2 if op == "QLinearConv" else 0), _need(ins, 3 if op == "QLinearConv" else 1), _need(outs, 0)
        if len(w) < 3:
            raise ValueError(f"{op} weight has rank {len(w)}, expected at least 3")
        # formulas' conv: output elements x (Cin/g x kernel); transposed: input elements x (Cout/g x kernel).
        return _cost(*FORMULAS["aten::convolution"]([TS(x), TS(w), None, None, None, None, op == "ConvTranspose"], [TS(y)]))
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul"):
        a, b = _need(ins, 0), _need(ins, 3 if op == "QLinearMatMul" else 1)
        if op == "FusedMatMul" and attrs.get("transA"):
            a = a[:-2] + (a[-1], a[-2]) if len(a) >= 2 else a
        return _cost(_matmul_macs(a, b))
    if op == "Gemm":
        a, y = _need(ins, 0), _need(outs, 0)
        if len(a) != 2 or len(y) != 2:
            raise ValueError(f"Gemm operands have rank {len(a)}, expected 2")
        k = a[0] if attrs.get("transA", 0) else a[1]
        # The bias C is not a MAC (as for nn.Linear / addmm on the PyTorch path).
        return _cost(y[0] * y[1] * k)
    if op == "Einsum":
        shapes = [TS(_need(ins, i)) for i in range(len(ins))]
        return _cost(*FORMULAS["aten::einsum"]([str(attrs.get("equation", "")), shapes], [TS(_need(outs, 0))]))
    if op in ("Attention", "MultiHeadAttention", "GroupQueryAttention"):
        return _attention(ins, attrs)
    if op in ELEMENTWISE_OPS:
        return _cost(0, numel(_need(outs, 0)))
    if op in SOFTMAX_OPS:
        return _cost(0, SOFTMAX_FLOPS_PER_ELEMENT * numel(_need(outs, 0)))
    if op in NORM_OPS:
        return _cost(0, _norm_flops(op, ins))
    if op in REDUCE_OPS:
        return _cost(0, numel(_need(ins, 0)))
    if op in POOL_OPS:
        if op.startswith("Global"):  # adaptive pooling to 1x1: 1 FLOP per input element
            return _cost(0, numel(_need(ins, 0)))
        kernel = attrs.get("kernel_shape") or ()
        return _cost(0, numel(_need(outs, 0)) * math.prod(int(k) for k in kernel))
    if op in ("Resize", "Upsample"):
        return _cost(0, _resize_flops(_need(ins, 0), _need(outs, 0), str(attrs.get("mode", "nearest"))))
    return None


def _norm_flops(op: str, ins: Sequence[Shape | None]) -> int:
    """Per input element: the policy's base cost plus 1 per affine tensor (weight, bias) present."""
    n = numel(_need(ins, 0))
    if op == "BatchNormalization":  # ONNX inference-mode batch norm always has scale and bias
        return n * (BATCHNORM_EVAL_FLOPS_PER_ELEMENT + AFFINE_FLOPS_PER_ELEMENT)
    if op in ("RMSNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization"):
        base, affine = RMS_NORM_FLOPS_PER_ELEMENT, int(_has(ins, 1))
    elif op in ("LayerNormalization", "InstanceNormalization", "GroupNormalization"):
        base, affine = NORM_FLOPS_PER_ELEMENT, int(_has(ins, 1)) + int(_has(ins, 2))
    elif op == "SkipLayerNormalization":  # input + skip (+ bias), then a layer norm with gamma (+ beta)
        base, affine = NORM_FLOPS_PER_ELEMENT + 1, int(_has(ins, 2)) + int(_has(ins, 3))
    else:  # LpNormalization, MeanVarianceNormalization: no affine
        base, affine = NORM_FLOPS_PER_ELEMENT, 0
    return n * (base + affine)


def _resize_flops(x: Shape, y: Shape, mode: str) -> int:
    """The policy's interpolation cost per output element, by how many spatial axes change size."""
    resized = sum(1 for a, b in zip(x, y) if a != b) or 1
    if mode == "nearest":
        per = INTERP_FLOPS["nearest"]
    elif mode == "cubic":
        per = INTERP_FLOPS["bicubic"]
    else:
        per = {1: INTERP_FLOPS["linear"], 2: INTERP_FLOPS["bilinear"]}.get(resized, INTERP_FLOPS["trilinear"])
    return per * numel(y)


def _matmul_macs(a: Shape, b: Shape) -> int:
    """numpy-style matmul with broadcast batch dimensions; 1-D operands are promoted and squeezed."""
    if not a or not b:
        raise ValueError("MatMul of a scalar")
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    m, k, n = a2[-2], a2[-1], b2[-1]
    if b2[-2] != k:
        raise ValueError(f"MatMul shapes {list(a)} and {list(b)} do not fit")
    return math.prod(_broadcast(a2[:-2], b2[:-2])) * m * k * n


def _broadcast(a: Shape, b: Shape) -> Shape:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes {list(a)} and {list(b)} do not broadcast")
        out.append(max(x, y))
    return tuple(reversed(out))


def _attention(ins: Sequence[Shape | None], attrs: dict[str, Any]) -> NodeCost:
    """ONNX ``Attention`` (opset 23) and com.microsoft ``MultiHeadAttention``/``GroupQueryAttention``
    with separate Q, K, V; counted as the policy's scaled_dot_product_attention.

    MACs: B*Hq*Sq*Skv*(dqk + dv), the causal mask not discounted; FLOPs beyond: per score 1 (scale)
    + 1 (mask, when given) + the softmax.
    """
    q, k, v = _need(ins, 0), _need(ins, 1), _need(ins, 2)
    if len(q) == 4 and len(k) == 4 and len(v) == 4:
        b, hq, sq, dqk = q
        skv, dv = k[2], v[3]
    elif len(q) == 3 and len(k) == 3 and len(v) == 3:
        hq = int(attrs.get("q_num_heads") or attrs.get("num_heads") or 0)
        hkv = int(attrs.get("kv_num_heads") or attrs.get("num_heads") or hq)
        if hq <= 0 or hkv <= 0:
            raise ShapeUnknown
        b, sq, dqk = q[0], q[1], q[2] // hq
        skv, dv = k[1], v[2] // hkv
    else:
        raise ShapeUnknown
    scores = b * hq * sq * skv
    has_mask = _has(ins, 3)
    return _cost(scores * (dqk + dv), scores * (1 + SOFTMAX_FLOPS_PER_ELEMENT + int(has_mask)))
