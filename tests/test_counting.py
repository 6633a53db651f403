"""Counting core: exact integers on hand-countable and well-known models (1 MAC = 2 FLOPs)."""
from __future__ import annotations

import pytest
import torch

from mlcost.counting import count_module
from mlcost.errors import UnsupportedOperatorError, UsageError
from tests.models import gpt2, llama, resnet, tiny


def meta(build, *a, **k):
    with torch.device("meta"):
        return build(*a, **k)


@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_linear_stack_exact(backend):
    m, a = meta(tiny.build)
    p = count_module(m, a, backend=backend)
    assert p.backend == backend
    assert p.params.total == 212  # 8*16+16 + 16*4+4
    assert p.macs_forward == 384  # 2*8*16 + 2*16*4
    assert p.flops_forward == 800  # 2*384 + relu 2*16
    assert sum(r.flops for r in p.by_operator) == p.flops_forward
    rows = {r.name: r for r in p.by_module}
    assert rows[""].flops == 800 and rows["layers.0"].macs == 256 and rows["layers.1"].macs == 128
    assert p.memory.weights_bytes == 212 * 4
    assert "attention" in p.conventions and "elementwise" in p.conventions


def test_conv_net_torch_exact_and_auto_is_dispatch():
    m, a = meta(tiny.build_convnet)
    p = count_module(m, a)
    # auto is the dispatch counter: no jit trace is attempted, so no tracer error reaches the assumptions
    assert p.backend == "torch" and not any("fvcore" in n or "trac" in n for n in p.assumptions)
    # conv 8*8*8 * 3*3*3 = 13824; convT input 4*4*8 * (4*2*2) = 2048; fc 4*2 = 8
    assert p.macs_forward == 13824 + 2048 + 8
    ops = {r.op: r for r in p.by_operator}
    assert ops["aten::batch_norm"].flops == 8 * 8 * 8 * 4  # eval: 2/elem + affine 2
    assert ops["aten::relu"].flops == 512
    assert ops["aten::max_pool2d"].flops == 8 * 4 * 4 * 2 * 2  # out elements x kernel
    assert p.flops_forward == 2 * 15880 + 2048 + 512 + 512 + 256  # + adaptive pool 1/input elem


def test_conv_net_backends_agree_on_cpu():
    m, a = tiny.build_convnet()
    f = count_module(m, a, backend="fvcore")
    t = count_module(m, a, backend="torch")
    assert (f.macs_forward, f.flops_forward) == (t.macs_forward, t.flops_forward) == (15880, 35088)


@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_matmul_sdpa_norms(backend):
    m, a = meta(tiny.build_matmul)
    assert count_module(m, a, backend=backend).macs_forward == 3 * 2 * 3 * 4 * 5
    m, a = meta(tiny.build_sdpa)
    p = count_module(m, a, backend=backend)
    assert p.macs_forward == 2 * (1 * 4 * 6 * 6 * 8)  # QK^T + AV, GQA kv heads broadcast to 4
    assert p.flops_forward == 2 * 2304 + 6 * (4 * 6 * 6)  # + scale 1 + softmax 5 per score
    m, a = meta(tiny.build_norms)
    ops = {r.op: r.flops for r in count_module(m, a, backend=backend).by_operator}
    assert ops == {"aten::layer_norm": 48 * 7, "aten::group_norm": 48 * 7, "aten::rms_norm": 48 * 4}


@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_unsupported_listed_and_strict(backend):
    m, a = meta(tiny.build_unsupported)
    p = count_module(m, a, backend=backend)
    assert [(u.module, u.count) for u in p.unsupported_ops] == [("spectral", 2)]
    assert "fft" in p.unsupported_ops[0].op
    assert p.macs_forward == 128  # 2*8*8
    with pytest.raises(UnsupportedOperatorError, match="fft"):
        count_module(m, a, backend=backend, strict=True)


