"""Activation checkpointing for a measured training step (``--checkpointing``).

Each repeated block (the children of the module's largest ``nn.ModuleList`` or numbered ``nn.Sequential``,
by parameters) runs under ``torch.utils.checkpoint.checkpoint(use_reentrant=False)``: its forward keeps
only its inputs, and backward reruns it to rebuild what it needs.  Hugging Face models use their own switch,
``gradient_checkpointing_enable`` (which checkpoints each decoder/encoder layer the same way).  The rerun's
operators are counted apart (``context_fn``'s recompute context switches the counting phase), so the
extra forward FLOPs are measured, not assumed to be one more forward.
"""
from __future__ import annotations

import contextlib
from functools import partial

import torch

from mlcost.errors import UsageError


def repeated_blocks(module) -> tuple[str, list]:
    """(name, blocks) of the container of repeated blocks holding the most parameters."""
    best, best_params = None, 0
    for name, m in module.named_modules():
        if isinstance(m, torch.nn.ModuleList) or (isinstance(m, torch.nn.Sequential)
                                                   and all(k.isdigit() for k in m._modules)):
            kids = list(m.children())
            types = {type(k) for k in kids}
            if len(kids) < 2 or len(types) != 1:
                continue
            n = sum(p.numel() for p in m.parameters())
            if n > best_params:
                best, best_params = (name or "(root)", kids), n
    if best is None:
        raise UsageError("--checkpointing recomputes repeated blocks: this model has no nn.ModuleList or numbered "
                         "nn.Sequential of two or more blocks of one type")
    return best


@contextlib.contextmanager
def _one_sequence_per_row():
    """Checkpointing turns transformers' cache off in training, and with no cache it reads the position ids'
    values to find packed sequences (``.item()``, which a meta tensor cannot answer).  The inputs mlcost builds
    hold one sequence per row (positions 0..S-1), for which that check finds no packing: answer it so."""
    try:
        from transformers import masking_utils
    except ImportError:  # pragma: no cover - an HF model without transformers' masking helpers
        yield
        return
    real = getattr(masking_utils, "find_packed_sequence_indices", None)
    if real is None:
        yield
        return
    masking_utils.find_packed_sequence_indices = lambda position_ids: None
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = real


@contextlib.contextmanager
def enabled(module, recompute_ctx):
    """Checkpoint MODULE's repeated blocks while inside; RECOMPUTE_CTX() wraps every rerun.  Yields a
    description {"blocks": name, "count": n, "how": ...}."""
    from torch.utils.checkpoint import checkpoint

    def context_fn():
        return contextlib.nullcontext(), recompute_ctx()

    if getattr(module, "supports_gradient_checkpointing", False) and hasattr(module, "gradient_checkpointing_enable"):
        kwargs = {"use_reentrant": False, "context_fn": context_fn}
        if hasattr(module, "activation_checkpointing_enable"):  # transformers 5: gradient_* warns (deprecated)
            module.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            disable = module.activation_checkpointing_disable
        else:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            disable = module.gradient_checkpointing_disable
        # the recomputed blocks are transformers' GradientCheckpointingLayer instances (the decoder/encoder layers);
        # the model that holds them carries a gradient_checkpointing flag too, which recomputes nothing itself
        from transformers.modeling_layers import GradientCheckpointingLayer

        layers = [m for m in module.modules() if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing]
        try:
            with _one_sequence_per_row():
                yield {"blocks": "transformers gradient_checkpointing_enable", "count": len(layers),
                       "how": "Hugging Face gradient checkpointing (each layer recomputed in backward)"}
        finally:
            disable()
        return
    name, blocks = repeated_blocks(module)
    own = [b.__dict__.get("forward") for b in blocks]  # an instance-level forward to put back, usually None
    for b in blocks:
        b.forward = partial(checkpoint, b.forward, use_reentrant=False, context_fn=context_fn)
    try:
        yield {"blocks": name, "count": len(blocks),
               "how": f"torch.utils.checkpoint on each of the {len(blocks)} blocks of {name}"}
    finally:
        for b, f in zip(blocks, own):
            if f is None:
                del b.forward
            else:
                b.forward = f
