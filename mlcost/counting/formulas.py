"""The one operator-formula registry and counting policy shared by every torch backend.

Each formula takes an operator call normalised to schema order — tensors as ``TS`` (shape,
dtype), everything else as plain Python values — and returns ``(macs, other_flops)``:
``macs`` are multiply-accumulates (1 MAC = 2 FLOPs), ``other_flops`` the non-MAC FLOPs
(norms, activations, softmax, elementwise, pooling, upsampling) under ``POLICY`` below.
The fvcore backend (jit graph nodes) and the dispatch backend (aten calls) both look ops up
here by canonical name ("aten::relu_" and "aten.relu.default" both become "aten::relu").
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TS:
    """A tensor seen by a formula: its shape and dtype name (no data)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    nbytes: int | None = None  # bytes of memory it spans, when the backend measured it (counting.bytes)
    requires_grad: bool = False  # autograd wants its gradient (the dispatch backend says; others leave False)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


Formula = Callable[[list, list], "tuple[int, int]"]

SOFTMAX_FLOPS_PER_ELEMENT = 5  # max, subtract, exp, sum, divide
NORM_FLOPS_PER_ELEMENT = 5  # mean, subtract, square, sum(var), scale by rsqrt
RMS_NORM_FLOPS_PER_ELEMENT = 3  # square, sum, scale by rsqrt
AFFINE_FLOPS_PER_ELEMENT = 2  # weight multiply + bias add
# real FLOPs per element of an elementwise op on two complex operands (POLICY "elementwise")
COMPLEX_FLOPS = {"add": 2, "sub": 2, "rsub": 2, "mul": 6, "div": 11, "true_divide": 11}
INTERP_FLOPS = {"nearest": 0, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}

POLICY: dict[str, str] = {
    "mac": "1 MAC = 1 multiply-accumulate = 2 FLOPs; MACs only from linear/matmul/mm/bmm/baddbmm/addmm/"
    "mv/addmv/dot/einsum/conv/conv_transpose/attention; bias additions fused into linear/addmm/conv are not counted "
    "(as fvcore and torch.utils.flop_counter)",
    "attention": "scaled_dot_product_attention: QK^T + AV = batch*heads*Lq*Lk*(E+Ev) MACs, dense Lq x Lk: "
    "the causal mask is NOT discounted (as torch's FlopCounterMode); grouped-query k/v heads are broadcast "
    "to the query heads; plus 1 FLOP/score for scaling, 1/score for an explicit mask and "
    f"{SOFTMAX_FLOPS_PER_ELEMENT}/score softmax; a fused attention backward kernel counts as its math "
    "decomposition: 2x the forward MACs (no QK^T recomputation), 1 FLOP/score softmax backward",
    "elementwise": "1 FLOP per output element for every elementwise arithmetic op, comparison and "
    "activation (relu, gelu, silu, exp, ... all count 1); reductions (sum, mean, max, ...) 1 FLOP per "
    "input element; dropout, views, reshapes, copies, cat, indexing and tensor creation are free (0); "
    f"on complex operands add/sub/mul/div count real FLOPs per element: add/sub {COMPLEX_FLOPS['add']} "
    f"(real and imaginary parts), mul {COMPLEX_FLOPS['mul']} ((a+bi)(c+di) = (ac-bd) + (ad+bc)i: 4 mul + 2 add), "
    f"div {COMPLEX_FLOPS['div']} (the textbook ((ac+bd) + (bc-ad)i)/(c^2+d^2): 6 mul + 3 add + 2 div; Smith's "
    "scaled form is not modelled); with one real operand (a real tensor or Python scalar) mul and a real divisor "
    "cost 2, add/sub 1",
    "softmax": f"softmax/log_softmax: {SOFTMAX_FLOPS_PER_ELEMENT} FLOPs per element",
    "norm": f"layer/group/instance/batch norm (training stats): {NORM_FLOPS_PER_ELEMENT} FLOPs/element; "
    f"batch norm with running stats (eval): 2/element; rms_norm: {RMS_NORM_FLOPS_PER_ELEMENT}/element; "
    f"+{AFFINE_FLOPS_PER_ELEMENT}/element with an affine weight and bias (+1 with weight only)",
    "pooling": "max/avg pooling: output elements x kernel elements; adaptive pooling: 1 FLOP per input element",
    "upsampling": "interpolation per output element: nearest 0, linear 2, bilinear 4, trilinear 8, bicubic 16",
    "embedding": "embedding lookups: 0 FLOPs, 0 MACs (listed as an operator row); embedding_bag: 1 FLOP per "
    "gathered element (indices x dim) for its sum/mean/max, doubled with per-sample weights",
    "recurrent": "LSTM/GRU: tokens x gates*H x (I + H) MACs per layer and direction, plus 13 (LSTM) or 10 (GRU) "
    "FLOPs per token per hidden unit for the gates: what their step-by-step decomposition counts",
    "loss": "cross_entropy = log_softmax + nll_loss; mse/l1 loss: 3 FLOPs per input element (difference, "
    "square or abs, reduce); smooth_l1/huber: 4; "
    "nll_loss: 1 per target element (pick, reduce); binary_cross_entropy: 8 per element, with logits: 9; "
    "topk/sort/kthvalue: 1 FLOP (comparison) per input element",
    "backward": "backward FLOPs are measured op by op on the autograd graph (no 2x rule); the same formulas "
    "apply to backward aten ops; convolution_backward: grad-input and grad-weight each cost the forward's "
    "MACs (only the grads autograd asks for), grad-bias 1 FLOP per grad_output element; other *_backward "
    "ops count 1 FLOP per output element",
}