def test_kwargs_dict_and_data_dependent_use_dispatch():
    m, a = meta(tiny.build_dict_kwargs)
    p = count_module(m, a, {"scale": torch.ones(16, device="meta")})
    assert p.backend == "torch"
    assert p.macs_forward == 2 * 8 * 16 + 2 * (2 * 16 * 4)  # fc + head twice
    with pytest.raises(UsageError):
        count_module(m, a, {"scale": torch.ones(16, device="meta")}, backend="fvcore")
    m, a = tiny.build_branchy()
    assert count_module(m, a, backend="torch").macs_forward == 3 * 2 * 4 * 4


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_linear_is_one_row_forward_and_backward(device):
    """F.linear is counted whole: addmm on a 2-D input, view + mm on 3-D, t + matmul on meta all read
    aten::linear, as in fvcore's jit trace; its backward (grad mm's, bias sum) files under the same row."""
    with torch.device(device):
        m, a = tiny.build()
    p = count_module(m, a, training=True)
    rows = {r.op: (r.calls, r.flops, r.flops_backward) for r in p.by_operator}
    # forward 2*(2*8*16 + 2*16*4); backward grad-input 2*4*16 + grad-weight 4*2*16 + 16*2*8 MACs, bias sums 2*4 + 2*16
    assert rows["aten::linear"] == (2, 2 * 384, 2 * (128 + 128 + 256) + 40)
    assert set(rows) == {"aten::linear", "aten::relu", "aten::threshold_backward"}
    seq = torch.nn.Linear(8, 4, device=device)  # 3-D input: no addmm on CPU
    x = torch.zeros(2, 3, 8, device=device)
    ops = {r.op: r.macs for r in count_module(seq, (x,), backend="torch").by_operator}
    assert ops == {"aten::linear": 2 * 3 * 8 * 4}
    if device == "cpu":
        assert {r.op: r.macs for r in count_module(seq, (x,), backend="fvcore").by_operator} == ops


def test_training_linear_stack_exact():
    m, a = meta(tiny.build)
    p = count_module(m, a, training=True)
    assert p.backend == "torch"
    # backward: layer1 grad-input 2*4*16 + grad-weight 4*2*16, layer0 grad-weight only (input needs no grad)
    assert p.macs_backward == 128 + 128 + 256
    # + bias grads (sum over batch: 2*4 + 2*16) + relu backward 2*16
    assert p.flops_backward == 2 * 512 + 40 + 32
    assert sum(r.flops_backward for r in p.by_operator) == p.flops_backward
    t = p.memory.training
    assert t["saved_activations_bytes"] == 2 * 8 * 4 + 2 * 16 * 4  # input x + relu output
    # measured steady-state step: weights 212*4 + Adam states 212*8 + 4 step scalars*4 stay alive; the step's
    # peak is in the optimizer: fp32 grads 212*4 + foreach sqrt(exp_avg_sq) list 212*4 + the output 2*4*4
    assert t["optimizer_states_bytes"] == 212 * 8 + 4 * 4 and t["peak_phase"] == "optimizer"
    assert t["step_peak_bytes"] == 212 * 4 + 212 * 4 + 2 * 4 * 4
    assert p.memory.training_peak_bytes == 212 * 4 + 212 * 8 + 4 * 4 + t["step_peak_bytes"]
    mixed = count_module(m, a, training=True, precision="mixed").memory
    # bf16 weights 2 + fp32 master 4 + fp32 states 8 per param; step: fp32 master grads + sqrt list + bf16 output
    assert mixed.training["saved_activations_bytes"] == 192 // 2  # this model saves only bf16 tensors
    assert mixed.training_peak_bytes == 212 * (2 + 4 + 8) + 4 * 4 + 212 * 4 + 212 * 4 + 2 * 4 * 2
    sgd = count_module(m, a, training=True, optimizer="sgd").memory.training
    assert sgd["optimizer_states_bytes"] == 0


