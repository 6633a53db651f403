"""Shared test fixtures."""
from __future__ import annotations

import pytest

from _cli import run_cli


@pytest.fixture
def cli():
    """cli("profile", "x.py:f", "--format", "json") -> CliResult (exceptions propagate for real bugs)."""
    return run_cli
