"""mlcost profile beside fvcore, torch's FlopCounterMode, ptflops, thop and torchinfo.

For a ResNet-50 (224x224, batch 1) and a GPT-2-small-shaped model (128 tokens, batch 1), both from
tests/models/, each tool runs in its own subprocess so its peak RSS is its own.  Printed per tool:
wall time (building the model + counting; the imports are not timed), peak RSS of the process
(torch import included), the MACs it counted (tools that say "FLOPs" for MACs are converted and
flagged), the ratio to mlcost, and what it missed.  Figures, not pass/fail:

    .venv/bin/python bench/profile.py            # or: make bench
    .venv/bin/python bench/profile.py --json     # machine-readable rows

mlcost builds the models on the meta device (no weights); every peer needs real tensors on CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this file's folder is sys.path[0], and this file's name shadows the standard
# library's `profile` module (which torch imports): take the folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
TOOLS = ("mlcost", "fvcore", "flopcounter", "ptflops", "thop", "torchinfo")
MODELS = {
    "resnet50": ("tests/models/resnet.py", "build_with_inputs", {}),
    "gpt2-small": ("tests/models/gpt2.py", "build", {"seq_len": 128}),
}


def _load(model: str, device: str):
    import importlib.util

    import torch

    rel, factory, kwargs = MODELS[model]
    spec = importlib.util.spec_from_file_location(f"_bench_{model.replace('-', '_')}", ROOT / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with torch.device(device):
        net, inputs = getattr(mod, factory)(**kwargs)
    return net.eval(), tuple(inputs)


def _worker(tool: str, model: str) -> dict:
    """Run one tool on one model in this process; returns the row (MACs as the tool counted them)."""
    import importlib

    import torch

    # Import the tool first, so the timed part and the RSS growth are the counting, not the imports.
    for name in {"mlcost": ["mlcost.counting", "mlcost.formats.torch_entry"], "fvcore": ["fvcore.nn"],
                 "flopcounter": ["torch.utils.flop_counter"], "ptflops": ["ptflops"], "thop": ["thop"],
                 "torchinfo": ["torchinfo"]}.get(tool, []):
        importlib.import_module(name)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    notes: list[str] = []
    start = time.perf_counter()
    if tool == "mlcost":
        import mlcost

        rel, factory, kwargs = MODELS[model]
        prof = mlcost.profile(f"{ROOT / rel}:{factory}", factory_args=kwargs)  # meta device
        macs = prof.macs_forward
        attn = sum(o.macs for o in prof.by_operator if "attention" in o.op)
        notes.append(f"backend {prof.backend}; {len(prof.unsupported_ops)} unsupported ops listed"
                     + (f"; attention {attn:,} MACs" if attn else ""))
        extra = {"flops": prof.flops_forward, "by_operator": {o.op: o.macs for o in prof.by_operator if o.macs}}
    else:
        net, inputs = _load(model, "cpu")
        extra = {}
        with torch.no_grad():
            if tool == "fvcore":
                from fvcore.nn import FlopCountAnalysis

                fca = FlopCountAnalysis(net, inputs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                macs = int(fca.total())  # fvcore's "flop" is one multiply-add
                notes.append('reports MACs under the name "flops"')
                skipped = dict(fca.unsupported_ops())
                if skipped:
                    notes.append("skipped: " + ", ".join(f"{k} x{v}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])[:6]))
            elif tool == "flopcounter":
                from torch.utils.flop_counter import FlopCounterMode

                with FlopCounterMode(display=False) as fc:
                    net(*inputs)
                flops = fc.get_total_flops()
                macs = flops // 2  # it reports FLOPs = 2 x MACs
                notes.append("only matmul/conv/attention ops have formulas; the rest count 0 and are not listed")
            elif tool == "ptflops":
                from ptflops import get_model_complexity_info

                shape = tuple(inputs[0].shape[1:])
                make = None  # ptflops feeds a float tensor of (1, *shape) by default
                if not inputs[0].dtype.is_floating_point:  # token ids: pass them by forward()'s argument name
                    name = next(iter(__import__("inspect").signature(net.forward).parameters))
                    make = lambda res: {name: torch.zeros((1, *res), dtype=torch.long)}  # noqa: E731
                with open(os.devnull, "w") as devnull:
                    macs, _ = get_model_complexity_info(net, shape, as_strings=False, print_per_layer_stat=False,
                                                        input_constructor=make, ost=devnull, verbose=False)
                macs = int(macs)
                notes.append("module hooks (+ some patched functionals)")
            elif tool == "thop":
                from thop import profile as thop_profile

                import contextlib
                import io

                with contextlib.redirect_stdout(io.StringIO()):
                    macs, _ = thop_profile(net, inputs=inputs, verbose=False)
                macs = int(macs)
                notes.append("module hooks only: functional ops (F.*, torch.matmul) are invisible")
            elif tool == "torchinfo":
                from torchinfo import summary

                s = summary(net, input_data=list(inputs), verbose=0)
                macs = int(s.total_mult_adds)
                notes.append("module hooks only: functional ops are invisible")
            else:
                raise SystemExit(f"unknown tool {tool}")
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"tool": tool, "model": model, "seconds": round(seconds, 3), "peak_rss_bytes": rss,
            "rss_growth_bytes": rss - base_rss, "macs": macs,
            "notes": notes, **extra}


def _run(tool: str, model: str) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, __file__, "--worker", tool, model], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"tool": tool, "model": model, "error": tail[:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _missed(row: dict, ref: dict) -> str:
    """What the peer missed relative to mlcost: the MAC deficit, attributed to mlcost's operator rows when it fits."""
    if "error" in row:
        return "failed: " + row["error"]
    notes = list(row["notes"])
    if row["tool"] == "mlcost" or "macs" not in ref:
        return "; ".join(notes)
    deficit = ref["macs"] - row["macs"]
    attn = sum(v for k, v in ref.get("by_operator", {}).items() if "attention" in k)
    if attn and deficit > 0 and abs(deficit - attn) <= attn // 10:
        rest = attn - deficit
        notes.append(f"attention not counted ({attn:,} MACs)" + (f", other ops {rest:+,} MACs" if rest else ""))
    elif deficit > 0:
        notes.append(f"{deficit:,} MACs fewer than mlcost ({row['macs'] / ref['macs']:.2f}x)")
    elif deficit < 0:
        notes.append(f"{-deficit:,} MACs more: counts non-multiply-add work (bias adds, norms, pooling, activations) as MACs")
    return "; ".join(notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "MODEL"), help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: " + ", ".join(TOOLS))
    a = ap.parse_args()
    if a.worker:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_worker(*a.worker)))
        return
    rows = []
    for model in a.models.split(","):
        ref: dict = {}
        for tool in a.tools.split(","):
            row = _run(tool, model)
            if tool == "mlcost" and "error" not in row:
                ref = row
            row["missed"] = _missed(row, ref)
            rows.append(row)
            print(f"  ran {tool} on {model}", file=sys.stderr)
    if a.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "by_operator"} for r in rows], indent=2))
        return
    head = (f"{'model':<11} {'tool':<12} {'time s':>7} {'x mlcost':>8} {'peak RSS':>9} {'growth':>8} {'x mlcost':>8} "
            f"{'MACs':>17} {'x mlcost':>8}  missed / notes")
    print(head)
    print("-" * len(head))
    by_model = {r["model"]: r for r in rows if r["tool"] == "mlcost" and "error" not in r}
    for r in rows:
        ref = by_model.get(r["model"], {})
        if "error" in r:
            print(f"{r['model']:<11} {r['tool']:<12} {'':>7} {'':>8} {'':>9} {'':>8} {'':>8} {'':>17} {'':>8}  {r['missed']}")
            continue

        def ratio(key: str) -> str:
            return f"{r[key] / ref[key]:.2f}" if ref.get(key) else "—"

        print(f"{r['model']:<11} {r['tool']:<12} {r['seconds']:>7.2f} {ratio('seconds'):>8} "
              f"{r['peak_rss_bytes'] / 2**20:>7.0f}Mi {r['rss_growth_bytes'] / 2**20:>6.0f}Mi {ratio('rss_growth_bytes'):>8} "
              f"{r['macs']:>17,} {ratio('macs'):>8}  {r['missed']}")
    print("\nMACs: one multiply-add each (mlcost reports FLOPs = 2 x MACs beside them). Peak RSS includes importing torch;"
          " growth is the peak RSS added after the tool was imported (building the model + counting).")


if __name__ == "__main__":
    main()
