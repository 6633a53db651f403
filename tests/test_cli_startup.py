"""What the everyday commands load: `mlcost compute` and `mlcost carbon` import their own command module,
result and renderer, never another command's (nor torch, pydantic, codecarbon or pandas); `--help` and shell
completion still show every command.  What, not how fast: the timings live in bench/startup.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# run in a fresh interpreter: the command through the console-script entry point, then the modules it loaded
_RUN = """
import sys
from mlcost.cli import main
sys.argv = ['mlcost', *{args!r}]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print('\\nLOADED=' + ','.join(sorted(sys.modules)), file=sys.stderr)
"""

HEAVY = ("torch", "pydantic", "codecarbon", "pandas", "matplotlib", "fvcore", "onnx", "transformers", "psutil")
OTHER_COMMANDS = ("mlcost.cli.profile", "mlcost.cli.check", "mlcost.cli.infer", "mlcost.cli.reference",
                  "mlcost.cli.track")
NOT_ON_THE_WAY = ("mlcost.results.profile", "mlcost.results.check", "mlcost.results.infer", "mlcost.formats",
                  "mlcost.counting", "mlcost.profiling", "mlcost.budgets", "mlcost.ledger", "mlcost.track",
                  "mlcost.render.layout", "mlcost.render.profile", "mlcost.render.budgets", "mlcost.safeio",
                  "mlcost.jsonfile", "mlcost.costs.roofline", "mlcost.costs.serving")


def _loaded(*args: str) -> tuple[dict, set[str]]:
    code = _RUN.format(args=list(args))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stderr.rsplit("LOADED=", 1)[1].strip().split(",")
    return json.loads(proc.stdout), set(loaded)


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_compute_loads_compute_alone():
    out, loaded = _loaded("compute", "--params", "7e9", "--tokens", "1e12", "--gpu", "a100", "-f", "json")
    assert out["flops"] == 42_000_000_000_000_000_000_000  # 6 * 7e9 * 1e12
    assert _top(loaded) & set(HEAVY) == set()
    assert {"mlcost.cli.compute", "mlcost.results.compute", "mlcost.render.compute"} <= loaded
    unexpected = [m for m in (*OTHER_COMMANDS, "mlcost.cli.carbon", *NOT_ON_THE_WAY, "mlcost.results.carbon",
                              "mlcost.grid", "mlcost.costs.carbon")
                  if m in loaded or any(x.startswith(m + ".") for x in loaded)]
    assert unexpected == []


def test_carbon_loads_carbon_alone_and_reads_codecarbons_data_without_importing_it():
    out, loaded = _loaded("carbon", "--gpu", "a100", "--count", "8", "--hours", "10", "--region", "FR", "-f", "json")
    from importlib.metadata import version

    assert out["intensity"]["resolved"] == "France (FRA)"  # from codecarbon's global_energy_mix.json
    assert out["intensity"]["source"].startswith(f"codecarbon {version('codecarbon')} global_energy_mix.json")
    assert _top(loaded) & set(HEAVY) == set()
    assert {"mlcost.cli.carbon", "mlcost.results.carbon", "mlcost.render.carbon", "mlcost.grid"} <= loaded
    unexpected = [m for m in (*OTHER_COMMANDS, "mlcost.cli.compute", *NOT_ON_THE_WAY, "mlcost.results.compute",
                              "mlcost.costs.compute")  # compute's utilization default: with --flops only
                  if m in loaded or any(x.startswith(m + ".") for x in loaded)]
    assert unexpected == []


def test_help_lists_every_command_with_its_line(cli):
    import typer.main

    from mlcost.cli import COMMANDS, app

    out = cli("--help").stdout
    listed = out.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed if line.strip()] == list(COMMANDS)
    group = typer.main.get_command(app)
    for line in listed:
        name, _, short = line.strip().partition(" ")
        assert short.strip() == group.commands[name].get_short_help_str(80 - 6 - max(map(len, COMMANDS)))


def test_every_command_module_is_listed():
    """A command module left out of COMMANDS would never be built: every mlcost/cli/NAME.py with register()."""
    from mlcost.cli import COMMANDS

    modules = sorted(p.stem for p in (ROOT / "mlcost" / "cli").glob("[!_]*.py")
                     if "\ndef register(" in p.read_text(encoding="utf-8"))
    assert modules == sorted(COMMANDS)


def _complete(words: str, shell: str = "bash") -> list[str]:
    n = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**os.environ, "_MLCOST_COMPLETE": f"complete_{shell}", "COMP_WORDS": words, "COMP_CWORD": str(n),
           "_TYPER_COMPLETE_ARGS": words}
    proc = subprocess.run([sys.executable, "-m", "mlcost"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("words, expected", [
    ("mlcost c", ["compute", "carbon", "check"]),  # command names, in --help's order
    ("mlcost compute --pa", ["--params"]),  # an option of the command it builds on demand
    ("mlcost carbon --method ", ["default", "strubell2019"]),
])
def test_shell_completion_builds_the_command_it_completes(words, expected):
    assert _complete(words) == expected


def test_zsh_completion_shows_each_commands_line():
    out = "\n".join(_complete("mlcost c", "zsh"))
    assert '"compute":"Training compute in FLOPs and' in out and '"carbon":"Energy, CO2e, cost' in out
