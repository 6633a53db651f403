"""Llama-2-shaped decoder (RMSNorm, rotary embeddings, GQA, SwiGLU, untied head, SDPA).

Defaults are Llama-2-7B's shape: 6,738,415,616 parameters
(= 32000*4096 embed + 32*(4*4096^2 + 3*4096*11008 + 2*4096) + 4096 final norm + 32000*4096 head).
Inputs are int64 token ids of shape (batch, seq).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.weight


def rotary(x, base: float = 10000.0):
    """Apply rotary position embedding to x (batch, heads, seq, head_dim); no weights."""
    seq, hd = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, device=x.device, dtype=torch.float32) / hd))
    pos = torch.arange(seq, device=x.device, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)
    cos, sin = freqs.cos().to(x.dtype), freqs.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int):
        super().__init__()
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        self.wq = nn.Linear(d_model, n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(n_heads * self.head_dim, d_model, bias=False)

    def forward(self, x):
        b, s, _ = x.shape
        q = self.wq(x).view(b, s, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, s, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, s, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotary(q), rotary(k)
        if self.n_kv_heads != self.n_heads:
            # grouped-query attention: SDPA broadcasts the kv heads itself
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(o.transpose(1, 2).reshape(b, s, self.n_heads * self.head_dim))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ffn: int):
        super().__init__()
        self.w1 = nn.Linear(d_model, ffn, bias=False)
        self.w2 = nn.Linear(ffn, d_model, bias=False)
        self.w3 = nn.Linear(d_model, ffn, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, ffn: int):
        super().__init__()
        self.attention_norm = RMSNorm(d_model)
        self.attention = Attention(d_model, n_heads, n_kv_heads)
        self.ffn_norm = RMSNorm(d_model)
        self.feed_forward = FeedForward(d_model, ffn)

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    def __init__(self, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=None, ffn=11008, vocab=32000):
        super().__init__()
        n_kv_heads = n_kv_heads or n_heads
        self.tok_embeddings = nn.Embedding(vocab, d_model)
        self.layers = nn.ModuleList(Block(d_model, n_heads, n_kv_heads, ffn) for _ in range(n_layers))
        self.norm = RMSNorm(d_model)
        self.output = nn.Linear(d_model, vocab, bias=False)

    def forward(self, tokens):
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h))


def build(d_model: int = 4096, n_layers: int = 32, n_heads: int = 32, n_kv_heads: int | None = None,
          ffn: int = 11008, vocab: int = 32000, seq_len: int = 128, batch: int = 1):
    """(Llama, (tokens,)) with tokens int64 of shape (batch, seq_len)."""
    model = Llama(d_model, n_layers, n_heads, n_kv_heads, ffn, vocab)
    return model, (torch.zeros(batch, seq_len, dtype=torch.long),)


def build_small(seq_len: int = 16, batch: int = 1, n_kv_heads: int | None = 2):
    """A tiny Llama (d=64, 2 layers, 4 heads, 2 kv heads, ffn 160, vocab 100) for fast tests."""
    return build(d_model=64, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, ffn=160, vocab=100,
                 seq_len=seq_len, batch=batch)


class SpectralLlama(Llama):
    """build_small's Llama with a spectral mix after the embeddings: rfft then irfft over the model dim, two
    operators no FLOP formula covers (aten::_fft_r2c, aten::_fft_c2r in module "spectral")."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spectral = SpectralMix()

    def forward(self, tokens):
        h = self.spectral(self.tok_embeddings(tokens))
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h))


class SpectralMix(nn.Module):
    def forward(self, x):
        return torch.fft.irfft(torch.fft.rfft(x, dim=-1), n=x.shape[-1], dim=-1)


def build_small_spectral(seq_len: int = 16, batch: int = 1):
    """build_small's shape with SpectralMix (fft ops, uncounted) after the embeddings."""
    model = SpectralLlama(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn=160, vocab=100)
    return model, (torch.zeros(batch, seq_len, dtype=torch.long),)