def test_training_amp_keeps_fp32_weights():
    """--precision amp is autocast over the fp32 model (fp32 weights, gradients and Adam states); the profile
    cast the model to bf16 first, so amp reported the bf16 step (212 * 2 bytes of weights) to the byte."""
    from mlcost.counting import dispatch

    m, a = meta(tiny.build)
    p = count_module(m, a, training=True, precision="amp")
    t = p.memory.training
    assert t["weights_bytes"] == t["gradients_bytes"] == 212 * 4 and t["master_weights_bytes"] == 0
    assert t["optimizer_states_bytes"] == 212 * 8 + 4 * 4  # exp_avg, exp_avg_sq fp32 + 4 step scalars
    # the step the profile reports is the one dispatch.run measures under autocast (test_memory_alloc checks that
    # run against the CPU allocator)
    run = dispatch.run(m, a, {}, training=True, precision="amp")
    assert p.memory.training_peak_bytes == run.step.peak_bytes
    assert p.memory.activations_peak_bytes == run.activations_peak_bytes
    assert not any("cast to bfloat16" in n for n in p.assumptions)


def test_resnet50_matches_fvcore_and_torch():
    from fvcore.nn import FlopCountAnalysis

    m = resnet.build().eval()
    x = (torch.zeros(1, 3, 224, 224),)
    raw = FlopCountAnalysis(m, x)
    raw.unsupported_ops_warnings(False)
    by_op = raw.by_operator()
    f = count_module(m, x, backend="fvcore")
    t = count_module(m, x, backend="torch")
    assert f.params.total == 25_557_032
    assert f.macs_forward == t.macs_forward == by_op["conv"] + by_op["linear"] == 4_089_184_256
    assert f.flops_forward == t.flops_forward
    assert f.unsupported_ops == t.unsupported_ops == ()


def test_llama7b_meta_counts():
    m, a = meta(llama.build, seq_len=128)
    p = count_module(m, a, backend="torch")
    assert p.params.total == 32000 * 4096 + 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) + 4096 + 32000 * 4096
    assert p.params.total == 6_738_415_616
    attn = 32 * 2 * 1 * 32 * 128 * 128 * 128  # per layer 2*b*h*L*L*hd
    linear = 128 * (32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000)
    assert {r.op: r.macs for r in p.by_operator}["aten::scaled_dot_product_attention"] == attn
    assert p.macs_forward == linear + attn == 850_000_871_424
    assert sum(r.flops for r in p.by_operator) == p.flops_forward
    rows = {r.name: r for r in p.by_module}
    assert rows[""].flops == p.flops_forward
    assert sum(rows[f"layers.{i}"].flops for i in range(32)) + rows["norm"].flops + rows["output"].flops \
        + rows["tok_embeddings"].flops == p.flops_forward
    assert p.memory.weights_bytes == 6_738_415_616 * 4


def test_llama_small_backends_agree_and_block_rows_sum():
    m, a = meta(llama.build_small)
    f, t = count_module(m, a, backend="fvcore"), count_module(m, a, backend="torch")
    assert (f.macs_forward, f.flops_forward) == (t.macs_forward, t.flops_forward)
    for p in (f, t):
        rows = {r.name: r for r in p.by_module}
        kids = ("attention_norm", "attention", "ffn_norm", "feed_forward")
        assert rows["layers.0"].flops == sum(rows[f"layers.0.{k}"].flops for k in kids) + 2 * 16 * 64  # 2 residual adds
        assert rows["layers.0.attention"].macs == 16 * 64 * (64 + 32 + 32 + 64) + 2 * 4 * 16 * 16 * 16
        # the ModuleList is never called itself: its row is the sum of its two layers, never 0
        assert rows["layers"].flops == rows["layers.0"].flops + rows["layers.1"].flops > 0
        assert rows["layers"].macs == rows["layers.0"].macs + rows["layers.1"].macs


