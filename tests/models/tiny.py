"""Tiny models whose FLOPs/MACs/params are easy to compute by hand.

Each ``build_*`` returns ``(module, example_inputs)`` on the current default device;
``build`` is the Linear stack. Hand counts are in each docstring (1 MAC = 2 FLOPs).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LinearStack(nn.Module):
    """Linear(8,16) -> ReLU -> Linear(16,4); params 8*16+16 + 16*4+4 = 212.

    Input (2, 8): MACs 2*8*16 + 2*16*4 = 256 + 128 = 384.
    """

    def __init__(self, dims=(8, 16, 4), bias: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(dims, dims[1:]))
        self.act = nn.ReLU()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


def build(batch: int = 2, dims=(8, 16, 4), bias: bool = True):
    return LinearStack(tuple(dims), bias), (torch.zeros(batch, dims[0]),)


class ConvNet(nn.Module):
    """Conv2d(3,8,3,p=1) -> BN -> ReLU -> MaxPool(2) -> ConvT(8,4,2,s=2) -> AvgPool(1) -> Linear(4,2).

    Input (1,3,8,8): conv MACs 8*8*8 * 3*3*3 = 13,824; convT MACs 8*4*4 (input pixels) * 4*2*2 = 2,048;
    linear 4*2 = 8.  Params: 3*8*9+8 + 2*8 + 8*4*4+4 + 4*2+2 = 224+16+132+10 = 382.
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.pool(self.act(self.bn(self.conv(x))))
        x = self.gap(self.up(x)).flatten(1)
        return self.fc(x)


def build_convnet(batch: int = 1, size: int = 8):
    return ConvNet(), (torch.zeros(batch, 3, size, size),)


class MatmulNet(nn.Module):
    """bmm + einsum + matmul on inputs a (2,3,4), b (2,4,5): 3 * 2*3*4*5 = 360 MACs; no params."""

    def forward(self, a, b):
        return torch.bmm(a, b) + torch.einsum("bij,bjk->bik", a, b) + torch.matmul(a, b)


def build_matmul():
    return MatmulNet(), (torch.zeros(2, 3, 4), torch.zeros(2, 4, 5))


class SDPANet(nn.Module):
    """Grouped-query causal SDPA: q (1,4,6,8), k/v (1,2,6,8).

    MACs (dense, causal not discounted): QK^T 1*4*6*6*8 + AV 1*4*6*6*8 = 1152 + 1152 = 2304.
    """

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def build_sdpa(batch: int = 1, heads: int = 4, kv_heads: int = 2, seq: int = 6, hd: int = 8):
    return SDPANet(), (torch.zeros(batch, heads, seq, hd), torch.zeros(batch, kv_heads, seq, hd),
                       torch.zeros(batch, kv_heads, seq, hd))


class NormNet(nn.Module):
    """LayerNorm(6) -> GroupNorm(2, 4) -> RMSNorm(6) on (2, 4, 6); 0 MACs; params 12 + 8 + 6 = 26."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(6)
        self.gn = nn.GroupNorm(2, 4)
        self.rms = nn.RMSNorm(6)

    def forward(self, x):
        return self.rms(self.gn(self.ln(x)))


def build_norms():
    return NormNet(), (torch.zeros(2, 4, 6),)


class Spectral(nn.Module):
    """Uses torch.fft.rfft, an operator no FLOP formula covers."""

    def forward(self, x):
        return torch.fft.rfft(x, dim=-1).abs()


class UnsupportedNet(nn.Module):
    """Linear(8,8) then ``spectral`` called twice: rfft appears 2x in module "spectral".

    Input (2, 8): linear MACs 2*8*8 = 128; rfft output (2, 5) per call.
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.spectral = Spectral()

    def forward(self, x):
        x = self.fc(x)
        return self.spectral(x) + self.spectral(x)


def build_unsupported():
    return UnsupportedNet(), (torch.zeros(2, 8),)


class DictKwargNet(nn.Module):
    """Keyword-only input, Python-level branching on a str kwarg, and a dict output with a None.

    jit tracing cannot take this (non-tensor kwargs, dict output holding None); the dispatch backend can.
    x (2, 8): fc 2*8*16 = 256 MACs; mode="double" runs ``head`` twice: 2 * 2*16*4 = 256 MACs.
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x, *, mode: str = "double", scale: torch.Tensor | None = None):
        h = self.fc(x)
        if scale is not None:
            h = h * scale
        out = self.head(h)
        if mode == "double":
            out = out + self.head(h)
        return {"logits": out, "aux": None}


def build_dict_kwargs():
    return DictKwargNet(), (torch.zeros(2, 8),)


class BranchyNet(nn.Module):
    """Data-dependent control flow: loops ``fc`` while the running mean is positive (max 3 times).

    Needs real tensors (a meta tensor has no values). With x = ones(2, 4) and fc initialised to
    identity weights / zero bias the loop runs 3 times: 3 * 2*4*4 = 96 MACs.
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        steps = 0
        while steps < 3 and bool(x.mean() > 0):
            x = self.fc(x)
            steps += 1
        return x


def build_branchy():
    model = BranchyNet()
    if not any(p.is_meta for p in model.parameters()):
        with torch.no_grad():
            model.fc.weight.copy_(torch.eye(4))
            model.fc.bias.zero_()
    return model, (torch.ones(2, 4),)
