"""Errors a user can cause, each mapped to one clear line and an exit code.

Exit codes: 0 ok, 1 budget exceeded (``mlcost check``), 2 bad input or usage,
3 an optional dependency is missing.  Only ``mlcost.cli`` turns these into exits.
"""
from __future__ import annotations

import importlib
from types import ModuleType

EXIT_OK = 0
EXIT_BUDGET_EXCEEDED = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_DEPENDENCY = 3


class MlcostError(Exception):
    """Base class: the message is the one line the user sees."""

    exit_code = EXIT_BAD_INPUT


class UsageError(MlcostError):
    """Options that contradict each other, are missing, or are out of range."""


class InputError(MlcostError):
    """A file or value the user gave cannot be read or makes no sense."""


class ModelLoadError(InputError):
    """A model file, archive or factory could not be loaded."""


class UnsafeFileError(InputError):
    """A file would execute code when loaded (a pickle) and no trust flag was given."""


class UnsupportedOperatorError(MlcostError):
    """``--strict`` was given and the model uses operators no formula covers."""


class ConfigError(MlcostError):
    """A budget configuration (pyproject.toml / mlcost.toml) is invalid."""


class MissingDependencyError(MlcostError):
    """An optional dependency is not installed; the message names the extra."""

    exit_code = EXIT_MISSING_DEPENDENCY

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"the optional dependency '{package}' is not installed{what}; "
            f"install it with: pip install 'mlcost[{extra}]'"
        )
        self.package = package
        self.extra = extra


def import_optional(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import a heavy optional dependency at the point of use, or fail with the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        # Only a missing top-level package is "not installed"; a broken install is a real bug.
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise
        raise MissingDependencyError(top, extra, purpose) from exc
