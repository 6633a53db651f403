"""How fast mlcost starts, as ratios to what it cannot avoid loading.  Figures, not pass/fail:

    .venv/bin/python bench/startup.py              # 7 rounds
    .venv/bin/python bench/startup.py --rounds 15 --json
    .venv/bin/python bench/startup.py --rounds 15 --no-torch   # compute, carbon and --help only

Each round runs every command once, in a fresh process, in an order rotated per round (interleaved,
so a machine that other work slows down slows every command alike); the medians and their ratios
are printed.  Pairs (mlcost command : the floor it is measured against):

- ``mlcost compute`` and ``mlcost carbon`` (no torch) : ``python -c "import typer, rich"``; target <= 2x
- ``mlcost profile`` of a tiny MLP (torch-backed, built on meta) : ``import torch`` plus the same MLP's
  forward on CPU in the same process; target <= 1.3x
- ``mlcost profile`` of the README's demo CNN (its meta convolutions and batch norm run torch's Python
  reference kernels) : ``import torch`` plus the CNN's forward on CPU
- ``mlcost --help`` : ``import typer, rich``

Bytecode: every process reads its modules' compiled bytecode from a temporary ``PYTHONPYCACHEPREFIX`` that
the untimed warm-up run fills (stdlib, typer, rich, torch and mlcost alike), as a pip-installed wheel is
compiled at install.  ``--from-source`` measures instead what an editable checkout costs under
``PYTHONDONTWRITEBYTECODE=1`` (set on this project's machines): no ``__pycache__`` is ever written there, so every
mlcost module is compiled from source at each start, while the floors' packages come compiled from
site-packages.

``--where`` also prints, for the compute command, the import time of mlcost's modules and of typer/click
and rich (``python -X importtime``), to show where the time goes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
MLCOST = [PY, "-m", "mlcost"]

TINY = '''
import torch
from torch import nn


def build():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)), (torch.zeros(8, 64),)
'''


def commands(tmp: Path) -> dict[str, list[str]]:
    tiny = tmp / "tiny_mlp.py"
    tiny.write_text(TINY)
    forward_tiny = (f"import sys; sys.path.insert(0, {str(tmp)!r}); import torch; import tiny_mlp; "
                    "m, a = tiny_mlp.build(); m(*a)")
    forward_cnn = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import torch; from examples import cnn; "
                   "cnn.build()(torch.zeros(1, 3, 224, 224))")
    return {
        "floor: import typer, rich": [PY, "-c", "import typer, rich"],
        "mlcost --help": [*MLCOST, "--help"],
        "mlcost compute": [*MLCOST, "compute", "--params", "7e9", "--tokens", "1e12", "--gpu", "a100", "-f", "json"],
        "mlcost carbon": [*MLCOST, "carbon", "--gpu", "a100", "--count", "8", "--hours", "10", "--region", "FR",
                          "-f", "json"],
        "floor: import torch + tiny forward": [PY, "-c", forward_tiny],
        "mlcost profile tiny": [*MLCOST, "profile", f"{tiny}:build", "-f", "json"],
        "floor: import torch + cnn forward": [PY, "-c", forward_cnn],
        "mlcost profile cnn": [*MLCOST, "profile", "examples/cnn.py:build", "--input-shape", "1,3,224,224",
                               "-f", "json"],
    }


RATIOS = [  # (name, command, floor, target)
    ("compute / import typer, rich", "mlcost compute", "floor: import typer, rich", 2.0),
    ("carbon / import typer, rich", "mlcost carbon", "floor: import typer, rich", 2.0),
    ("--help / import typer, rich", "mlcost --help", "floor: import typer, rich", None),
    ("profile tiny / import torch + forward", "mlcost profile tiny", "floor: import torch + tiny forward", 1.3),
    ("profile cnn / import torch + forward", "mlcost profile cnn", "floor: import torch + cnn forward", None),
]


def environment(tmp: Path, from_source: bool) -> dict[str, str]:
    """The commands' environment: bytecode cached under TMP (see the module's docstring), or never written."""
    env = dict(os.environ)
    if from_source:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def run_once(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    return took


def where(argv: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Cumulative import time (s) of the top-level packages a command loads (python -X importtime)."""
    r = subprocess.run([PY, "-X", "importtime", *argv[1:]], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    out: dict[str, float] = {}
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = (p.strip() for p in line.split("|", 2))
        if cum.isdigit() and name.split(".")[0] in ("mlcost", "typer", "click", "rich", "pydantic", "shellingham"):
            if name.count(".") == 0 or name.startswith("mlcost."):
                out[name] = max(out.get(name, 0.0), int(cum) / 1e6)
    return sorted(out.items(), key=lambda kv: -kv[1])[:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--where", action="store_true", help="also show import times of the compute command")
    ap.add_argument("--from-source", action="store_true",
                    help="PYTHONDONTWRITEBYTECODE=1: mlcost compiled at each start, as in an editable checkout here")
    ap.add_argument("--no-torch", action="store_true", help="only the commands measured against `import typer, rich`")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(Path(tmp))
        ratios = RATIOS
        if args.no_torch:
            ratios = [r for r in RATIOS if r[2] == "floor: import typer, rich"]
            cmds = {n: c for n, c in cmds.items() if n in {r[1] for r in ratios} | {r[2] for r in ratios}}
        env = environment(Path(tmp), args.from_source)
        names = list(cmds)
        for name in names:  # warm the file cache (and the bytecode cache) once; not timed
            run_once(cmds[name], env)
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                times[name].append(run_once(cmds[name], env))
        med = {n: statistics.median(v) for n, v in times.items()}
        rows = [{"ratio": label, "value": med[a] / med[b], "target": target, "numerator_s": med[a],
                 "floor_s": med[b]} for label, a, b, target in ratios]
        imports = where(cmds["mlcost compute"], env) if args.where else []
    load = os.getloadavg()[0]
    bytecode = "compiled from source (PYTHONDONTWRITEBYTECODE=1)" if args.from_source else "cached bytecode"
    if args.json:
        print(json.dumps({"rounds": args.rounds, "bytecode": bytecode, "load_1min": load, "median_s": med,
                          "ratios": rows, "imports_s": imports}, indent=2))
        return
    print(f"median wall time of {args.rounds} interleaved rounds (fresh process each; {bytecode}; "
          f"load average {load:.1f} at the end):")
    for n in names:
        print(f"  {n:40s} {med[n]:7.3f} s")
    print("ratios:")
    for row in rows:
        target = f"  (target <= {row['target']}x)" if row["target"] else ""
        print(f"  {row['ratio']:40s} {row['value']:6.2f}x{target}")
    if imports:
        print("import time of `mlcost compute` (cumulative, s):")
        for name, s in imports:
            print(f"  {name:40s} {s:7.3f}")


if __name__ == "__main__":
    main()
