"""What a torch-backed `mlcost profile` imports, in a fresh interpreter (sys.modules after the run): torch and
what the run needs, not torch's compiler stack (torch._dynamo, torch._inductor, sympy: see
mlcost/counting/lazy_dynamo.py and lazy_sympy.py), nor another format's renderer or backend.  Speed itself is
bench/startup.py's (ratios, never timed tests)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# runs the CLI as `python -m mlcost ...` does, then lists what is imported
RUN = '''
import json, runpy, sys
sys.argv = ["mlcost", *sys.argv[1:]]
try:
    runpy.run_module("mlcost", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
'''

COMPILER = ("sympy", "torch._dynamo", "torch._inductor", "torch.fx.experimental.symbolic_shapes",
            "torch.utils._sympy.functions")
OTHER_BACKENDS = ("fvcore", "onnx", "onnxruntime", "transformers", "safetensors", "codecarbon", "matplotlib",
                  "pandas")
TEXT_ONLY = ("rich", "mlcost.render.layout", "mlcost.render.markdown", "mlcost.render.notebook", "mlcost.render.plot",
             "mlcost.render.roofline_plot")  # a JSON profile needs no table, markdown or plot


def _imported(*args: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", RUN, "profile", *args], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    report = json.loads(r.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), r.stderr[-2000:]
    return set(report["modules"])


@pytest.mark.parametrize("args", [
    ("examples/cnn.py:build", "--input-shape", "1,3,224,224"),  # meta convolutions and batch norm: Python kernels
    ("tests/models/tiny.py:build", "--training", "--optimizer", "adamw", "--precision", "mixed"),  # torch.optim
    ("tests/models/llama.py:build_small",),  # nn.Embedding's normal_ init on meta, while the factory builds
], ids=["cnn", "training", "llama"])
def test_a_json_profile_imports_torch_and_no_compiler_backend_or_renderer(args):
    modules = _imported(*args, "-f", "json")
    assert "torch" in modules and "mlcost.render.profile" in modules
    unwanted = [m for m in (*COMPILER, *OTHER_BACKENDS, *TEXT_ONLY) if m in modules]
    assert not unwanted, f"imported: {unwanted}"