def canonical(name: str) -> str:
    """'aten.relu_.default' / 'aten::relu_' -> 'aten::relu' (namespace kept, overload and in-place dropped)."""
    if "::" not in name:
        parts = name.split(".")
        name = f"{parts[0]}::{parts[1]}" if len(parts) > 1 else name
    ns, _, op = name.partition("::")
    op = op.split(".")[0]  # drop the overload ("add.Tensor")
    if op.endswith("_") and not op.endswith("__"):
        op = op[:-1]
    return f"{ns}::{ALIASES.get(op, op)}"


# dispatch-level names -> the jit-level names the formulas are registered under
ALIASES = {
    "native_layer_norm": "layer_norm",
    "native_group_norm": "group_norm",
    "native_batch_norm": "batch_norm",
    "_native_batch_norm_legit": "batch_norm",
    "_native_batch_norm_legit_no_training": "batch_norm_eval",
    "_native_batch_norm_legit_functional": "batch_norm",
    "_softmax": "softmax",
    "_safe_softmax": "softmax",
    "_log_softmax": "log_softmax",
    "_convolution": "convolution",
    "max_pool2d_with_indices": "max_pool2d",
    "max_pool3d_with_indices": "max_pool3d",
    "_adaptive_avg_pool2d": "adaptive_avg_pool2d",
    "_adaptive_avg_pool3d": "adaptive_avg_pool3d",
    "_scaled_dot_product_flash_attention_for_cpu": "scaled_dot_product_attention",
    "_scaled_dot_product_flash_attention": "scaled_dot_product_attention",
    "_scaled_dot_product_efficient_attention": "scaled_dot_product_attention",
    "_scaled_dot_product_cudnn_attention": "scaled_dot_product_attention",
    # fused attention backward kernels (CPU flash, CUDA flash/efficient/cudnn): one formula
    "_scaled_dot_product_flash_attention_for_cpu_backward": "scaled_dot_product_attention_backward",
    "_scaled_dot_product_flash_attention_backward": "scaled_dot_product_attention_backward",
    "_scaled_dot_product_efficient_attention_backward": "scaled_dot_product_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward": "scaled_dot_product_attention_backward",
    "_fused_rms_norm": "rms_norm",
}