def test_gpt2_small():
    m, a = meta(gpt2.build, seq_len=128)
    p = count_module(m, a, backend="torch")
    assert p.params.total == 124_439_808
    per_token = 12 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) + 768 * 50257
    assert p.macs_forward == 128 * per_token + 12 * 2 * 12 * 128 * 128 * 64


def test_bad_options():
    m, a = meta(tiny.build)
    with pytest.raises(UsageError):
        count_module(m, a, backend="nope")
    with pytest.raises(UsageError):
        count_module(m, a, training=True, optimizer="lion")


def test_backward_module_rows_do_not_leak_into_siblings():
    """torch's ModuleTracker kept wq/wk/wv (one shared input) and embeddings (inputs need no grad)
    entered in backward, filing later siblings' backward ops under them: children summed above parents."""
    m, a = meta(llama.build_small)  # d=64, 4 heads, 2 kv heads (head_dim 16), ffn 160, vocab 100, seq 16
    p = count_module(m, a, training=True)
    rows = {r.name: r for r in p.by_module}
    # a Linear without bias: grad-input + grad-weight = 2x its forward MACs, nothing from its siblings
    assert rows["layers.0.attention.wo"].flops_backward == 2 * 2 * 16 * 64 * 64  # 262,144
    assert rows["layers.0.attention.wv"].flops_backward == 2 * 2 * 16 * 64 * 32  # 131,072
    assert rows["layers.0.feed_forward.w2"].flops_backward == 2 * 2 * 16 * 160 * 64  # 655,360
    assert rows["output"].flops_backward == 2 * 2 * 16 * 64 * 100  # 409,600
    for name, r in rows.items():  # every subtree at least covers its children
        kids = [k for k in rows if k != name and k.rpartition(".")[0] == name and (name or "." not in k)]
        assert sum(rows[k].flops_backward for k in kids) <= r.flops_backward, name
    assert sum(r.flops_backward for r in p.by_operator) == p.flops_backward == rows[""].flops_backward
    # two embeddings side by side (GPT-2's wte + wpe): the position table's backward is its own only
    g, ga = meta(gpt2.build_small)
    grow = {r.name: r for r in count_module(g, ga, training=True).by_module}
    assert grow["wpe"].flops_backward == 32 * 32  # embedding_dense_backward: 1 FLOP per element of its ctx x d table


@pytest.mark.parametrize("build", [gpt2.build_small, llama.build_small])
def test_fused_attention_backward_on_cpu_matches_meta(build):
    """On real CPU tensors SDPA's backward is one fused kernel (flash for cpu), on meta its math
    decomposition; the fused kernel used to be an unsupported op, dropping attention from backward."""
    with torch.device("meta"):
        mm, ma = build()
    torch.manual_seed(0)
    cm, ca = build()
    on_meta, on_cpu = count_module(mm, ma, training=True), count_module(cm, ca, training=True)
    assert on_cpu.unsupported_ops == on_meta.unsupported_ops == ()
    assert (on_cpu.flops_backward, on_cpu.macs_backward) == (on_meta.flops_backward, on_meta.macs_backward)
    # the backward of a function counted whole files under its forward row, fused or decomposed alike
    assert [(r.op, r.flops, r.flops_backward) for r in on_cpu.by_operator] == \
        [(r.op, r.flops, r.flops_backward) for r in on_meta.by_operator]
    fused = {r.op: r.flops_backward for r in on_cpu.by_operator}["aten::scaled_dot_product_attention"]
    if build is gpt2.build_small:  # 2 layers x 4 heads, seq 16, head_dim 8: 1024 scores per layer
        assert fused == 2 * (2 * 2 * 1024 * (8 + 8) + 1024 + 512 + 512)  # dQ,dK,dV,dP + softmax + q,k scale
    else:  # 4 query heads on 2 kv heads, head_dim 16: k and v broadcast to 1024 elements, then summed back
        assert fused == 2 * (2 * 2 * 1024 * (16 + 16) + 1024 + 1024 + 1024 + 2 * 1024)


