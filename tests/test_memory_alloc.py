"""mlcost's meta-device memory against the CPU allocator's own timeline of a real run of the same model.

Each case builds a tiny model twice (meta for mlcost, CPU for the real run), runs the real one under
torch.profiler's memory timeline and asserts the meta figure within 2% (forward peaks) or 5% (a whole
training step) of the allocator's peak, printing the ratio (pytest -s shows it).
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from _alloc import Decoder, allocator_peak, conv_net, real_step_peak  # noqa: E402

from mlcost.counting import dispatch  # noqa: E402


def _decoder_inputs(device):
    return (torch.zeros(2, 48, dtype=torch.long, device=device),)


def _conv_inputs(device):
    return (torch.randn(4, 3, 32, 32, device=device),)


CASES = {"gqa-decoder": (Decoder, _decoder_inputs), "conv-net": (conv_net, _conv_inputs)}


def _pair(factory, inputs):
    torch.manual_seed(0)
    real = factory()
    with torch.device("meta"):
        meta = factory()
    return real, inputs("cpu"), meta, inputs("meta")


def _forward_peak(module, inputs, training: bool) -> int:
    module.train(training)

    def run():
        if training:
            module(*inputs)
        else:
            with torch.no_grad():
                module(*inputs)
    return allocator_peak(run)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training-forward"])
def test_forward_peak_matches_allocator(name, training):
    real, x, meta, xm = _pair(*CASES[name])
    truth = _forward_peak(real, x, training)
    meta.train(training)
    predicted = dispatch.run(meta, xm, {}, training=training).activations_peak_bytes
    ratio = predicted / truth
    print(f"{name} {'training forward' if training else 'inference'}: mlcost {predicted} B, allocator {truth} B, ratio {ratio:.4f}")
    if name == "conv-net" and not training:
        # Under no_grad CPU oneDNN runs convolutions in its blocked layout (channels padded to 16), reordering
        # input and output through private buffers no operator returns, so no meta run sees them (cuDNN has
        # its own workspaces).  The shortfall is at most conv2's blocked input and output:
        # 4*16*32*32*4 (12 channels padded to 16) + 4*32*32*32*4 (20 padded to 32).
        assert predicted <= truth <= predicted + 4 * 16 * 32 * 32 * 4 + 4 * 32 * 32 * 32 * 4
    else:
        assert abs(ratio - 1) <= 0.02


def test_reshape_of_expanded_tensor_keeps_its_storage():
    """The issue's ten lines: expand (8,1,4096,128) fp32 to 4 heads, reshape (a copy), multiply, add.
    The copy's storage outlives the clone that made it (it lives on in the _unsafe_view result)."""
    import torch.nn as nn

    class Rep(nn.Module):
        def forward(self, x):
            y = x.expand(8, 4, 4096, 128).reshape(32, 4096, 128)
            z = y * 2
            return z + 1

    x = torch.empty(8, 1, 4096, 128, device="meta")
    peak = dispatch.run(Rep(), (x,), {}).activations_peak_bytes
    assert peak == 3 * 32 * 4096 * 128 * 4  # reshaped copy, z and the output alive together: 192 MiB


def test_training_forward_peak_covers_saved_tensors():
    """Everything autograd saved is alive at the forward's end: the forward peak cannot be below it."""
    _, _, meta, xm = _pair(Decoder, _decoder_inputs)
    meta.train()
    r = dispatch.run(meta, xm, {}, training=True)
    inputs = {t.untyped_storage()._cdata for t in xm}
    saved = sum(n for key, (n, _s, _f) in r.saved.items() if key not in inputs)
    assert r.activations_peak_bytes >= saved > 0


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_training_step_peak_matches_allocator(name, optimizer):
    real, x, meta, xm = _pair(*CASES[name])
    truth = real_step_peak(real, x, optimizer)
    meta.train()
    step = dispatch.run(meta, xm, {}, training=True, optimizer=optimizer).step
    ratio = step.peak_bytes / truth
    print(f"{name} {optimizer} step: mlcost {step.peak_bytes} B ({step.peak_phase}), allocator {truth} B, ratio {ratio:.4f}")
    assert abs(ratio - 1) <= 0.05
    assert step.gradients_bytes == sum(p.numel() * 4 for p in meta.parameters())  # fp32 grads of every param
    states = 2 * step.gradients_bytes + 4 * len(list(meta.parameters())) if optimizer == "adamw" else 0
    assert step.optimizer_states_bytes == states  # exp_avg + exp_avg_sq (fp32) + a 4-byte step per tensor


def test_state_dict_buffers_are_not_parameters(tmp_path):
    """A torch.save state dict of a BatchNorm net gives the module path's params.total: running_mean,
    running_var and num_batches_tracked are buffers."""
    import mlcost

    torch.manual_seed(0)
    net = conv_net()
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    prof = mlcost.profile(str(path))
    params = (3 * 12 * 9 + 12) + 2 * 12 + (12 * 20 * 9 + 20) + 2 * 20 + (20 * 10 + 10)  # conv, bn affine, conv, bn, fc
    assert prof.params.total == params == sum(p.numel() for p in net.parameters())
    assert prof.details["buffers"]["count"] == 6 and prof.details["buffers"]["elements"] == 2 * 12 + 1 + 2 * 20 + 1
    assert prof.memory.weights_bytes == params * 4
    assert any("buffers, not parameters" in a for a in prof.assumptions)


