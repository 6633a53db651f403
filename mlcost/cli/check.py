"""``mlcost check``: model cost budgets for CI.  Exit 0 within budget, 1 a budget exceeded, 2 config/model error."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcost.errors import EXIT_BUDGET_EXCEEDED, UsageError

_FORMATS = ("text", "json", "markdown", "github", "junit")


def check(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="mlcost.toml or pyproject.toml ([tool.mlcost]); "
                                          "default: the first found in the working directory or a parent."),
    model: list[str] = typer.Option([], "--model", "-m", help="Check only this model (by name); repeatable."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Compare with a baseline JSON written by --save-baseline."),
    baseline_ref: Optional[str] = typer.Option(None, "--baseline-ref", help="Compare with the models as they are at this git "
                                               "ref (profiled in a temporary worktree), e.g. origin/main."),
    save_baseline: Optional[Path] = typer.Option(None, "--save-baseline", help="Write the current numbers as a baseline JSON."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json | markdown | github | junit"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output/--save-baseline file that mlcost did not write."),
) -> None:
    """Check models against the cost budgets in mlcost.toml / [tool.mlcost] (and against a baseline).

    Budgets: max_params, max_flops, max_macs, max_weights_bytes, max_activation_bytes, max_training_memory,
    max_pfs_days, max_co2e_kg, and max_increase ("5%") against --baseline or --baseline-ref.
    With --format github, failures become ::error annotations and the markdown report is appended to
    $GITHUB_STEP_SUMMARY.  Exit status: 0 within budget, 1 a budget exceeded, 2 a configuration or model error.
    """
    from mlcost import budgets
    from mlcost.render import emit
    from mlcost.render import budgets as render_budgets

    if fmt not in _FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(_FORMATS)}")
    if baseline is not None and baseline_ref is not None:
        raise UsageError("give --baseline FILE or --baseline-ref REF, not both")
    from mlcost.safeio import check_output

    for path, option in ((output, "--output"), (save_baseline, "--save-baseline")):  # refuse before profiling
        if path is not None:
            check_output(path, force=force, option=option)
    cfg = budgets.load_config(config)
    report, current = budgets.run_check(cfg, model, baseline_file=baseline, baseline_ref=baseline_ref)
    if save_baseline is not None:
        budgets.save_baseline(save_baseline, current, source=cfg.display_path, force=force)
        typer.echo(f"mlcost: baseline written to {save_baseline}", err=True)
    emit(render_budgets.render(report, fmt), output, force=force)
    if fmt == "github":
        render_budgets.write_step_summary(report)
    if report.exceeded:
        raise typer.Exit(EXIT_BUDGET_EXCEEDED)  # after rendering: the report is out before the status


def register(app: typer.Typer) -> None:
    app.command("check")(check)
