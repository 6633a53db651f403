"""Fused attention on the meta device, as the real kernels allocate.

On meta, ``F.scaled_dot_product_attention`` falls back to its math decomposition, which materialises the
batch x heads x Lq x Lk score matrix (and saves it for backward).  Every real device runs a fused kernel
instead (CPU: ``_scaled_dot_product_flash_attention_for_cpu``; CUDA: flash / memory-efficient / cuDNN),
which returns the output and a batch x heads x Lq fp32 log-sum-exp and never stores the scores.  Running
the CPU flash operator on meta gives those allocations (its meta kernel) and its autograd node (the
fused backward), so activation memory matches the kernels users run; FLOPs are counted whole either way.
Flash kernels need one head size for Q, K and V: where V's differs (DeepSeek's MLA), CUDA runs the
memory-efficient kernel, and so does the meta run.
"""
from __future__ import annotations

import torch


def meta_sdpa(args: tuple, kwargs: dict):
    """The fused SDPA output for meta tensors, or None where the fused kernel does not apply (dropout,
    grouped K/V heads, non-4-D inputs): then the math path runs as torch would run it."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    q, k, v = bound.get("query"), bound.get("key"), bound.get("value")
    if not all(isinstance(t, torch.Tensor) and t.is_meta and t.dim() == 4 for t in (q, k, v)):
        return None
    if bound.get("dropout_p", 0.0):
        return None
    if k.shape[1] != q.shape[1] or v.shape[1] != q.shape[1]:  # grouped K/V heads (enable_gqa)
        if not bound.get("enable_gqa") or q.shape[1] % k.shape[1] or k.shape[1] != v.shape[1]:
            return None
        rep = q.shape[1] // k.shape[1]  # the copy torch's own GQA path makes (repeat_interleave)
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    if set(bound) - set(names) - {"enable_gqa"}:
        return None
    mask = bound.get("attn_mask")
    if mask is not None and not isinstance(mask, torch.Tensor):
        return None
    if mask is not None and mask.dtype == torch.bool:  # as the CPU kernel does: an additive mask in q's dtype
        mask = torch.where(mask, torch.zeros((), dtype=q.dtype, device=q.device),
                           torch.full((), float("-inf"), dtype=q.dtype, device=q.device))
    causal, scale = bool(bound.get("is_causal", False)), bound.get("scale")
    if v.shape[-1] != q.shape[-1] or k.shape[-1] != q.shape[-1]:
        # values narrower than queries/keys (DeepSeek's MLA: 192 vs 128): flash kernels need one head size, so CUDA
        # runs memory-efficient attention (its output at V's width, a log-sum-exp padded to 32 query rows)
        if mask is not None:
            mask = mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
        return torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, mask, True, 0.0, causal, scale=scale)[0]
    out, _lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, attn_mask=mask,
                                                                           scale=scale)
    return out