class _Einsum(torch.nn.Module):
    def __init__(self, eq):
        super().__init__()
        self.eq = eq

    def forward(self, *xs):
        return torch.einsum(self.eq, *xs)


@pytest.mark.parametrize("eq, shapes, macs", [
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)], 2 * 3 * 4 * 5),  # fvcore path used to give 1 MAC/output: 30
    ("...ij,jk", [(2, 3, 4), (4, 5)], 2 * 3 * 4 * 5),  # implicit output, ellipsis on one side only
    ("...ij,...jk->...ik", [(1, 3, 4), (7, 4, 5)], 7 * 3 * 4 * 5),  # broadcast batch: the larger size
    ("b...d,b...d->b...", [(2, 3, 6, 8), (2, 1, 6, 8)], 2 * 3 * 6 * 8),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 6)], 3 * 4 * 5 + 3 * 5 * 6),  # left to right
])
@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_einsum_ellipsis_and_implicit_output(eq, shapes, macs, backend):
    xs = tuple(torch.zeros(s) for s in shapes)
    p = count_module(_Einsum(eq), xs, backend=backend)
    assert p.backend == backend and p.macs_forward == macs


@pytest.mark.parametrize("f, shapes, macs", [
    (lambda a, b: torch.matmul(a, b), [(3, 4), (4,)], 3 * 4),  # matrix @ vector dispatches to aten::mv
    (lambda a, b: torch.matmul(a, b), [(7,), (7,)], 7),  # vector @ vector: aten::dot
    (lambda c, a, b: torch.addmv(c, a, b), [(3,), (3, 4), (4,)], 3 * 4),
])
@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_matrix_vector_products_counted(f, shapes, macs, backend):
    class Fn(torch.nn.Module):
        def forward(self, *xs):
            return f(*xs)

    p = count_module(Fn(), tuple(torch.zeros(s) for s in shapes), backend=backend)
    assert (p.macs_forward, p.unsupported_ops) == (macs, ())


def test_training_conv_backward_counted():
    """convolution_backward used to be an unsupported op: --training dropped every conv's backward."""
    m, a = meta(tiny.build_convnet)
    p = count_module(m, a, training=True)
    assert p.unsupported_ops == ()
    ops = {r.op: r for r in p.by_operator}
    # conv: the input needs no grad, so grad-weight only (= forward MACs 13,824) + grad-bias sum over 8*8*8;
    # convT: grad-input + grad-weight (2 x forward MACs 2,048) + grad-bias sum over 4*8*8
    assert ops["aten::convolution_backward"].flops_backward == 2 * (13824 + 2 * 2048) + 8 * 8 * 8 + 4 * 8 * 8
    assert p.macs_backward == 13824 + 2 * 2048 + 2 * (1 * 4 * 2)  # + Linear(4,2) on (1,4): grad-input + grad-weight
    assert sum(r.flops_backward for r in p.by_operator) == p.flops_backward