def _t(args: list, i: int) -> TS | None:
    v = args[i] if i < len(args) else None
    return v if isinstance(v, TS) else None


def _out(outs: list) -> int:
    return outs[0].numel if outs and isinstance(outs[0], TS) else 0


def _mm(a: int, b: int) -> Formula:
    def f(args, outs):
        x, y = _t(args, a), _t(args, b)
        return math.prod(x.shape[:-1]) * x.shape[-1] * y.shape[-1], 0
    return f


def _matrix_numel(i: int) -> Formula:
    """mv/addmv: one MAC per matrix element; dot/vdot: one per vector element (the tensor at I)."""
    def f(args, outs):
        return _t(args, i).numel, 0
    return f


def _linear(args, outs):
    x, w = _t(args, 0), _t(args, 1)
    out_features = w.shape[0] if len(w.shape) == 2 else 1
    return x.numel * out_features, 0


def _matmul(args, outs):
    a = _t(args, 0)
    k = a.shape[-1]
    return _out(outs) * k, 0


def _einsum(args, outs):
    """Contract left to right; each pairwise step costs the product of all its index sizes.
    An ellipsis becomes spare letters (right-aligned, broadcast dims take the larger size); without
    "->" the output is numpy's implicit one (ellipsis dims, then the letters used once, sorted)."""
    eq, ops = args[0], [o for o in (args[1] or []) if isinstance(o, TS)]
    eq = str(eq).replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        return _out(outs) * 1, 0  # an equation this parser does not follow: lower bound, 1 MAC per output element
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    ranks = [len(op.shape) - (len(t) - 3) for t, op in zip(terms, ops) if "..." in t]
    ell = "".join(spare[:max(ranks, default=0)])
    terms = [t.replace("...", ell[len(ell) - (len(op.shape) - (len(t) - 3)):]) if "..." in t else t
             for t, op in zip(terms, ops)]
    if arrow:
        rhs = rhs.replace("...", ell)
    else:
        letters = "".join(terms)
        rhs = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    sizes: dict[str, int] = {}
    for term, op in zip(terms, ops):
        for c, n in zip(term, op.shape):
            sizes[c] = max(sizes.get(c, 1), int(n))
    if len(ops) == 1:
        return 0, math.prod(sizes[c] for c in terms[0])  # a pure reduction / permutation
    macs, cur = 0, terms[0]
    for i in range(1, len(terms)):
        later = set(rhs).union(*terms[i + 1:]) if i + 1 < len(terms) else set(rhs)
        letters = set(cur) | set(terms[i])
        macs += math.prod(sizes[c] for c in letters)
        cur = "".join(sorted(c for c in letters if c in later))
    return macs, 0


def _conv(transposed: bool | None) -> Formula:
    """Conv: output elements x (Cin/groups x kernel); transposed: input elements x (Cout/groups x kernel)."""
    def f(args, outs):
        x, w = _t(args, 0), _t(args, 1)
        tr = bool(args[6]) if transposed is None else transposed
        per = math.prod(w.shape[1:])  # weight (Cout, Cin/g, *k) or transposed (Cin, Cout/g, *k)
        return (x.numel if tr else _out(outs)) * per, 0
    return f


def _conv_backward(args, outs):
    """convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
    output_padding, groups, output_mask): grad-input and grad-weight each cost the forward's MACs (as
    torch.utils.flop_counter); grad-bias sums grad_output, 1 FLOP per element.  Only the masked-in grads."""
    grad, x, w = _t(args, 0), _t(args, 1), _t(args, 2)
    transposed = bool(args[7]) if len(args) > 7 else False
    mask = list(args[10]) if len(args) > 10 and isinstance(args[10], (list, tuple)) else [True, True, True]
    forward_macs = (x.numel if transposed else grad.numel) * math.prod(w.shape[1:])
    return forward_macs * (bool(mask[0]) + bool(mask[1])), grad.numel if mask[2] else 0


