"""`mlcost track -- CMD ARGS...`: measure a real run with codecarbon and append it to a ledger.

Light at import: codecarbon loads only when a command is actually tracked.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from mlcost.choices import EstimateFormat, LedgerGroup
from mlcost.errors import UsageError


def _say(text: str) -> None:
    """A line on stderr that may fail (a closed terminal after SIGHUP) without losing the exit code."""
    try:
        typer.echo(text, err=True)
    except (OSError, ValueError):
        pass


def _num(value: object) -> str:
    """A ledger figure for people: '1.88e-05', not the ledger's full '1.87603967e-05'; '?' when unmeasured."""
    from mlcost.units import format_number

    try:
        return format_number(float(value)) if value not in (None, "") else "?"
    except (TypeError, ValueError):
        return "?"


def track_command(
    cmd: Optional[list[str]] = typer.Argument(None, help="The command to run, after --."),
    region: Optional[str] = typer.Option(None, "--region", help="Grid region for CO2e: FR, US-VA, gcp:europe-west1, aws:us-east-1 (default: world average)."),
    ledger: Optional[str] = typer.Option(None, "--ledger", path_type=str, help="CSV ledger, or a folder (one file per host, e.g. on a shared filesystem; DIR/ creates it), to record the run in (default: mlcost-ledger.csv)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Run the row belongs to (default: TORCHELASTIC_RUN_ID, SLURM_JOB_ID, torchrun's --rdzv-id or master endpoint, else fresh)."),
    node: Optional[str] = typer.Option(None, "--node", help="Node name (default: SLURM_NODEID, torchrun's --node-rank, else the host name)."),
    estimate: Optional[Path] = typer.Option(None, "--estimate", help="`mlcost carbon` or `mlcost compute` JSON: its energy is kept in the row; the summary shows measured / estimated."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Total the runs of this ledger (file or folder) instead of running a command."),
    by: Optional[LedgerGroup] = typer.Option(None, "--by", case_sensitive=False, help="With --summary: group the runs by (default command)."),
    fmt: Optional[EstimateFormat] = typer.Option(None, "--format", "-f", case_sensitive=False, help="With --summary: output format (default table)."),
) -> None:
    """Run CMD under codecarbon's offline tracker; record run, node, start, duration, kWh, CO2e, exit code and
    git commit in the ledger (also when CMD fails or is interrupted); exit with CMD's exit code.
    """
    if summary is not None:
        if cmd:
            raise UsageError("--summary totals a ledger; it does not run a command")
        given = [o for o, v in (("--region", region), ("--ledger", ledger), ("--run-id", run_id), ("--node", node),
                                ("--estimate", estimate)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to a tracked command, "
                             "not to --summary (it reads its own LEDGER)")
        by, fmt = by or LedgerGroup.COMMAND, fmt or EstimateFormat.TABLE
        from mlcost.ledger import read_ledger
        from mlcost.ledger_summary import summarize
        from mlcost.render import emit
        from mlcost.render.ledger import render_summary

        emit(render_summary(summarize(read_ledger(summary), by.value), by.value, fmt.value))
        return
    from mlcost import track
    from mlcost.ledger import folder_or_file

    if not cmd:
        raise UsageError("nothing to run: mlcost track [--region R] [--ledger FILE|DIR] -- CMD ARGS...")
    stray = [o for o, v in (("--by", by), ("--format", fmt)) if v is not None]
    if stray:
        raise UsageError(f"{', '.join(stray)} appl{'y' if len(stray) > 1 else 'ies'} to --summary, not to a tracked command")
    ledger = ledger or track.DEFAULT_LEDGER
    code, row = track.run(list(cmd), region=region, ledger=folder_or_file(ledger), run_id=run_id, node=node, estimate=estimate)
    if row["write_error"] is None:
        _say(f"mlcost: {_num(row['energy_kwh'])} kWh, {_num(row['co2e_kg'])} kg CO2e, exit {code} -> {ledger}")
    elif row["written_to"] is not None:
        _say(f"mlcost: cannot write ledger {ledger} ({row['write_error']}); the row went to {row['written_to']}")
    else:
        from mlcost.ledger import row_line

        _say(f"mlcost: cannot write ledger {ledger} ({row['write_error']}) nor a fallback file; the row: {row_line(row)}")
    # sys.exit, not typer.Exit: SystemExit passes every layer untouched and carries CMD's code.
    sys.exit(code)


def register(app: typer.Typer) -> None:
    app.command("track", context_settings={"allow_interspersed_args": False})(track_command)
