"""Errors a user can cause, each mapped to one clear line and an exit code.

Exit codes: 0 ok, 1 budget exceeded (``mlcost check``), 2 bad input or usage,
3 an optional dependency is missing, 70 (EX_SOFTWARE) a bug in mlcost itself.
Only ``mlcost.cli`` turns these into exits.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

EXIT_OK = 0
EXIT_BUDGET_EXCEEDED = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_DEPENDENCY = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h)


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


# --- whose fault is an exception? ---------------------------------------------------------------------------------
# A bug of mlcost's is exit 70 ("internal error ... please report"); the user's model, file or machine is exit 2.
# The rule is where the exception was raised, not its type: the innermost frame of its traceback.  Raised in a
# file of the mlcost package (a counting formula, a renderer, a reader's own logic) it is ours; raised in the
# user's factory or model, or in torch/onnx/transformers/... while they run the user's model or read the user's
# file, it is the user's.  OSError (permissions, a folder, a full disk, a closed pipe) and MemoryError are the
# environment's wherever they surface, since the C call that raises them leaves no frame of its own.

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def raised_in_mlcost(exc: BaseException) -> bool:
    """True when EXC's innermost traceback frame is in the mlcost package (and it is not an OSError/MemoryError)."""
    if isinstance(exc, (OSError, MemoryError)):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR)


def first_line(exc: BaseException) -> str:
    """The first line of EXC's message (a one-line error quotes no more of a library's text)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: 'cannot write out.json: No space left on device'."""
    import errno

    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return "the output pipe was closed before mlcost finished writing (broken pipe)"
    what = exc.strerror or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    if names:
        return f"{' -> '.join(names)}: {what}"
    # a write to an open file or to stdout carries no file name (e.g. `> /dev/full`, or a full disk)
    return f"write error: {what}" if exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS) else what
