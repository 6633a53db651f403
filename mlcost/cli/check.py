"""``mlcost check``: model cost budgets for CI.  Exit 0 within budget, 1 a budget exceeded, 2 config/model error."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcost.choices import CheckFormat
from mlcost.cli._options import distinct_files, output_format, quiet_option, terminal_only
from mlcost.errors import EXIT_BUDGET_EXCEEDED


def check(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="mlcost.toml or pyproject.toml ([tool.mlcost]); "
                                          "default: the first found in the working directory or a parent."),
    model: list[str] = typer.Option([], "--model", "-m", help="Check only this model (by name); repeatable."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Compare with a baseline JSON written by --save-baseline."),
    baseline_ref: Optional[str] = typer.Option(None, "--baseline-ref", help="Compare with the models as they are at this git "
                                               "ref (profiled in a temporary worktree), e.g. origin/main."),
    save_baseline: Optional[Path] = typer.Option(None, "--save-baseline", help="Write the current numbers as a baseline JSON."),
    fmt: Optional[CheckFormat] = typer.Option(None, "--format", "-f", case_sensitive=False, help="Report format (default: from --output's suffix: .json, .md, .xml for junit; else text)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output/--save-baseline file that mlcost did not write."),
    quiet: bool = quiet_option(),
) -> None:
    """Check models against the cost budgets in mlcost.toml / [tool.mlcost] (and against a baseline).

    Budgets: max_params, max_flops, max_macs, max_weights_bytes, max_activation_bytes, max_training_memory,
    max_pfs_days, max_co2e_kg, and max_increase ("5%") against --baseline or --baseline-ref.
    With --format github, failures become ::error annotations and the markdown report is appended to
    $GITHUB_STEP_SUMMARY.  Exit status: 0 within budget, 1 a budget exceeded, 2 a configuration or model error.
    """
    from mlcost.api import check as run_check
    from mlcost.render import emit
    from mlcost.render import budgets as render_budgets

    fmt = output_format(fmt, output, CheckFormat, CheckFormat.TEXT)
    terminal_only(fmt, CheckFormat.TEXT, quiet=quiet)
    distinct_files(("--save-baseline", save_baseline), ("--output", output),
                   reads=(("--config", config), ("--baseline", baseline)))
    from mlcost.safeio import check_output

    for path, option in ((output, "--output"), (save_baseline, "--save-baseline")):  # refuse before profiling
        if path is not None:
            check_output(path, force=force, option=option)
    report = run_check(config, model, baseline=baseline, baseline_ref=baseline_ref, save_baseline=save_baseline,
                       force=force)
    if save_baseline is not None:
        typer.echo(f"mlcost: baseline written to {save_baseline}", err=True)
    emit(render_budgets.render(report, fmt.value, quiet=quiet), output, force=force)
    if fmt == CheckFormat.GITHUB:
        render_budgets.write_step_summary(report)
    if report.exceeded:
        raise typer.Exit(EXIT_BUDGET_EXCEEDED)  # after rendering: the report is out before the status


def register(app: typer.Typer) -> None:
    app.command("check")(check)
