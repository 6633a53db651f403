"""`mlcost track -- CMD ARGS...`: measure a real run with codecarbon and append it to a ledger.

Light at import: codecarbon loads only when a command is actually tracked.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from mlcost.errors import UsageError


def track_command(
    cmd: Optional[list[str]] = typer.Argument(None, help="The command to run, after --."),
    region: Optional[str] = typer.Option(None, "--region", help="Grid region for CO2e: FR, US-VA, gcp:europe-west1, aws:us-east-1 (default: world average)."),
    ledger: Path = typer.Option(Path("mlcost-ledger.csv"), "--ledger", help="CSV ledger to append the run to."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Total the runs of this ledger instead of running a command."),
    by: str = typer.Option("command", "--by", help="With --summary: group by command | commit."),
    fmt: str = typer.Option("table", "--format", "-f", help="With --summary: table | json | markdown."),
) -> None:
    """Run CMD under codecarbon's offline tracker; append start, duration, kWh, CO2e, exit code and git
    commit to the ledger (also when CMD fails or is interrupted); exit with CMD's exit code.
    """
    if summary is not None:
        if cmd:
            raise UsageError("--summary totals a ledger; it does not run a command")
        if fmt not in ("table", "json", "markdown"):
            raise UsageError(f"--format must be table, json or markdown, got {fmt!r}")
        from mlcost.render import emit
        from mlcost.render.carbon import render_summary
        from mlcost.track import read_ledger, summarize

        emit(render_summary(summarize(read_ledger(summary), by), by, fmt))
        return
    from mlcost import track

    code, row = track.run(list(cmd or []), region=region, ledger=ledger)
    typer.echo(f"mlcost: {row['energy_kwh'] or '?'} kWh, {row['co2e_kg'] or '?'} kg CO2e, "
               f"exit {code} -> {ledger}", err=True)
    # sys.exit, not typer.Exit: SystemExit passes every layer untouched and carries CMD's code.
    sys.exit(code)


def register(app: typer.Typer) -> None:
    app.command("track", context_settings={"allow_interspersed_args": False})(track_command)
