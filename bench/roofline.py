"""mlcost infer's roofline floors beside published measured Llama-2 serving latencies (figures, not pass/fail).

    python bench/roofline.py              # table
    python bench/roofline.py --markdown   # the README table
    python bench/roofline.py --json

Each row builds the Llama-2 config on the meta device (float16, as the measured runs served it), runs
``mlcost.infer`` on the measured chip with the measured batch, prompt and output lengths, and prints the
floor beside the measurement as **measured / floor** (>= 1 for a true lower bound; its inverse is the
fraction of the roofline the server achieved).  Sources (one accelerator each, tensor parallelism 1):

* lmdeploy v0.1.0a1 static inference benchmark on A100-80G, llama2-7b / llama2-13b FP16
  (InternLM/lmdeploy docs/en/benchmark/a100_fp16.md): output tokens/s and first-token latency (FTL).
* NVIDIA NeMo Framework performance page, Llama-2 inference (docs.nvidia.com/nemo-framework/user-guide/
  latest/performance/llama.html): average latency of a 128-token prompt and 20 output tokens,
  A100 80GB SXM4 and H100 80GB HBM3, TP 1.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds profile.py, which would shadow the standard library's profile module that transformers imports
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

LLAMA2 = {  # Meta's published configs (config.json of meta-llama/Llama-2-7b-hf and -13b-hf)
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32),
    "llama2-13b": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40),
}
LMDEPLOY = "lmdeploy v0.1.0a1, docs/en/benchmark/a100_fp16.md (A100-80G, FP16, TP 1)"
NEMO = "NVIDIA NeMo Framework performance: Llama-2 inference (128 in, 20 out, TP 1)"

# (model, chip, batch, prompt, new, metric, measured value, source); metric: out_tok_s | ftl_s | latency_s
PUBLISHED = [
    ("llama2-7b", "a100", 1, 128, 128, "out_tok_s", 102.21, LMDEPLOY),
    ("llama2-7b", "a100", 1, 128, 128, "ftl_s", 0.022, LMDEPLOY),
    ("llama2-7b", "a100", 1, 2048, 128, "out_tok_s", 86.1, LMDEPLOY),
    ("llama2-7b", "a100", 1, 2048, 128, "ftl_s", 0.139, LMDEPLOY),
    ("llama2-7b", "a100", 1, 128, 2048, "out_tok_s", 98.92, LMDEPLOY),
    ("llama2-7b", "a100", 16, 128, 128, "out_tok_s", 1272.47, LMDEPLOY),
    ("llama2-7b", "a100", 64, 128, 128, "out_tok_s", 3024.07, LMDEPLOY),
    ("llama2-13b", "a100", 1, 128, 128, "out_tok_s", 56.58, LMDEPLOY),
    ("llama2-13b", "a100", 1, 2048, 128, "ftl_s", 0.242, LMDEPLOY),
    ("llama2-7b", "a100", 1, 128, 20, "latency_s", 0.2340, NEMO),
    ("llama2-7b", "h100", 1, 128, 20, "latency_s", 0.1538, NEMO),
    ("llama2-7b", "a100", 8, 128, 20, "latency_s", 0.3295, NEMO),
    ("llama2-7b", "h100", 8, 128, 20, "latency_s", 0.1992, NEMO),
]


def _config(folder: Path, name: str) -> Path:
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
           "num_key_value_heads": LLAMA2[name]["num_attention_heads"], "max_position_embeddings": 4096,
           "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "dtype": "float16", **LLAMA2[name]}
    path = folder / name
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def floor_of(est, metric: str) -> float:
    """The floor in the measured metric's terms, as seconds (tokens/s become seconds per batch x N tokens)."""
    if metric == "ftl_s":
        return est.time_to_first_token_s
    return est.request_seconds  # out_tok_s: B x N tokens in that time; latency_s: the request


def measured_seconds(metric: str, value: float, batch: int, new: int) -> float:
    return value if metric != "out_tok_s" else batch * new / value


def run() -> list[dict]:
    import mlcost

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, chip, batch, prompt, new, metric, value, source in PUBLISHED:
            t0 = time.perf_counter()
            est = mlcost.infer(_config(Path(tmp), model), chip=chip, batch=batch, prompt_tokens=prompt,
                               new_tokens=new, price_per_hour=1.0)
            floor = floor_of(est, metric)
            meas = measured_seconds(metric, value, batch, new)
            rows.append({"model": model, "chip": est.chip["name"], "batch": batch, "prompt": prompt, "new": new,
                         "metric": metric, "measured": value, "measured_s": meas, "floor_s": floor,
                         "ratio": meas / floor, "decode_bound": est.decode["bound"],
                         "prefill_bound": est.prefill["bound"], "source": source,
                         "seconds_to_estimate": round(time.perf_counter() - t0, 1)})
    return rows


def _label(r: dict) -> str:
    return {"out_tok_s": "out tok/s", "ftl_s": "first token s", "latency_s": "latency s"}[r["metric"]]


def main(argv: list[str]) -> None:
    rows = run()
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
        return
    head = ["model", "chip", "B", "P", "N", "metric", "measured", "floor", "measured/floor", "bound"]
    table = [[r["model"], r["chip"], str(r["batch"]), str(r["prompt"]), str(r["new"]), _label(r),
              f"{r['measured']:g}",
              f"{r['batch'] * r['new'] / r['floor_s']:.4g}" if r["metric"] == "out_tok_s" else f"{r['floor_s']:.4g}",
              f"{r['ratio']:.2f}", r["prefill_bound"] if r["metric"] == "ftl_s" else r["decode_bound"]] for r in rows]
    if "--markdown" in argv:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for t in table:
            print("| " + " | ".join(t) + " |")
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *table)]
        for t in [head, *table]:
            print("  ".join(x.ljust(w) for x, w in zip(t, widths)))
    print()
    for s in dict.fromkeys(r["source"] for r in rows):
        print(f"source: {s}")


if __name__ == "__main__":
    main(sys.argv[1:])