def _sdpa(args, outs):
    q, k, v, mask = _t(args, 0), _t(args, 1), _t(args, 2), _t(args, 3)
    lq, e = q.shape[-2], q.shape[-1]
    lk, ev = k.shape[-2], v.shape[-1]
    bh = q.numel // (lq * e)
    scores = bh * lq * lk
    extra = scores * (1 + SOFTMAX_FLOPS_PER_ELEMENT + (1 if mask is not None else 0))
    return scores * (e + ev), extra


def _sdpa_backward(args, outs):
    """A fused attention backward (grad_out, query, key, value, ...), counted as its math decomposition
    (what the meta device runs op by op): dQ, dK, dV and dP = 2x the forward's MACs (a flash kernel's
    recomputation of QK^T is not counted), 1 FLOP/score softmax backward, 1 per q and k element for
    the scale, and with grouped-query k/v the sum of the broadcast dK and dV back to the k/v heads."""
    q, k, v = _t(args, 1), _t(args, 2), _t(args, 3)
    lq, e = q.shape[-2], q.shape[-1]
    lk, ev = k.shape[-2], v.shape[-1]
    bh = q.numel // (lq * e)
    scores = bh * lq * lk
    k_heads, v_heads = bh * lk * e, bh * lk * ev  # k and v broadcast to the query heads
    other = scores + q.numel + k_heads + (k_heads + v_heads if k.numel != k_heads else 0)
    return 2 * scores * (e + ev), other


def _per_element(cost: int, on_input: bool = False) -> Formula:
    def f(args, outs):
        n = _t(args, 0).numel if on_input and _t(args, 0) is not None else _out(outs)
        return 0, cost * n
    return f


def _is_complex(v) -> bool:
    return isinstance(v, complex) or (isinstance(v, TS) and "complex" in v.dtype.lower())


def _complex_aware(op: str) -> Formula:
    """Elementwise OP (add, sub, rsub, mul, div, true_divide): 1 FLOP per output element on real operands;
    on complex ones the real FLOPs of COMPLEX_FLOPS, or of one complex and one real operand (POLICY)."""
    def f(args, outs):
        n = _out(outs)
        a, b = (args + [None, None])[:2]
        ca, cb = _is_complex(a), _is_complex(b)
        if not (ca or cb):
            return 0, n
        if ca and cb:
            return 0, COMPLEX_FLOPS[op] * n
        if op in ("add", "sub", "rsub"):
            return 0, n  # only the real parts combine
        if op == "mul" or ca:  # complex x real, complex / real: both parts scaled
            return 0, 2 * n
        return 0, COMPLEX_FLOPS[op] * n  # real / complex: the complex division with a zero imaginary part
    return f


def _norm(weight_idx: int, bias_idx: int, per_elem: int) -> Formula:
    def f(args, outs):
        n = _t(args, 0).numel
        affine = (1 if _t(args, weight_idx) is not None else 0) + (1 if _t(args, bias_idx) is not None else 0)
        return 0, n * (per_elem + affine)
    return f


def _group_norm(args, outs):
    # jit: group_norm(input, num_groups, weight, bias, ...); aten: native_group_norm(input, weight, bias, N, ...)
    w = 2 if isinstance(args[1], int) else 1
    return _norm(w, w + 1, NORM_FLOPS_PER_ELEMENT)(args, outs)


def _batch_norm(args, outs):
    # aten::batch_norm(input, weight, bias, running_mean, running_var, training, ...)
    training = bool(args[5]) if len(args) > 5 and isinstance(args[5], bool) else False
    return _norm(1, 2, NORM_FLOPS_PER_ELEMENT if training else 2)(args, outs)


def _pool(kernel_idx: int) -> Formula:
    def f(args, outs):
        k = args[kernel_idx]
        k = [k] if isinstance(k, int) else list(k or [1])
        nd = len(outs[0].shape) - 2 if outs and isinstance(outs[0], TS) else len(k)
        if len(k) == 1 and nd > 1:
            k = k * nd
        return 0, _out(outs) * math.prod(k)
    return f


