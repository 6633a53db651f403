"""Build the wheel, install it in a fresh venv, and run mlcost from there: reference_data ships inside.

The fresh venv gets its dependencies through a .pth file pointing at the running interpreter's
site-packages (no network installs).  To check one more command, add a line to COMMANDS.
"""
from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (argv after `mlcost`, check(stdout) -> None); one line per command run from the installed wheel.
COMMANDS = [
    (["carbon", "--gpu", "a100", "--hours", "10", "--region", "FR", "--format", "json"],  # codecarbon's FR 2023 value
     lambda out: json.loads(out)["schema"] == "mlcost.carbon/1" and json.loads(out)["intensity"]["value_g_per_kwh"] == 56.039),
    (["compute", "--params", "1e9", "--tokens", "2e10", "--format", "json"],
     lambda out: json.loads(out)["flops"] == 120_000_000_000_000_000_000),  # 6 * 1e9 * 2e10
    (["compute", "--gpu", "h100", "--hours", "1", "--format", "json"],
     lambda out: json.loads(out)["accelerator"]["name"] == "H100-SXM5"),
    (["reference"], lambda out: "hardware" in out and "ai_and_compute" in out),
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp / "dist")],
                   check=True, capture_output=True, text=True)
    wheel = next((tmp / "dist").glob("mlcost-*.whl"))
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, capture_output=True)
    fresh_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies of the running interpreter (typer, rich, ...), as a plain path line
    (Path(fresh_site) / "_mlcost_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    return env_dir, cwd


def test_reference_data_comes_from_the_wheel(installed):
    env_dir, cwd = installed
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import mlcost.refdata as r; print(r.data_dir())"],
                         cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(out).is_relative_to(env_dir) and Path(out).name == "reference_data"
    assert (Path(out) / "hardware.csv").is_file() and (Path(out) / "ai_and_compute.csv").is_file()


def test_commands_run_from_the_wheel(installed):
    env_dir, cwd = installed
    for argv, check in COMMANDS:
        proc = subprocess.run([str(env_dir / "bin" / "mlcost"), *argv], cwd=cwd, capture_output=True, text=True)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert check(proc.stdout), argv
