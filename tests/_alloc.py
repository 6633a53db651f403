"""Ground truth for memory tests: the CPU allocator's own timeline of a real run (torch.profiler with
profile_memory=True, its memory timeline's CREATE/DESTROY events), and tiny models written the way
Hugging Face's eager path and torchvision write them."""
from __future__ import annotations

import math

import torch
from torch import nn


def allocator_peak(fn) -> int:
    """Peak bytes the CPU allocator holds during FN() above what was alive before it (a real run)."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        fn()
    cur = peak = 0
    for _t, action, _key, size in prof._memory_profile().timeline:
        if action == Action.CREATE:
            cur += size
        elif action == Action.DESTROY:
            cur -= size
        peak = max(peak, cur)
    return peak


class RMSNorm(nn.Module):  # transformers' LlamaRMSNorm: upcast to fp32, normalise, cast back
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        var = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        return self.weight * x.to(dtype)


def repeat_kv(x, n_rep):  # transformers' repeat_kv: expand + reshape (a copy)
    b, h, s, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


class Attention(nn.Module):
    def __init__(self, d, heads, kv_heads):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv_heads, d // heads
        self.q = nn.Linear(d, heads * self.hd, bias=False)
        self.k = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o = nn.Linear(heads * self.hd, d, bias=False)

    def forward(self, x, mask):
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.h, self.hd).transpose(1, 2)
        k = self.k(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        v = self.v(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        k, v = repeat_kv(k, self.h // self.kv), repeat_kv(v, self.h // self.kv)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
        w = nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)  # fp32 softmax, as HF eager
        out = torch.matmul(w, v).transpose(1, 2).reshape(b, s, -1)
        return self.o(out)


class Block(nn.Module):
    def __init__(self, d, heads, kv_heads, ff):
        super().__init__()
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.attn = Attention(d, heads, kv_heads)
        self.gate, self.up, self.down = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)

    def forward(self, x, mask):
        x = x + self.attn(self.n1(x), mask)
        h = self.n2(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    """A GQA decoder as Hugging Face's eager Llama writes it (repeat_kv, fp32 softmax and norms)."""

    def __init__(self, vocab=96, d=64, heads=8, kv_heads=2, ff=160, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Block(d, heads, kv_heads, ff) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        s = ids.shape[1]
        mask = torch.full((s, s), float("-inf"), device=ids.device).triu(1)
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.norm(x))


def conv_net(c1=12, c2=20, stride=1):
    """A small conv net.  The channel counts are not multiples of 16: for those, CPU oneDNN reorders each
    conv's input into its blocked layout, a kernel-private copy no operator returns (bench/memory.py shows it)."""
    return nn.Sequential(
        nn.Conv2d(3, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=stride, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c2, 10))


def real_step_peak(module, inputs, optimizer: str, forward_ctx=None) -> int:
    """Allocator peak of one real steady-state CPU step (states allocated, grads None before the forward),
    persistent bytes (weights, buffers, optimizer states) included.  FORWARD_CTX() (torch.autocast, say)
    wraps the forward."""
    import contextlib

    from torch.utils._pytree import tree_flatten

    from mlcost.counting.training_step import make_optimizer

    module.train()
    opt = make_optimizer(optimizer, [p for p in module.parameters() if p.requires_grad])
    persistent = sum(t.untyped_storage().nbytes() for t in [*module.parameters(), *module.buffers()])
    persistent += sum(v.untyped_storage().nbytes() for s in opt.state.values() for v in s.values())

    def step():
        with (forward_ctx or contextlib.nullcontext)():
            out = module(*inputs)
        loss = sum(t.sum() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.requires_grad)
        loss.backward()
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)

    return persistent + allocator_peak(step)


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 48, num_layers=2, batch_first=True)
        self.head = nn.Linear(48, 5)

    def forward(self, x):
        return self.head(self.lstm(x)[0])
