"""Checkpoint benchmarks (figures, not pass/fail): run by hand with `python bench/checkpoint.py`.

1. Header read of a 13 GB sharded bf16 Llama-2-7B safetensors checkpoint, made on the fly as sparse
   files (header written, then truncate() to full size: no disk space used): wall time and peak
   memory of `mlcost.formats.safetensors.profile_file`, beside the safetensors library's own
   `safe_open` listing every tensor's shape (a peer that also reads only the header).
2. The Hugging Face path (config -> meta model -> counted forward) against building the same
   model with real weights on the CPU and counting that, for GPT-2 small (fits in memory); and the
   meta path alone for Llama-2-7B (real fp32 weights would need ~27 GB).

Peak memory is measured in a fresh child process per case (ru_maxrss, in MiB, minus the same
process's RSS after imports), so one case's allocations do not hide another's.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/profile.py would shadow the standard library's `profile` (which transformers imports via cProfile)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

LLAMA2_7B = dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, tie_word_embeddings=False,
                 architectures=["LlamaForCausalLM"])
GPT2_SMALL = dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                  architectures=["GPT2LMHeadModel"])


def llama_tensors() -> dict[str, tuple[int, ...]]:
    h, f, v = 4096, 11008, 32000
    t = {"model.embed_tokens.weight": (v, h)}
    for i in range(32):
        p = f"model.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t[f"{p}.self_attn.{proj}.weight"] = (h, h)
        t[f"{p}.mlp.gate_proj.weight"] = (f, h)
        t[f"{p}.mlp.up_proj.weight"] = (f, h)
        t[f"{p}.mlp.down_proj.weight"] = (h, f)
        t[f"{p}.input_layernorm.weight"] = (h,)
        t[f"{p}.post_attention_layernorm.weight"] = (h,)
    t["model.norm.weight"] = (h,)
    t["lm_head.weight"] = (v, h)
    return t


def make_sparse_checkpoint(folder: Path, shards: int = 3) -> int:
    """Write a sharded bf16 Llama-2-7B checkpoint of sparse files; return the payload bytes."""
    tensors = llama_tensors()
    names = list(tensors)
    per = -(-len(names) // shards)
    weight_map, total = {}, 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        header, off = {}, 0
        for n in names[s * per:(s + 1) * per]:
            numel = 1
            for d in tensors[n]:
                numel *= d
            header[n] = {"dtype": "BF16", "shape": list(tensors[n]), "data_offsets": [off, off + 2 * numel]}
            off += 2 * numel
            weight_map[n] = fname
        raw = json.dumps(header).encode()
        with (folder / fname).open("wb") as fh:
            fh.write(struct.pack("<Q", len(raw)) + raw)
            fh.truncate(8 + len(raw) + off)
        total += off
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    return total


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---- child-process cases: each prints one JSON line {"seconds": [...], "rss_base_mib", "rss_peak_mib", ...} ----

def case_mlcost_header(folder: str) -> dict:
    from mlcost.formats.safetensors import profile_file

    base = _rss_mib()
    times, prof = [], None
    for _ in range(5):
        t = time.perf_counter()
        prof = profile_file(folder)
        times.append(time.perf_counter() - t)
    return {"seconds": times, "rss_base_mib": base, "rss_peak_mib": _rss_mib(), "params": prof.params.total,
            "weights_bytes": prof.memory.weights_bytes, "header_bytes_read": prof.details["header_bytes_read"]}


def case_safetensors_lib(folder: str) -> dict:
    from safetensors import safe_open

    base = _rss_mib()
    times, n = [], 0
    for _ in range(5):
        t = time.perf_counter()
        n = 0
        for f in sorted(Path(folder).glob("*.safetensors")):
            with safe_open(str(f), framework="numpy") as st:
                for k in st.keys():
                    shape = st.get_slice(k).get_shape()
                    numel = 1
                    for d in shape:
                        numel *= d
                    n += numel
        times.append(time.perf_counter() - t)
    return {"seconds": times, "rss_base_mib": base, "rss_peak_mib": _rss_mib(), "params": n}


def case_hf_meta(cfg_json: str, seq: str) -> dict:
    import torch  # noqa: F401  (import cost kept out of the timing)
    import transformers  # noqa: F401

    from mlcost.formats import ProfileOptions
    from mlcost.formats.hf import profile_file

    folder = tempfile.mkdtemp()
    Path(folder, "config.json").write_text(cfg_json)
    base = _rss_mib()
    times, prof = [], None
    for _ in range(3):
        t = time.perf_counter()
        prof = profile_file(folder, ProfileOptions(seq_len=int(seq)))
        times.append(time.perf_counter() - t)
    return {"seconds": times, "rss_base_mib": base, "rss_peak_mib": _rss_mib(), "params": prof.params.total, "macs": prof.macs_forward}


def case_hf_real(cfg_json: str, seq: str) -> dict:
    import torch
    import transformers

    from mlcost.counting import count_module

    cfg = transformers.AutoConfig.for_model(**json.loads(cfg_json))
    base = _rss_mib()
    times, prof = [], None
    for _ in range(3):
        t = time.perf_counter()
        model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")  # real, initialized weights
        ids = torch.zeros(1, int(seq), dtype=torch.long)
        prof = count_module(model, (), {"input_ids": ids}, backend="torch")
        times.append(time.perf_counter() - t)
        del model
    return {"seconds": times, "rss_base_mib": base, "rss_peak_mib": _rss_mib(), "params": prof.params.total, "macs": prof.macs_forward}


CASES = {f.__name__: f for f in (case_mlcost_header, case_safetensors_lib, case_hf_meta, case_hf_real)}


def run_child(name: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", name, *args], capture_output=True, text=True, check=False,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"})
    if out.returncode:
        raise SystemExit(f"{name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(label: str, r: dict) -> str:
    med = statistics.median(r["seconds"])
    return (f"{label:<44} median {med * 1000:9.1f} ms  (min {min(r['seconds']) * 1000:9.1f})  "
            f"peak RSS {r['rss_peak_mib']:7.1f} MiB (+{r['rss_peak_mib'] - r['rss_base_mib']:.1f} over imports)")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        payload = make_sparse_checkpoint(Path(d))
        apparent = sum(f.stat().st_size for f in Path(d).glob("*.safetensors"))
        on_disk = sum(f.stat().st_blocks * 512 for f in Path(d).glob("*.safetensors"))
        print(f"sparse Llama-2-7B bf16 checkpoint: 3 shards, {apparent:,} bytes apparent, {on_disk:,} bytes on disk, payload {payload:,}")
        ours = run_child("case_mlcost_header", d)
        peer = run_child("case_safetensors_lib", d)
        print(_line("mlcost safetensors.profile_file", ours), f"params {ours['params']:,}, weights {ours['weights_bytes']:,} B, "
              f"header bytes read {ours['header_bytes_read']:,}")
        print(_line("safetensors.safe_open (shapes only)", peer), f"params {peer['params']:,}")
        print(f"  ratio mlcost / safe_open median time: {statistics.median(ours['seconds']) / statistics.median(peer['seconds']):.2f}")
    seq = "128"
    meta = run_child("case_hf_meta", json.dumps(GPT2_SMALL), seq)
    real = run_child("case_hf_real", json.dumps(GPT2_SMALL), seq)
    print(_line("GPT-2 small, HF path (meta, counted)", meta), f"params {meta['params']:,} MACs {meta['macs']:,}")
    print(_line("GPT-2 small, real weights on CPU, counted", real), f"params {real['params']:,} MACs {real['macs']:,}")
    print(f"  ratio real / meta median time: {statistics.median(real['seconds']) / statistics.median(meta['seconds']):.1f}x")
    big = run_child("case_hf_meta", json.dumps(LLAMA2_7B), seq)
    print(_line("Llama-2-7B, HF path (meta, counted)", big), f"params {big['params']:,} MACs {big['macs']:,}")
    print("  (real fp32 weights for Llama-2-7B would need ~27 GB: not built)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        print(json.dumps(CASES[sys.argv[2]](*sys.argv[3:])))
    else:
        main()