def _interp(mode: str) -> Formula:
    def f(args, outs):
        return 0, _out(outs) * INTERP_FLOPS[mode]
    return f


def _zero(args, outs):
    return 0, 0


def _lstm_layer(args, outs):
    """mkldnn_rnn_layer(input, w_ih, w_hh, b_ih, b_hh, hx, cx, ...): per token, the 4 gates' matmuls
    (4H x I and 4H x H) and 13 element ops per hidden unit (gate sum, 3 sigmoid, tanh, c and h updates)."""
    x, w_ih, w_hh = _t(args, 0), _t(args, 1), _t(args, 2)
    tokens = x.numel // x.shape[-1]
    hidden = w_hh.shape[-1]
    return tokens * (w_ih.numel + w_hh.numel), tokens * 13 * hidden


def _lstm_layer_backward(args, outs):
    """mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx, ...): what the LSTM's step-by-step
    decomposition's backward counts, so every path agrees.  MACs per layer-direction (G = 4H gate rows):
    the weight gradients T*B*G*(I + H), the hidden-state gradient through T-1 steps (T-1)*B*G*H, plus
    T*B*G*I for the input's gradient and B*G*H for hx's when autograd wants them.  Other FLOPs: the
    per-step accumulation of both weight gradients (T-1)*G*(I + H) and the gates' backward elementwise
    work H*(21*T*B - B + 8*(T-1)) (sigmoid/tanh backward, products, bias sums; measured on the
    decomposition over T, B, I, H and fitted exactly)."""
    x, w_hh, hx = _t(args, 0), _t(args, 2), _t(args, 5)
    t, b, i = x.shape[0], x.shape[1], x.shape[2]
    h = w_hh.shape[-1]
    g = 4 * h
    macs = t * b * g * (i + h) + (t - 1) * b * g * h
    macs += t * b * g * i if x.requires_grad else 0
    macs += b * g * h if hx is not None and hx.requires_grad else 0
    return macs, (t - 1) * g * (i + h) + h * (21 * t * b - b + 8 * (t - 1))


