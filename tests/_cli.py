"""Run the mlcost CLI in-process with stdout and stderr apart (typer's CliRunner)."""
from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: object, input: str | None = None, env: dict | None = None) -> CliResult:
    """run_cli("profile", "x.py:f", "--format", "json"); exceptions that escape the CLI (real bugs) propagate."""
    from typer.testing import CliRunner

    from mlcost.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], input=input, env=env, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run(*args: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one CLI run."""
    r = run_cli(*args)
    return r.exit_code, r.stdout, r.stderr
