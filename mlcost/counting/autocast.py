"""``--precision amp``: the forward under torch.autocast's op rules, on the meta device.

torch's autocast is a dispatch key of CUDA/CPU tensors: meta tensors never reach it, and without CUDA
``torch.autocast("cuda")`` disables itself.  So mlcost applies the same rules itself, at the same level
(above autograd, so the casts are recorded and what autograd saves is in the dtypes a real run saves):

- ops autocast runs in the lower precision (matmuls, convolutions, linear, SDPA): floating inputs cast
  to bf16/fp16, parameters cast once per forward (autocast's weight-cast cache);
- ops it runs in fp32 (norms, exp/log/pow, losses): floating inputs cast to fp32;
- ops that take an output dtype (softmax, log_softmax, sum, cumsum, prod, norm): ``dtype=float32``;
- ops that promote (cat, stack, addcmul, ...): inputs cast to the widest floating dtype among them;
- everything else runs in its inputs' dtype.

The op lists are PyTorch's "Autocast Op Reference" (docs/source/amp.rst) for CUDA (``POLICY["cuda"]``,
what ``--precision amp`` uses) and for CPU (``POLICY["cpu"]``, which the tests check against a real
``torch.autocast("cpu")`` run).  Weights, gradients and optimizer states stay fp32.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

T = torch.Tensor
_MATMUL = [F.linear, torch.matmul, T.matmul, T.__matmul__, torch.mm, T.mm, torch.bmm, T.bmm, torch.baddbmm, T.baddbmm,
           torch.addmm, T.addmm, torch.addbmm, T.addbmm, torch.einsum, F.conv1d, F.conv2d, F.conv3d,
           F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.prelu, F.scaled_dot_product_attention]
_LOSSES = [F.cross_entropy, F.nll_loss, F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.kl_div,
           F.binary_cross_entropy_with_logits, F.poisson_nll_loss, F.cosine_embedding_loss, F.hinge_embedding_loss,
           F.margin_ranking_loss, F.multilabel_margin_loss, F.soft_margin_loss, F.triplet_margin_loss,
           F.multi_margin_loss]
POLICY = {
    "cuda": {
        "lower": set(_MATMUL) | {torch.addmv, T.addmv, torch.mv, T.mv, torch.addr, T.addr, torch.chain_matmul},
        "fp32": set(_LOSSES) | {
            torch.acos, T.acos, torch.asin, T.asin, torch.cosh, T.cosh, torch.erfinv, T.erfinv, torch.exp, T.exp,
            torch.expm1, T.expm1, torch.log, T.log, torch.log10, T.log10, torch.log2, T.log2, torch.log1p, T.log1p,
            torch.reciprocal, T.reciprocal, torch.rsqrt, T.rsqrt, torch.sinh, T.sinh, torch.tan, T.tan, torch.pow,
            T.pow, T.__pow__, F.softplus, F.layer_norm, F.group_norm, F.cosine_similarity, torch.cdist, torch.dist,
            torch.logsumexp, T.logsumexp, F.pdist, torch.renorm, F.interpolate, F.grid_sample},
        "set_dtype": {F.softmax, torch.softmax, T.softmax, F.log_softmax, torch.log_softmax, T.log_softmax,
                      torch.sum, T.sum, torch.cumsum, T.cumsum, torch.prod, T.prod, torch.cumprod, T.cumprod},
        "promote": {torch.cat, torch.stack, torch.addcmul, T.addcmul, torch.addcdiv, T.addcdiv, torch.atan2,
                    torch.cross, torch.dot, torch.vdot, torch.tensordot, torch.index_put, T.index_put,
                    torch.scatter_add, T.scatter_add},
    },
    "cpu": {
        "lower": set(_MATMUL),
        "fp32": set(_LOSSES) | {torch.cdist, torch.dist, F.grid_sample},
        "set_dtype": {torch.prod, T.prod},
        "promote": {torch.cat, torch.stack, torch.index_copy},
    },
}


def _floating(x) -> bool:
    return isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != torch.float64


class AutocastRules(TorchFunctionMode):
    """Autocast's casts for DEVICE's op lists, into DTYPE (bfloat16 or float16)."""

    def __init__(self, dtype=torch.bfloat16, device: str = "cuda"):
        super().__init__()
        self.dtype = dtype
        self.lists = POLICY[device]
        self.cache: dict[int, torch.Tensor] = {}  # parameter id -> its cast copy, for one forward

    def _cast(self, x, dtype):
        if not _floating(x) or x.dtype == dtype:
            return x
        if x.is_leaf and x.requires_grad:  # parameters: cast once per forward, as autocast's cache does
            hit = self.cache.get(id(x))
            if hit is None or hit.dtype != dtype:
                hit = self.cache[id(x)] = x.to(dtype)
            return hit
        return x.to(dtype)

    def _map(self, args, kwargs, dtype):
        def one(a):
            if isinstance(a, (list, tuple)):
                return type(a)(self._cast(x, dtype) for x in a)
            return self._cast(a, dtype)
        return tuple(one(a) for a in args), {k: one(v) for k, v in kwargs.items()}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        lists = self.lists
        if func in lists["lower"]:
            args, kwargs = self._map(args, kwargs, self.dtype)
        elif func in lists["fp32"]:
            args, kwargs = self._map(args, kwargs, torch.float32)
        elif func in lists["set_dtype"]:
            first = args[0] if args else kwargs.get("input")
            if _floating(first) and first.dtype != torch.float32 and kwargs.get("dtype") is None:
                kwargs = {**kwargs, "dtype": torch.float32}
        elif func in lists["promote"]:
            flat = [x for a in args for x in (a if isinstance(a, (list, tuple)) else [a]) if _floating(x)]
            if len({x.dtype for x in flat}) > 1:
                widest = torch.float32 if any(x.dtype == torch.float32 for x in flat) else flat[0].dtype
                args, kwargs = self._map(args, kwargs, widest)
        return func(*args, **kwargs)


class forward_under(object):
    """Context manager: the forward inside runs under ``AutocastRules``; the weight-cast cache is dropped
    at the end, as leaving ``torch.autocast`` drops it."""

    def __init__(self, dtype=torch.bfloat16, device: str = "cuda"):
        self.mode = AutocastRules(dtype, device)

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.cache.clear()
        return self.mode.__exit__(*exc)