def _rnn(gate_flops_per_unit: int) -> Formula:
    """jit-level aten::lstm / aten::gru(input, hx, params[], has_biases, num_layers, ...): every layer and
    direction costs tokens x (w_ih + w_hh elements) MACs plus its gates' element ops per hidden unit."""
    def f(args, outs):
        x = _t(args, 0)
        weights = [w for w in (args[2] if len(args) > 2 and isinstance(args[2], list) else [])
                   if isinstance(w, TS) and len(w.shape) == 2]
        tokens = x.numel // x.shape[-1]
        hidden = weights[1].shape[-1] if len(weights) > 1 else 0
        return tokens * sum(w.numel for w in weights), tokens * gate_flops_per_unit * hidden * (len(weights) // 2)
    return f


def _embedding_bag(args, outs):
    """_embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, ...)."""
    weight, indices = _t(args, 0), _t(args, 1)
    weighted = _t(args, 6) is not None
    return 0, indices.numel * weight.shape[-1] * (2 if weighted else 1)


def _per_target(args, outs):
    """nll_loss_forward(input, target, ...): one pick-and-add per target element."""
    return 0, _t(args, 1).numel


def _cross_entropy(args, outs):
    """jit-level cross_entropy_loss(input, target, ...): log_softmax over the input, then nll_loss."""
    return 0, SOFTMAX_FLOPS_PER_ELEMENT * _t(args, 0).numel + _t(args, 1).numel


FORMULAS: dict[str, Formula] = {
    "aten::mm": _mm(0, 1), "aten::addmm": _mm(1, 2), "aten::bmm": _mm(0, 1), "aten::baddbmm": _mm(1, 2),
    "aten::addbmm": _mm(1, 2), "aten::mv": _matrix_numel(0), "aten::addmv": _matrix_numel(1),
    "aten::dot": _matrix_numel(0), "aten::vdot": _matrix_numel(0), "aten::linear": _linear, "aten::matmul": _matmul, "aten::einsum": _einsum,
    "aten::convolution": _conv(None), "aten::conv1d": _conv(False), "aten::conv2d": _conv(False),
    "aten::conv3d": _conv(False), "aten::conv_transpose1d": _conv(True), "aten::conv_transpose2d": _conv(True),
    "aten::conv_transpose3d": _conv(True), "aten::convolution_backward": _conv_backward,
    "aten::scaled_dot_product_attention": _sdpa, "aten::scaled_dot_product_attention_backward": _sdpa_backward,
    "aten::softmax": _per_element(SOFTMAX_FLOPS_PER_ELEMENT), "aten::log_softmax": _per_element(SOFTMAX_FLOPS_PER_ELEMENT),
    "aten::layer_norm": _norm(2, 3, NORM_FLOPS_PER_ELEMENT), "aten::group_norm": _group_norm,
    "aten::instance_norm": _norm(1, 2, NORM_FLOPS_PER_ELEMENT), "aten::batch_norm": _batch_norm,
    "aten::batch_norm_eval": _norm(1, 2, 2), "aten::rms_norm": _norm(2, 99, RMS_NORM_FLOPS_PER_ELEMENT),
    "aten::max_pool1d": _pool(1), "aten::max_pool2d": _pool(1), "aten::max_pool3d": _pool(1),
    "aten::avg_pool1d": _pool(1), "aten::avg_pool2d": _pool(1), "aten::avg_pool3d": _pool(1),
    "aten::adaptive_avg_pool1d": _per_element(1, True), "aten::adaptive_avg_pool2d": _per_element(1, True),
    "aten::adaptive_avg_pool3d": _per_element(1, True), "aten::adaptive_max_pool2d": _per_element(1, True),
    "aten::upsample_nearest1d": _interp("nearest"), "aten::upsample_nearest2d": _interp("nearest"),
    "aten::upsample_nearest3d": _interp("nearest"), "aten::upsample_linear1d": _interp("linear"),
    "aten::upsample_bilinear2d": _interp("bilinear"), "aten::upsample_trilinear3d": _interp("trilinear"),
    "aten::upsample_bicubic2d": _interp("bicubic"),
    "aten::embedding": _zero, "aten::_embedding_bag": _embedding_bag, "aten::embedding_bag": _embedding_bag,
    "aten::mkldnn_rnn_layer": _lstm_layer,
    "aten::mkldnn_rnn_layer_backward": _lstm_layer_backward, "aten::lstm": _rnn(13), "aten::gru": _rnn(10),
    "aten::mse_loss": _per_element(3, True), "aten::l1_loss": _per_element(3, True),
    "aten::smooth_l1_loss": _per_element(4, True), "aten::huber_loss": _per_element(4, True),
    "aten::nll_loss_forward": _per_target, "aten::nll_loss2d_forward": _per_target, "aten::nll_loss": _per_target,
    "aten::cross_entropy_loss": _cross_entropy,
    "aten::binary_cross_entropy": _per_element(8, True), "aten::binary_cross_entropy_with_logits": _per_element(9, True),
}

# add sub rsub mul div true_divide: COMPLEX_FLOPS registers them (1 FLOP per element on real operands)
ELEMENTWISE = """polar floor_divide remainder fmod neg abs pow sqrt rsqrt exp exp2 expm1
log log2 log10 log1p sin cos tan tanh sinh cosh asin acos atan atan2 sigmoid relu relu6 gelu silu mish hardtanh
hardswish hardsigmoid leaky_relu elu selu celu softplus softsign threshold clamp clamp_min clamp_max clip where
maximum minimum reciprocal square erf erfc erfinv sign floor ceil round trunc frac lerp addcmul addcdiv outer ger
eq ne gt ge lt le logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_not __and__ __or__
masked_fill glu prelu xlogy hypot mul_scalar
threshold_backward gelu_backward silu_backward sigmoid_backward tanh_backward hardtanh_backward leaky_relu_backward
elu_backward softplus_backward hardswish_backward hardsigmoid_backward mish_backward
_softmax_backward_data _log_softmax_backward_data native_layer_norm_backward native_group_norm_backward
native_batch_norm_backward max_pool2d_with_indices_backward avg_pool2d_backward embedding_dense_backward
_adaptive_avg_pool2d_backward upsample_nearest2d_backward upsample_bilinear2d_backward
adaptive_max_pool2d_backward adaptive_max_pool3d_backward max_pool3d_with_indices_backward avg_pool3d_backward
_adaptive_avg_pool3d_backward native_dropout_backward upsample_nearest1d_backward upsample_nearest3d_backward
upsample_linear1d_backward upsample_trilinear3d_backward upsample_bicubic2d_backward""".split()
REDUCTIONS = """sum mean amax amin max min prod var std var_mean std_mean norm linalg_vector_norm logsumexp cumsum cumprod
argmax argmin all any topk sort argsort kthvalue median cummax cummin""".split()
FREE = """view reshape _reshape_alias _unsafe_view transpose permute t contiguous clone copy detach alias to _to_copy
cat stack concat concatenate slice select index index_select narrow split split_with_sizes chunk unbind expand
expand_as squeeze unsqueeze flatten unflatten size numel dim Int Float ScalarImplicit NumToTensor zeros ones
empty full arange linspace zeros_like ones_like empty_like full_like new_zeros new_ones new_empty new_empty_strided new_full
scalar_tensor lift_fresh lift_fresh_copy fill zero dropout feature_dropout alpha_dropout native_dropout
tril triu repeat repeat_interleave roll flip gather scatter index_put masked_select nonzero type_as view_as
_unsafe_split as_strided empty_strided resize clamp_tensor detach_copy _has_compatible_shallow_copy_type
diagonal movedim swapaxes tile pad constant_pad_nd reflection_pad2d replicate_pad2d
set_ embedding_renorm _local_scalar_dense item copy_ sym_size sym_numel sym_stride stride is_same_size
__getitem__ tensor_split result_type can_cast broadcast_tensors
slice_backward select_backward diagonal_backward slice_scatter select_scatter diagonal_scatter as_strided_scatter
unsafe_split unsafe_split_with_sizes unsafe_chunk reflection_pad1d reflection_pad3d replication_pad1d replication_pad2d
replication_pad3d reflection_pad1d_backward reflection_pad2d_backward reflection_pad3d_backward
replication_pad1d_backward replication_pad2d_backward replication_pad3d_backward
bernoulli uniform normal rand randn rand_like randn_like randint randint_like randperm
view_as_complex view_as_real""".split()

for _n in COMPLEX_FLOPS:
    FORMULAS.setdefault("aten::" + _n, _complex_aware(_n))
for _n in ELEMENTWISE:
    FORMULAS.setdefault("aten::" + _n, _per_element(1))
for _n in REDUCTIONS:
    FORMULAS.setdefault("aten::" + _n, _per_element(1, True))
KNOWN_FREE = {"aten::" + n for n in FREE}
for _n in KNOWN_FREE:
    FORMULAS.setdefault(_n, _zero)

MAC_OPS = {n for n, f in FORMULAS.items() if n in (
    "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::mv", "aten::addmv",
    "aten::dot", "aten::vdot", "aten::linear", "aten::matmul",
    "aten::einsum", "aten::scaled_dot_product_attention", "aten::scaled_dot_product_attention_backward")
    or "conv" in n}
# ops that appear as operator rows even though they cost nothing
LISTED_FREE = {"aten::embedding"}


def lookup(name: str) -> tuple[str, Formula | None]:
    """(canonical name, formula or None when no formula covers it)."""
    c = canonical(name)
    return c, FORMULAS.get(c)


def is_listed(op: str, macs: int, flops: int) -> bool:
    """Whether an op gets an operator row: it costs something, or is listed on purpose (embedding)."""
    return macs > 0 or flops > 0 or op in LISTED_FREE
