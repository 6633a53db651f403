"""The ``mlcost`` command: a typer app whose commands live one per module in this package.

Each command module defines ``register(app)``.  A command is built (its module imported, its options made
into click's) only when it is asked for: ``mlcost compute`` pays for compute alone, while ``--help`` and
shell completion, which show every command with its one-line help, build them all.  Errors become one line on
stderr and an exit code here, nowhere else.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from mlcost import __version__
from mlcost.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, MlcostError, describe_os_error, first_line, raised_in_mlcost

#: The commands in --help's order; each is the module mlcost/cli/NAME.py, whose register(app) adds it.
COMMANDS = ("profile", "compute", "carbon", "track", "check", "reference", "infer")


try:  # typer 0.26 and later vendor click as typer._click; older ones use click itself
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_errors


def debug_enabled() -> bool:
    return os.environ.get("MLCOST_DEBUG", "") not in ("", "0", "false", "no")


def report_error(exc: BaseException | str) -> None:
    """One clear line on stderr (the full traceback only with MLCOST_DEBUG=1).  The message is escaped:
    a model name or a file's content quoted in it can neither break the line nor inject a workflow command."""
    from mlcost.render.escape import plain

    if debug_enabled() and isinstance(exc, BaseException):
        import traceback

        traceback.print_exception(exc)
    typer.echo(f"mlcost: error: {plain(exc)}", err=True)


def _fail(exc: BaseException, message: str, code: int) -> typer.Exit:
    if debug_enabled():
        import traceback

        traceback.print_exception(exc)
    report_error(message)
    return typer.Exit(code)


_CHOICE_ERROR = re.compile(r"^Invalid value for (?P<opt>.+?): (?P<value>.+) is not one of (?P<choices>.+?)\.?$")


def usage_line(exc: Any) -> str:
    """click's usage error as one line; a bad choice reads like mlcost's own: "unknown --backend 'x'; choose
    one of auto, fvcore, torch"."""
    message = " ".join(exc.format_message().split())
    m = _CHOICE_ERROR.match(message)
    if m:
        opt = m["opt"].strip("'").split("' / '")[0]
        if opt == "--precision" and exc.ctx is not None:
            from mlcost.choices import TrainingPrecision, WeightPrecision, peak_only

            enum = {"profile": TrainingPrecision, "infer": WeightPrecision}.get(exc.ctx.info_name)
            peak = peak_only(enum, m["value"]) if enum is not None else None
            if peak:
                return peak
        return f"unknown {opt} {m['value']}; choose one of {m['choices'].replace(chr(39), '')}"
    return message


class _Group(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)  # built on first use: see the module docstring

    # catch typer's exception classes (and its click's: vendored or not), never a second click's
    def invoke(self, ctx: typer.Context) -> Any:
        """Exit codes by whose fault it is (mlcost.errors.raised_in_mlcost): the user's input, model or machine is
        one line and exit 2; a bug in mlcost itself is exit 70 with 'internal error ... please report'."""
        try:
            return super().invoke(ctx)
        except MlcostError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, _click_errors.ClickException, KeyboardInterrupt):
            raise  # click's exits; usage errors are made one line in main()
        except SystemExit as exc:
            if raised_in_mlcost(exc):  # `mlcost track` exits with its command's code
                raise
            # anything else that called sys.exit() during a command is the model's code (or a trusted pickle)
            raise _fail(exc, f"the model's code called sys.exit({exc.code!r}); mlcost stopped with an error", EXIT_BAD_INPUT) from None
        except OSError as exc:  # permissions, a folder, a full disk, a closed pipe: the machine's, not a bug
            raise _fail(exc, describe_os_error(exc), EXIT_BAD_INPUT) from None
        except MemoryError as exc:
            raise _fail(exc, "out of memory (the model or an input is too large for this machine)", EXIT_BAD_INPUT) from None
        except Exception as exc:
            if not raised_in_mlcost(exc):  # the user's code, or a library reading the user's file, raised
                raise _fail(exc, f"{type(exc).__name__}: {first_line(exc)}", EXIT_BAD_INPUT) from None
            if debug_enabled():
                import traceback

                traceback.print_exception(exc)
            from mlcost.render.escape import plain

            typer.echo(f"mlcost: internal error: {type(exc).__name__}: {plain(first_line(exc))}; this is a bug in mlcost, "
                       "please report it (MLCOST_DEBUG=1 shows the traceback)", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """click's main, but a usage error (unknown option, bad value, missing argument) is one line, exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click_errors.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `mlcost`: the help text is the answer
                exc.show()
                sys.exit(exc.exit_code)
            ctx = exc.ctx
            hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            report_error(f"{usage_line(exc)}{hint}")
            sys.exit(EXIT_BAD_INPUT)
        except _click_errors.ClickException as exc:
            report_error(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            report_error("aborted")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)  # COMMANDS' order, without building a command


app = typer.Typer(
    cls=_Group,
    name="mlcost",
    help="Model cost and carbon accounting: FLOPs, MACs, params, memory, pfs-days, kWh, CO2e, CI budgets.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlcost {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Model cost and carbon accounting: FLOPs, MACs, params, memory, pfs-days, kWh, CO2e, CI budgets.

    One multiply-add (MAC) = 2 FLOPs everywhere mlcost says FLOPs.
    """


def _build(name: str) -> Any:
    """The click command of mlcost/cli/NAME.py: its register() on an app of its own, converted as typer
    converts an app's commands (the root app's markup and exception settings), of mlcost's command class."""
    from mlcost.cli._options import Command

    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    importlib.import_module(f"{__name__}.{name}").register(single)
    for info in single.registered_commands:  # one command class for all: '' is never taken as a path (_options.py)
        if info.cls in (None, TyperCommand):
            info.cls = Command
    return typer.main.get_command(single)


class _Commands(MutableMapping):
    """The group's commands by name: every name in COMMANDS is there, each built on first access (_build)."""

    def __init__(self, built: dict[str, Any]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in COMMANDS

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._built if n not in COMMANDS)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:  # pragma: no cover - click never removes a command
        raise TypeError("mlcost's commands are fixed")


def main() -> None:
    """Console-script entry point.  Output still buffered at exit is flushed here, so that a closed pipe or a full
    device on stdout (`mlcost ... > /dev/full`) is one line and exit 2 rather than Python's shutdown traceback."""
    try:
        app(prog_name="mlcost")
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()
    except OSError as exc:
        if code == 0:
            report_error(describe_os_error(exc))
            code = EXIT_BAD_INPUT
    if code not in (0, None):  # stdout may be broken: keep the interpreter's final flush from failing again
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
