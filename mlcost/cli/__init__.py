"""The ``mlcost`` command: a typer app whose commands live one per module in this package.

Each command module defines ``register(app)``; they import only typer/rich at module level, so
``mlcost --help`` stays fast.  Errors become one line on stderr and an exit code here, nowhere else.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from mlcost import __version__
from mlcost.errors import MlcostError

# Order in --help; any other command module found in this package is registered after these.
_COMMAND_ORDER = ("profile", "compute", "carbon", "track", "check", "reference")


def debug_enabled() -> bool:
    return os.environ.get("MLCOST_DEBUG", "") not in ("", "0", "false", "no")


def report_error(exc: BaseException) -> None:
    """One clear line on stderr (the full traceback only with MLCOST_DEBUG=1)."""
    if debug_enabled():
        import traceback

        traceback.print_exception(exc)
    typer.echo(f"mlcost: error: {exc}", err=True)


class _Group(TyperGroup):
    # typer vendors its own click: catch and raise typer's exception classes, not click's.
    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlcostError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug in mlcost, not the user's fault: one line and EX_SOFTWARE (70)
            if debug_enabled():
                raise
            typer.echo(f"mlcost: internal error: {type(exc).__name__}: {exc} "
                       "(rerun with MLCOST_DEBUG=1 for the traceback)", err=True)
            raise typer.Exit(70) from None

    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = list(self.commands)
        return sorted(names, key=lambda n: (_COMMAND_ORDER.index(n) if n in _COMMAND_ORDER else len(_COMMAND_ORDER), n))


app = typer.Typer(
    cls=_Group,
    name="mlcost",
    help="Model cost and carbon accounting: FLOPs, MACs, params, memory, pfs-days, kWh, CO2e, CI budgets.",
    no_args_is_help=True,
    add_completion=False,
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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Model cost and carbon accounting: FLOPs, MACs, params, memory, pfs-days, kWh, CO2e, CI budgets.

    One multiply-add (MAC) = 2 FLOPs everywhere mlcost says FLOPs.
    """


def _register_commands() -> None:
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in found:
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mlcost")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
