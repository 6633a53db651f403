"""The README says what mlcost does: its `mlcost ...` commands run (exit 0) and its Python blocks execute.

Commands whose inputs are placeholders (model.onnx, weights.pt, a package of your own) are skipped, and the
test says which; the ones that run cover every command the README shows on shipped files.  Outputs go to a
temporary folder; `mlcost check` runs on a tiny configured model there.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from _cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OUTPUTS = {"--output", "-o", "--save-baseline", "--plot"}
INPUTS = {"--profile", "--compute-json", "--baseline", "--ledger", "--config", "-c", "--estimate", "--summary"}


def readme_commands() -> list[list[str]]:
    out = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():  # a trailing backslash continues the line
            line = line.strip().removeprefix("$ ")
            if line.startswith("mlcost "):
                out.append(shlex.split(line.split("  #")[0].split(" # ")[0])[1:])
    return out


def python_blocks() -> list[str]:
    return [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "import mlcost" in b]


def _placeholder(args: list[str]) -> str | None:
    """Why ARGS cannot run here (an input the README only names), or None."""
    if args[0] == "check" and "--baseline-ref" in args:
        return "needs the git history of a project"
    if args[0] == "track" and "--" in args:
        return "runs a command under codecarbon (tests/test_track.py)"
    for i, a in enumerate(args):
        prev = args[i - 1] if i else ""
        if prev in OUTPUTS or a.startswith("-"):
            continue
        is_input = prev in INPUTS or (i == 1 and args[0] in ("profile", "compute", "infer") and not prev.startswith("-"))
        if not is_input:
            continue
        path = a.split(":")[0] if ":" in a and not a.endswith(":") else a
        if prev in ("--baseline",) and path == "base.json":
            continue  # written by the README's own --save-baseline line
        if not (ROOT / path).exists() and not (ROOT / path.replace(".", "/")).with_suffix(".py").exists():
            return f"{a} is a placeholder"
    return None


def test_readme_names_commands_of_every_kind():
    kinds = {args[0] for args in readme_commands()}
    assert {"profile", "compute", "carbon", "check"} <= kinds, kinds


def test_readme_commands_run(tmp_path, monkeypatch):
    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(4, 3), torch.zeros(2, 4)\n")
    (tmp_path / "mlcost.toml").write_text('[[models]]\nname = "net"\nmodel = "net.py:build"\n'
                                          '[models.budgets]\nmax_params = 100\nmax_increase = "5%"\n')
    ran, skipped = [], []
    for args in readme_commands():
        why = _placeholder(args)
        if why:
            skipped.append((args, why))
            continue
        args = [str(tmp_path / Path(a).name) if i and args[i - 1] in OUTPUTS else a for i, a in enumerate(args)]
        if args[0] == "check":
            monkeypatch.chdir(tmp_path)
            args = [str(tmp_path / a) if a == "base.json" else a for a in args]
        else:
            monkeypatch.chdir(ROOT)
        r = run_cli(*args, env={"GITHUB_STEP_SUMMARY": "", "COLUMNS": "80"})
        assert r.exit_code == 0, (args, r.stderr)
        ran.append(args)
    assert len(ran) >= 8, (ran, skipped)  # the shipped examples, compute, carbon and check lines
    assert all("placeholder" in why or "git" in why or "codecarbon" in why for _, why in skipped), skipped


def test_readme_python_blocks_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = python_blocks()
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_readme_weight_bytes_include_buffers():
    """README: weights are parameters and buffers.  The demo CNN: 98,970 float32 parameters (395,880 bytes) +
    its 4 BatchNorms' running mean and variance (2 x (16+32+64+128) x 4 = 1,920 bytes) and num_batches_tracked
    (4 x 8 bytes) = 397,832 bytes."""
    assert "parameters and buffers" in README
    d = run_cli("profile", f"{ROOT / 'examples' / 'cnn.py'}:build", "--input-shape", "1,3,224,224", "-f", "json").json()
    assert d["params"]["total"] == 98_970
    assert d["memory"]["weights_bytes"] == 98_970 * 4 + 2 * (16 + 32 + 64 + 128) * 4 + 4 * 8 == 397_832


def test_legacy_onnx_export_names_the_folded_batchnorm(tmp_path):
    """README: a BatchNorm the exporter folded into a Conv is named in assumptions, also for torch's
    TorchScript-based exporter (which leaves no metadata: the fused weight gets a generated name)."""
    import warnings

    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.zeros(1, 3, 16, 16),), str(tmp_path / "cb.onnx"), dynamo=False,
                          training=torch.onnx.TrainingMode.EVAL)
    d = run_cli("profile", tmp_path / "cb.onnx", "-f", "json").json()
    assert d["params"]["total"] == 8 * 3 * 3 * 3 + 8  # the conv's weight + the bias the fusion gave it: 224
    folded = [a for a in d["assumptions"] if "BatchNorm layer(s) were folded" in a]
    # the module's BatchNorm: 2 x 8 parameters; eval-mode BN, 4 FLOPs per element (normalize + affine) of 8 x 14 x 14
    assert len(folded) == 1 and "TorchScript-based exporter" in folded[0] and "16 parameters" in folded[0]
    assert "6272 FLOPs" in folded[0]
    assert "BatchNorm" in README and "TorchScript-based exporter" in README