def test_training_dropout_pad_adaptive_max_and_gru_have_no_unsupported_ops():
    """Dropout's random mask, padding, unsafe_split (GRU on meta) and adaptive max-pool backward used to be
    listed as unsupported; they are free (data movement) or 1 FLOP per element under the stated policy."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.gru = torch.nn.Linear(4, 4), torch.nn.GRU(4, 3, batch_first=True)

        def forward(self, x):  # x (2, 5, 4)
            y = torch.nn.functional.dropout(self.fc(x), 0.1, training=True)
            y = torch.nn.functional.pad(y, (1, 1), mode="reflect")  # (2, 5, 6)
            z = torch.nn.functional.adaptive_max_pool2d(y.unsqueeze(1), 2)  # (2, 1, 2, 2)
            return self.gru(x)[0].sum() + z.sum()

    m, a = meta(lambda: (Net(), (torch.zeros(2, 5, 4),)))
    p = count_module(m, a, training=True)
    assert p.unsupported_ops == ()
    ops = {r.op: r for r in p.by_operator}
    assert ops["aten::adaptive_max_pool2d_backward"].flops_backward == 2 * 5 * 6  # 1 per element of its input grad


def test_example_transformer_backends_agree_exactly_and_list_embeddings():
    """fvcore's trace records `d // n_heads` on traced sizes as aten::floor_divide on 0-dim tensors
    (1 FLOP each, 3 per block) that eager never runs; and the torch backend never listed embeddings."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "transformer.py"
    spec = importlib.util.spec_from_file_location("_example_transformer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m, a = meta(mod.build, vocab=100, d_model=32, n_layers=2, n_heads=4, seq_len=8)
    f, t = count_module(m, a, backend="fvcore"), count_module(m, a, backend="torch")
    assert (f.backend, t.backend) == ("fvcore", "torch")
    assert f.flops_forward == t.flops_forward and f.macs_forward == t.macs_forward
    for p in (f, t):
        ops = {r.op: r for r in p.by_operator}
        assert "aten::floor_divide" not in ops
        assert (ops["aten::embedding"].calls, ops["aten::embedding"].flops) == (2, 0)  # token + position tables


def test_module_called_twice_backward_row_covers_both_calls():
    """A block applied twice (weight sharing): torch's tracker drops the block from its parents for the
    first call's backward, so the block's row held one call's backward and less than its own children."""
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 8)
            self.blk = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8))

        def forward(self, ids):
            return self.blk(self.blk(self.emb(ids)))

    m, a = meta(lambda: (Shared(), (torch.zeros(2, 4, dtype=torch.long),)))
    rows = {r.name: r for r in count_module(m, a, training=True).by_module}
    # per call: each Linear(8,8) on 8 tokens: grad-input 512 + grad-weight 512 MACs + bias sum 8*8; ReLU backward 64
    per_call = 2 * (2 * (512 + 512) + 64) + 64
    accumulate = 2 * (8 * 8 + 8)  # each Linear's weight and bias grads of the two calls summed (one add each)
    assert rows["blk"].flops_backward == 2 * per_call + accumulate == 8720
    assert rows["blk"].flops_backward == sum(rows[f"blk.{i}"].flops_backward for i in range(3))
    assert rows["blk"].flops == 2 * (2 * 2 * 512 + 64)  # forward, both calls


def test_training_activations_peak_is_the_forwards():
    """activations_peak_bytes is stated as the forward's peak (with autograd recording); it used to be read
    after the loss and the backward, so gradient buffers inflated it (744 bytes here, not 256)."""
    m, a = meta(tiny.build)  # Linear(8,16) -> ReLU -> Linear(16,4) on (2, 8) float32
    p = count_module(m, a, training=True)
    assert p.memory.activations_peak_bytes == 2 * 16 * 4 + 2 * 16 * 4  # fc1 output + ReLU output, both alive
    assert p.memory.activations_peak_bytes == count_module(m, a).memory.activations_peak_bytes


def _rnn(cls, **kw):
    torch.manual_seed(0)
    return getattr(torch.nn, cls)(8, 16, batch_first=True, **kw), (torch.zeros(2, 5, 8),)