def test_checkpointing_step_matches_allocator_and_recompute_is_the_blocks_forward():
    """--checkpointing: every block of the largest ModuleList reruns in backward.  Peak against a real CPU step
    with torch.utils.checkpoint on the same blocks; the rerun is the blocks' forward up to the last tensor
    backward needs (non-reentrant checkpoint stops early there), measured."""
    from functools import partial

    from torch.utils.checkpoint import checkpoint

    from mlcost.counting import count_module

    def factory():
        return Decoder(layers=4)

    real, x, meta, xm = _pair(factory, _decoder_inputs)
    for block in real.layers:
        block.forward = partial(checkpoint, block.forward, use_reentrant=False)
    truth = real_step_peak(real, x, "adam")
    prof = count_module(meta, xm, training=True, checkpointing=True)
    ratio = prof.memory.training_peak_bytes / truth
    print(f"checkpointed decoder step: mlcost {prof.memory.training_peak_bytes} B, allocator {truth} B, ratio {ratio:.4f}")
    assert abs(ratio - 1) <= 0.05
    plain = count_module(meta, xm, training=True)
    assert prof.memory.training["step_peak_bytes"] < plain.memory.training["step_peak_bytes"]
    layers = sum(r.flops for r in plain.by_module if r.name.startswith("layers.") and r.name.count(".") == 1)
    info = prof.details["checkpointing"]
    # each block's rerun stops before its down projection (2 * 96 tokens * 160 * 64) and residual add (96 * 64):
    # their inputs are the last tensors backward needs
    assert info["blocks"] == "layers" and info["count"] == 4
    assert info["recompute_flops"] == layers - 4 * (2 * 96 * 160 * 64 + 96 * 64)
    assert prof.flops_backward == plain.flops_backward  # the rerun is reported apart, not in backward


def test_amp_matches_a_real_cpu_autocast_run():
    """--precision amp applies autocast's op rules on meta (counting.autocast).  With CPU autocast's op lists
    it is checked here against a real torch.autocast("cpu", bfloat16) run of the same decoder: inference
    within 2%, the whole AdamW step within 5%.  The training forward alone comes out ~4.6% low although the
    same operators run in the same dtypes and autograd saves the same tensors in both (checked): the gap is a
    transient of the real run, not yet isolated (autocast's weight-cast cache does not change it)."""
    real, x, meta, xm = _pair(Decoder, _decoder_inputs)
    real.eval()
    meta.eval()

    def infer():
        with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
            real(*x)

    truth = allocator_peak(infer)
    predicted = dispatch.run(meta, xm, {}, precision="amp", amp_ops="cpu").activations_peak_bytes
    print(f"amp inference: mlcost {predicted} B, allocator {truth} B, ratio {predicted / truth:.4f}")
    assert abs(predicted / truth - 1) <= 0.02
    # here above the fp32 run's 427,008 B: autocast's bf16 copies of the weights outweigh this tiny model's
    # activations, as the allocator shows too

    from mlcost.counting.training_step import make_optimizer

    real.train()
    meta.train()
    opt = make_optimizer("adamw", list(real.parameters()))
    persistent = sum(t.untyped_storage().nbytes() for t in [*real.parameters(), *real.buffers()])
    persistent += sum(v.untyped_storage().nbytes() for s in opt.state.values() for v in s.values())

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = real(*x)
        loss = out.sum()
        loss.backward()
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)

    truth = persistent + allocator_peak(step)
    r = dispatch.run(meta, xm, {}, training=True, optimizer="adamw", precision="amp", amp_ops="cpu")
    print(f"amp AdamW step: mlcost {r.step.peak_bytes} B, allocator {truth} B, ratio {r.step.peak_bytes / truth:.4f}")
    assert abs(r.step.peak_bytes / truth - 1) <= 0.05
    assert r.step.gradients_bytes == r.step.weights_bytes  # fp32 gradients of fp32 weights
    dtypes = {size for _n, size, fl in r.saved.values() if fl}
    assert dtypes == {2, 4}  # bf16 matmul inputs and the fp32 softmax/norm upcasts both saved, as they run


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_hf_checkpointing_runs_on_meta_without_stderr(tmp_path, attn):
    """--checkpointing on a Hugging Face decoder: transformers turns the cache off, then read the position ids'
    values (.item() on meta: exit 2); the rerun in backward decomposed SDPA (checkpoint refused the rerun);
    the deprecated gradient_checkpointing_enable printed FutureWarnings on stderr."""
    pytest.importorskip("transformers")
    import json

    from tests._cli import run_cli

    (tmp_path / "config.json").write_text(json.dumps(dict(
        model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=1000, hidden_size=64,
        intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=256)))
    r = run_cli("profile", tmp_path, "--training", "--checkpointing", "--attn", attn, "-f", "json")
    assert (r.exit_code, r.stderr) == (0, ""), r.stderr
    assert r.json()["details"]["checkpointing"]["recompute_flops"] > 0
