"""Shared test helpers: run the CLI in-process with stdout and stderr apart."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def cli():
    """cli("profile", "x.py:f", "--format", "json") -> CliResult (exceptions propagate for real bugs)."""
    from mlcost.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict | None = None) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], input=input, env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