def test_lstm_and_gru_counted_on_every_path():
    """10 tokens (batch 2 x 5 steps), I=8, H=16, 2 layers, both directions: layer 1 sees I=8, layer 2 sees 2H=32."""
    lstm_macs = 10 * (2 * 64 * (8 + 16) + 2 * 64 * (32 + 16))  # tokens x 4H x (I + H) per layer-direction
    lstm_flops = 2 * lstm_macs + 10 * 13 * 16 * 4  # + 13 gate FLOPs per token per hidden unit, 4 layer-directions
    gru_macs = 10 * (2 * 48 * (8 + 16) + 2 * 48 * (32 + 16))  # 3 gates
    m, a = meta(_rnn, "LSTM", num_layers=2, bidirectional=True)
    on_meta = count_module(m, a, backend="torch")  # decomposed step by step on meta
    cpu_m, cpu_a = _rnn("LSTM", num_layers=2, bidirectional=True)
    fused = count_module(cpu_m, cpu_a, backend="torch")  # one fused mkldnn_rnn_layer per layer-direction on CPU
    traced = count_module(cpu_m, cpu_a, backend="fvcore")  # jit-level aten::lstm
    for p in (on_meta, fused, traced):
        assert (p.macs_forward, p.flops_forward, p.unsupported_ops) == (lstm_macs, lstm_flops, ())
    g_m, g_a = _rnn("GRU", num_layers=2, bidirectional=True)
    for backend in ("torch", "fvcore"):
        p = count_module(g_m, g_a, backend=backend)
        assert p.macs_forward == gru_macs == 69_120 and p.unsupported_ops == ()
    assert count_module(g_m, g_a, backend="fvcore").flops_forward == 2 * gru_macs + 10 * 10 * 16 * 4


def test_lstm_backward_counted_alike_on_the_onednn_path():
    """Training planned for the CPU (workspace='cpu') runs the oneDNN LSTM on meta: one mkldnn_rnn_layer and one
    mkldnn_rnn_layer_backward per layer-direction.  Its backward counts what a step-by-step decomposition
    counts (same inputs: 2 x 5 steps, I=8, H=16, 2 layers, both directions; G = 4H = 64), so the two agree, and
    with a real CPU run (the same fused ops)."""
    m, a = meta(_rnn, "LSTM", num_layers=2, bidirectional=True)
    plain = count_module(m, a, training=True)
    onednn = count_module(m, a, training=True, workspace="cpu")
    cpu_m, cpu_a = _rnn("LSTM", num_layers=2, bidirectional=True)
    real = count_module(cpu_m, cpu_a, training=True)
    t, b, g, h = 5, 2, 64, 16
    # per direction: weight grads t*b*g*(I+H) and hidden grads through t-1 steps; layer 2 (I = 2H) also the input's
    macs = 2 * (t * b * g * (8 + h) + (t - 1) * b * g * h) + 2 * (t * b * g * (32 + h) + (t - 1) * b * g * h
                                                                  + t * b * g * 32)
    other = 2 * ((t - 1) * g * (8 + h) + h * (21 * t * b - b + 8 * (t - 1))) \
        + 2 * ((t - 1) * g * (32 + h) + h * (21 * t * b - b + 8 * (t - 1))) \
        + t * b * 2 * h  # autograd sums the gradient of layer 1's output from layer 2's two directions
    for p in (onednn, real):
        assert (p.macs_backward, p.flops_backward, p.unsupported_ops) == (macs, 2 * macs + other, ())
    assert "aten::mkldnn_rnn_layer" in {r.op for r in onednn.by_operator}
    # the device-neutral run is ATen's native CPU LSTM (counting.workspace.native_lstm): the input projection of
    # all steps is one GEMM, so its weight and bias gradients are one GEMM and one sum, not t per-step
    # gradients summed: (t - 1) x G x (I + 1) adds fewer per layer-direction (I = 8, then 32), the same MACs
    native = other - 2 * (t - 1) * g * (8 + 1) - 2 * (t - 1) * g * (32 + 1)
    assert (plain.macs_backward, plain.flops_backward, plain.unsupported_ops) == (macs, 2 * macs + native, ()) \
        == (165888, 362816, ())
    before = torch.backends.mkldnn.set_flags(False, None, None, None)[0]
    try:  # the same on a real CPU run without oneDNN
        aten_cpu = count_module(cpu_m, cpu_a, training=True)
    finally:
        torch.backends.mkldnn.set_flags(before, None, None, None)
    assert aten_cpu.macs_backward == macs and aten_cpu.flops_backward == plain.flops_backward


