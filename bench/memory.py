"""mlcost's memory predictions beside the allocator and beside the published rules of thumb.

Part 1, models small enough to run for real on this CPU (tests/_alloc.py builds them): mlcost's meta-device
figure planned for the CPU (``workspace="cpu"``: oneDNN's reorders, scratchpads and RNN workspaces) beside
the CPU allocator's peak of a real run (torch.profiler memory timeline) and the ratio, for inference, a
training forward and a whole steady-state AdamW step; and the tensors-only figure (``workspace="none"``,
the device-neutral default) with its ratio.  Then the device-neutral LSTMs beside a real run with oneDNN
off (ATen's native LSTM, which --workspace none follows).  Then the decoder under CPU autocast (bf16) and with bf16
weights, real runs with oneDNN's bf16 matmul (torch's default) and with ATen's GEMM.

Part 2, large shapes that cannot run here (Llama-2-7B, Llama-2-70B configs, built on meta): mlcost's
measured mixed-precision AdamW step (--training --precision mixed) beside the 16 bytes/parameter rule
(mixed-precision Adam model states, Rajbhandari et al. 2020, ZeRO, section 3.1) and the 18 bytes/parameter
rule (the same plus fp32 gradients: Hugging Face's "Model training anatomy", DeepSpeed's 16 + 2), and per
GPU on 8 GPUs under ZeRO-2/ZeRO-3 beside DeepSpeed's estimate_zero2/zero3_model_states_mem_needs (no
offload).  The rules count model states only; mlcost adds the activations of the profiled batch.

    .venv/bin/python bench/memory.py            # both parts (part 2 takes minutes on 2 cores)
    .venv/bin/python bench/memory.py --small    # part 1 only
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# this folder holds profile.py, which would shadow the standard library's profile module torch imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

LLAMA2 = {
    "Llama-2-7B": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32),
    "Llama-2-70B": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                        num_key_value_heads=8),
}


def _bottleneck():
    from torch import nn

    return nn.Sequential(nn.Conv2d(12, 20, 1), nn.ReLU(), nn.Conv2d(20, 20, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(20, 40, 1))


KINDS = ("inference", "training forward", "AdamW step")


def _measure(factory, inputs, kind: str, workspaces: tuple) -> tuple[int, list[int]]:
    """(the CPU allocator's peak of a real KIND run, mlcost's meta figure for each of WORKSPACES)."""
    import torch

    from _alloc import allocator_peak, real_step_peak
    from mlcost.counting import dispatch

    torch.manual_seed(0)
    real = factory()
    with torch.device("meta"):
        meta = factory()
    x, xm = inputs("cpu"), inputs("meta")
    training = kind != "inference"
    real.train(training)
    meta.train(training)
    if kind == "AdamW step":
        truth = real_step_peak(real, x, "adamw")
        return truth, [dispatch.run(meta, xm, {}, training=True, optimizer="adamw", workspace=ws).step.peak_bytes
                       for ws in workspaces]

    def run():
        with torch.set_grad_enabled(training):
            real(*x)
    truth = allocator_peak(run)
    return truth, [dispatch.run(meta, xm, {}, training=training, workspace=ws).activations_peak_bytes
                   for ws in workspaces]


def small_rows() -> list[dict]:
    import torch

    from _alloc import Decoder, LSTMNet, conv_net

    cases = {
        "GQA decoder (HF eager style)": (Decoder, lambda d: (torch.zeros(2, 48, dtype=torch.long, device=d),)),
        "conv net 12/20 ch": (conv_net, lambda d: (torch.randn(4, 3, 32, 32, device=d),)),
        "conv net 16/32 ch, stride 2": (lambda: conv_net(16, 32, 2), lambda d: (torch.randn(4, 3, 32, 32, device=d),)),
        "1x1-3x3-1x1 bottleneck 12/20/40 ch": (_bottleneck, lambda d: (torch.randn(4, 12, 16, 16, device=d),)),
        "LSTM 2x48": (LSTMNet, lambda d: (torch.randn(3, 20, 32, device=d),)),
    }
    rows = []
    for name, (factory, inputs) in cases.items():
        for kind in KINDS:
            truth, (predicted, tensors) = _measure(factory, inputs, kind, ("cpu", "none"))
            rows.append({"model": name, "what": kind, "mlcost_bytes": predicted, "allocator_bytes": truth,
                         "ratio": round(predicted / truth, 4), "tensors_only_bytes": tensors,
                         "tensors_only_ratio": round(tensors / truth, 4)})
    return rows


def native_rows() -> list[dict]:
    """The device-neutral LSTM (workspace="none") beside a real CPU run with oneDNN off
    (torch.backends.mkldnn disabled): ATen's native at::native::lstm, the input projection of all steps at
    once then the per-step gates, no kernel workspace (counting.workspace.native_lstm)."""
    import torch

    from _alloc import LSTMNet

    cases = {
        "LSTM 2x48": (LSTMNet, lambda d: (torch.randn(3, 20, 32, device=d),)),
        "LSTM 2x16 bidir, proj 4, no bias, dropout": (
            lambda: torch.nn.LSTM(8, 16, num_layers=2, bias=False, dropout=0.5, bidirectional=True, proj_size=4),
            lambda d: (torch.randn(7, 2, 8, device=d),)),
    }
    rows = []
    before = torch.backends.mkldnn.set_flags(False, None, None, None)[0]
    try:
        for name, (factory, inputs) in cases.items():
            for kind in KINDS:
                truth, (predicted,) = _measure(factory, inputs, kind, ("none",))
                rows.append({"model": name, "what": kind, "mlcost_bytes": predicted, "allocator_bytes": truth,
                             "ratio": round(predicted / truth, 4)})
    finally:
        torch.backends.mkldnn.set_flags(before, None, None, None)
    return rows


def precision_rows() -> list[dict]:
    """The GQA decoder under torch.autocast("cpu", bfloat16) (--precision amp, CPU op lists) and with bf16
    weights (--precision bf16; mixed's forward is the same), each real run twice: with oneDNN's bf16 matmul
    (torch's default on CPUs with avx512_bf16/AMX; each call allocates a scratchpad no operator returns) and
    with ATen's own bf16 GEMM (torch.backends.mkldnn off), which allocates only its outputs."""
    import copy

    import torch

    from _alloc import Decoder, allocator_peak, real_step_peak
    from mlcost.counting import count_module, dispatch

    torch.manual_seed(0)
    real = Decoder()
    with torch.device("meta"):
        meta = Decoder()
    x, xm = (torch.zeros(2, 48, dtype=torch.long),), (torch.zeros(2, 48, dtype=torch.long, device="meta"),)
    bf16 = copy.deepcopy(real).to(torch.bfloat16).train()

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def amp(training):
        def fn():
            with autocast(), torch.set_grad_enabled(training):
                real.train(training)(*x)
        return fn

    meta.eval()
    infer = dispatch.run(meta, xm, {}, precision="amp", amp_ops="cpu").activations_peak_bytes
    meta.train()
    step = dispatch.run(meta, xm, {}, training=True, optimizer="adamw", precision="amp", amp_ops="cpu")
    cases = [("amp inference", infer, lambda: allocator_peak(amp(False))),
             ("amp training forward", step.activations_peak_bytes, lambda: allocator_peak(amp(True))),
             ("amp AdamW step", step.step.peak_bytes, lambda: real_step_peak(real, x, "adamw", autocast)),
             ("bf16 training forward", count_module(meta, xm, training=True, precision="bf16").memory
              .activations_peak_bytes, lambda: allocator_peak(lambda: bf16(*x)))]
    rows = []
    for kernel, onednn in (("oneDNN matmul", True), ("ATen GEMM", False)):
        before = torch.backends.mkldnn.set_flags(onednn, None, None, None)[0]
        try:
            for what, predicted, measure in cases:
                truth = measure()
                rows.append({"model": "GQA decoder (HF eager style)", "what": f"{what}, {kernel}",
                             "mlcost_bytes": predicted, "allocator_bytes": truth, "ratio": round(predicted / truth, 4)})
        finally:
            torch.backends.mkldnn.set_flags(before, None, None, None)
    return rows


def large_rows() -> list[dict]:
    import mlcost
    from mlcost.costs import sharding

    rows = []
    for name, dims in LLAMA2.items():
        cfg = dict(model_type="llama", vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5,
                   architectures=["LlamaForCausalLM"], torch_dtype="float16", **dims)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "config.json").write_text(json.dumps(cfg))
            base = dict(training=True, precision="mixed", optimizer="adamw", seq_len=2048, batch_size=1)
            prof = mlcost.profile(tmp, **base)
            z2 = mlcost.profile(tmp, gpus=8, shard="zero2", **base).memory
            z3 = mlcost.profile(tmp, gpus=8, shard="zero3", **base).memory
        n = prof.params.total
        layer = prof.memory.largest_layer["params"]
        ds = sharding.deepspeed_estimates(n, layer, 8)
        t = prof.memory.training
        rows.append({
            "model": name, "params": n, "mlcost_training_peak_bytes": prof.memory.training_peak_bytes,
            "model_states_bytes": t["weights_bytes"] + t["master_weights_bytes"] + t["optimizer_states_bytes"]
            + t["gradients_bytes"], "saved_activations_bytes": t["saved_activations_bytes"],
            "peak_phase": t["peak_phase"], "rule_16_bytes": 16 * n, "rule_18_bytes": 18 * n,
            "mlcost_zero2_8gpu_bytes": z2.per_gpu_training_peak_bytes, "deepspeed_zero2_8gpu_bytes": ds["zero2"],
            "mlcost_zero3_8gpu_bytes": z3.per_gpu_training_peak_bytes, "deepspeed_zero3_8gpu_bytes": ds["zero3"],
        })
    return rows


def _gib(b: int) -> str:
    return f"{b / 2**30:,.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="only the models that run for real on CPU")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    small, native, low = small_rows(), native_rows(), precision_rows()
    large = [] if a.small else large_rows()
    if a.json:
        print(json.dumps({"cpu": small, "cpu_native_lstm": native, "cpu_bf16": low, "large": large}, indent=2))
        return
    print("| model | what | mlcost --workspace cpu B | CPU allocator B | ratio | tensors only (none) | ratio |\n"
          "|---|---|---:|---:|---:|---:|---:|")
    for r in small:
        print(f"| {r['model']} | {r['what']} | {r['mlcost_bytes']:,} | {r['allocator_bytes']:,} | {r['ratio']:.3f} "
              f"| {r['tensors_only_bytes']:,} | {r['tensors_only_ratio']:.3f} |")
    print("\noneDNN off (ATen's native LSTM)\n\n| model | what | mlcost --workspace none B | CPU allocator B | ratio |\n"
          "|---|---|---:|---:|---:|")
    for r in native:
        print(f"| {r['model']} | {r['what']} | {r['mlcost_bytes']:,} | {r['allocator_bytes']:,} | {r['ratio']:.3f} |")
    print("\n| model | what | mlcost (meta) B | CPU allocator B | ratio |\n|---|---|---:|---:|---:|")
    for r in low:
        print(f"| {r['model']} | {r['what']} | {r['mlcost_bytes']:,} | {r['allocator_bytes']:,} | {r['ratio']:.3f} |")
    if large:
        print("\nGiB; seq 2048, batch 1, mixed-precision AdamW; per GPU on 8 GPUs\n")
        print("| model | mlcost step peak | model states | 16 B/param | 18 B/param | mlcost ZeRO-2 | DeepSpeed ZeRO-2 "
              "| mlcost ZeRO-3 | DeepSpeed ZeRO-3 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in large:
            print(f"| {r['model']} | {_gib(r['mlcost_training_peak_bytes'])} | {_gib(r['model_states_bytes'])} | "
                  f"{_gib(r['rule_16_bytes'])} | {_gib(r['rule_18_bytes'])} | {_gib(r['mlcost_zero2_8gpu_bytes'])} | "
                  f"{_gib(r['deepspeed_zero2_8gpu_bytes'])} | {_gib(r['mlcost_zero3_8gpu_bytes'])} | "
                  f"{_gib(r['deepspeed_zero3_8gpu_bytes'])} |")


if __name__ == "__main__":
    main()
