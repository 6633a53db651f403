"""Mixture of experts: total vs active parameters, and FLOPs of the top-k path beside all experts.

Routed experts pick tokens with ``nonzero``/``where`` on the router's output, which has no answer on
the meta device.  So the experts modules are swapped for a stand-in that runs a *fixed* number of
experts on every token (top-k for the active path, all of them for the all-experts figure); the
counting backend then measures those matmuls like any other.  The routing itself (router linear,
softmax, top-k) is counted as it is.
"""
from __future__ import annotations

import re
from typing import Any

_EXPERT_PARAM = re.compile(r"(^|\.)experts(\.|$)")


def moe_shape(config: Any) -> tuple[int, int] | None:
    """(experts, experts per token) for a routed-experts config, else None."""
    n = getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None) or getattr(config, "n_routed_experts", None)
    k = getattr(config, "num_experts_per_tok", None) or getattr(config, "moe_top_k", None)
    if isinstance(n, int) and isinstance(k, int) and 0 < k <= n and n > 1:
        return n, k
    return None


def param_split(model: Any) -> tuple[int, int]:
    """(all parameters, parameters inside '*.experts.*' modules), counting tied weights once."""
    total = expert = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if _EXPERT_PARAM.search(name):
            expert += p.numel()
    return total, expert


def active_params(total: int, expert: int, n: int, k: int) -> int:
    """Parameters touched per token: everything but the experts, plus k of the n experts."""
    return total - expert + expert * k // n


def fused_experts_modules(model: Any, n: int) -> list[tuple[str, Any]]:
    """The experts modules stored as 3D tensors (experts, out, in), as transformers 5 builds them."""
    found = []
    for name, mod in model.named_modules():
        if name.rsplit(".", 1)[-1] != "experts":
            continue
        gu, down = getattr(mod, "gate_up_proj", None), getattr(mod, "down_proj", None)
        if gu is not None and down is not None and getattr(gu, "ndim", 0) == 3 and gu.shape[0] == n and down.shape[0] == n:
            found.append((name, mod))
    return found


def make_fixed_experts(torch: Any, inner: Any, runs: int) -> Any:
    """A module standing in for INNER that sends every token through experts 0..runs-1 (SwiGLU-style:
    act(gate) * up, then down), each scaled by a routing weight, summed."""
    F = torch.nn.functional

    class FixedExperts(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner  # kept as a child so its parameters stay in the model
            self.runs = runs

        def forward(self, hidden_states: Any, top_k_index: Any = None, top_k_weights: Any = None, *args: Any, **kwargs: Any) -> Any:
            h = hidden_states.shape[-1]
            gu, down = self.inner.gate_up_proj, self.inner.down_proj
            act = getattr(self.inner, "act_fn", F.silu)
            out = torch.zeros_like(hidden_states)
            for j in range(self.runs):
                w = gu[j]
                x = F.linear(hidden_states, w) if w.shape[-1] == h else hidden_states @ w
                gate, up = x.chunk(2, dim=-1)
                y = act(gate) * up
                d = down[j]
                y = F.linear(y, d) if d.shape[0] == h else y @ d
                if top_k_weights is not None:
                    col = min(j, top_k_weights.shape[-1] - 1)
                    y = y * top_k_weights[..., col:col + 1].to(y.dtype)
                out = out + y
            return out

    return FixedExperts()


def swap_experts(model: Any, modules: list[tuple[str, Any]], make: Any) -> None:
    """Replace each named experts module in MODEL by make(original)."""
    for name, mod in modules:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(mod))


def restore_experts(model: Any, modules: list[tuple[str, Any]]) -> None:
    swap_experts(model, modules, lambda m: m)