class _Heads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(100, 8, mode="sum")

    def forward(self, x, ids):
        top, _ = x.topk(3, dim=-1)
        loss = torch.nn.functional.mse_loss(x, x * 2) + torch.nn.functional.cross_entropy(x[:, 0], ids[:, 0])
        return self.bag(ids), top, loss


@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_embedding_bag_topk_and_losses(backend):
    x, ids = torch.zeros(2, 5, 16), torch.zeros(2, 4, dtype=torch.long)
    p = count_module(_Heads(), (x, ids), backend=backend)
    ops = {r.op: r.flops for r in p.by_operator}
    assert p.unsupported_ops == ()
    assert ops["aten::topk"] == 160  # 1 comparison per input element: 2*5*16
    assert ops["aten::mse_loss"] == 3 * 160  # difference, square, reduce
    assert ops["aten::embedding_bag" if backend == "fvcore" else "aten::_embedding_bag"] == 8 * 8  # 8 ids x dim 8
    if backend == "fvcore":
        assert ops["aten::cross_entropy_loss"] == 5 * 2 * 16 + 2  # log_softmax over (2, 16) + 2 targets
    else:
        assert ops["aten::log_softmax"] == 5 * 2 * 16 and ops["aten::nll_loss_forward"] == 2


def test_complex_rotary_views_are_free():
    """DeepSeek-V2's rotary embedding (transformers) multiplies complex views: view_as_complex/view_as_real are
    views (0 FLOPs, 0 bytes) and polar an elementwise op (1 FLOP per output element); all three were listed as
    unsupported, so every DeepSeek-V2 profile had 5 unsupported operators."""

    class Rotary(torch.nn.Module):
        def forward(self, x, angle):
            freqs = torch.polar(torch.ones_like(angle), angle)  # 8 x 2 complex
            xc = torch.view_as_complex(x.reshape(2, 8, 2, 2))  # 2 x 8 x 2 complex
            return torch.view_as_real(xc * freqs).flatten(2)

    p = count_module(Rotary(), (torch.zeros(2, 8, 4), torch.zeros(8, 2)))
    assert not p.unsupported_ops
    assert p.flops_forward == 8 * 2 + 6 * (2 * 8 * 2)  # polar's 16 outputs + 6 per complex product (32 of them)


def test_complex_elementwise_counts_real_flops():
    """A complex multiply is (a+bi)(c+di) = (ac-bd) + (ad+bc)i: 4 real mul + 2 add = 6 FLOPs; add/sub 2 (real
    and imaginary parts); div 11 (((ac+bd) + (bc-ad)i)/(c^2+d^2): 6 mul + 3 add + 2 div).  With one real
    operand: mul 2, a real divisor 2, add 1.  Real operands keep 1 FLOP per element."""

    class Complex(torch.nn.Module):
        def forward(self, x, y, r):
            a, b = torch.view_as_complex(x), torch.view_as_complex(y)  # 3 x 4 complex each (12 elements)
            return a * b, a + b, a - b, a / b, a * r, a / r, a + r, a * 2.0, r * r

    p = count_module(Complex(), (torch.ones(3, 4, 2), torch.ones(3, 4, 2), torch.ones(3, 4)))
    ops = {(r.op, r.flops) for r in p.by_operator}
    assert ops == {("aten::mul", 6 * 12 + 2 * 12 + 2 * 12 + 1 * 12),  # complex x complex, x real, x 2.0, real x real
                   ("aten::add", 2 * 12 + 1 * 12), ("aten::sub", 2 * 12), ("aten::div", 11 * 12 + 2 * 12)}
    assert p.flops_forward == 12 * (6 + 2 + 2 + 1 + 2 + 1 + 2 + 11 + 2)  # 348
