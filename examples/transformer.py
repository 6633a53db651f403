"""A small decoder-only transformer for the README demo: `mlcost profile examples/transformer.py:build`.

Pre-norm blocks with causal scaled_dot_product_attention and a GELU MLP; ``build`` returns
``(module, example_inputs)`` -- int64 token ids of shape (batch, seq_len) -- so no --input-shape is needed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        # (b, t, d) -> (b, heads, t, head_dim)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int = 8000, d_model: int = 256, n_layers: int = 4, n_heads: int = 4, ctx: int = 512):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(ctx, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def build(vocab: int = 8000, d_model: int = 256, n_layers: int = 4, n_heads: int = 4, seq_len: int = 128, batch: int = 1):
    """(model, (token ids,)): ids are int64 zeros of shape (batch, seq_len), built on the current device."""
    model = TinyTransformer(vocab, d_model, n_layers, n_heads, ctx=max(512, seq_len))
    return model, (torch.zeros(batch, seq_len, dtype=torch.long),)
