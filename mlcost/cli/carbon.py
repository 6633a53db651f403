"""`mlcost carbon`: energy (kWh), CO2e (kg, lbs), cost (USD) and equivalents of a training run.

Light at import: typer and mlcost's own modules only (never torch, pandas or codecarbon).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcost.choices import CarbonMethod, EstimateFormat, RunPrecision
from mlcost.cli._options import FORMAT_HELP, distinct_files, explain_option, output_format, quiet_option, terminal_only
from mlcost.errors import UsageError

FORMATS = tuple(f.value for f in EstimateFormat)


def carbon_command(
    gpu: Optional[str] = typer.Option(None, "--gpu", help="Accelerator (see `mlcost reference hardware`): a100, v100, h100 ..."),
    count: Optional[str] = typer.Option(None, "--count", help="Number of accelerators (default 1)."),
    hours: Optional[str] = typer.Option(None, "--hours", help="Wall-clock time of the job: hours, or a duration such as 90m, 1h30m."),
    days: Optional[str] = typer.Option(None, "--days", help="Wall-clock time of the job: days, or a duration such as 36h."),
    gpu_hours: Optional[str] = typer.Option(None, "--gpu-hours", help="Accelerator-hours summed over all chips (as model cards give them)."),
    power_fraction: Optional[str] = typer.Option(None, "--power-fraction", help="Average accelerator draw as a fraction of TDP (default: measured per family, reference_data/power.csv)."),
    power_watts: Optional[str] = typer.Option(None, "--power-watts", help="Measured average draw of the whole job, watts."),
    energy_kwh: Optional[str] = typer.Option(None, "--energy-kwh", help="Energy already known, kWh."),
    flops: Optional[str] = typer.Option(None, "--flops", help="Training FLOPs, turned into hours on --gpu at --utilization."),
    compute_json: Optional[Path] = typer.Option(None, "--compute-json", help="Output of `mlcost compute --format json`: its accelerator, count, hours or FLOPs, utilization, precision."),
    utilization: Optional[str] = typer.Option(None, "--utilization", help="Fraction of the dense peak achieved (default 0.33, AI and Compute)."),
    precision: Optional[RunPrecision] = typer.Option(None, "--precision", case_sensitive=False, help="With --flops: the run's precision, timed at that peak; mixed/amp: the chip's 16-bit tensor peak (as in `mlcost compute`)."),
    pue: Optional[str] = typer.Option(None, "--pue", help="Power usage effectiveness (default: the operator's published PUE, else 1.58)."),
    provider: Optional[str] = typer.Option(None, "--provider", help="Operator whose published PUE applies: google, aws, azure, meta, idris (a cloud --region implies it)."),
    region: Optional[str] = typer.Option(None, "--region", help="FR / FRA, US-VA, CA-QC, SE3, gcp:europe-west1, aws:ca-central-1 (default: world average with its spread)."),
    intensity: Optional[str] = typer.Option(None, "--intensity", help="Grid intensity override, gCO2e/kWh."),
    market_intensity: Optional[str] = typer.Option(None, "--market-intensity", help="Market-based emission factor, gCO2e/kWh: a market-based CO2e beside the location-based one."),
    cfe: Optional[str] = typer.Option(None, "--cfe", help="Carbon-free energy fraction (0-1 or 40%): market-based CO2e = location-based x (1 - CFE)."),
    embodied: bool = typer.Option(False, "--embodied", help="Add embodied (manufacturing) CO2e per accelerator-hour, reported apart."),
    price_per_hour: Optional[str] = typer.Option(None, "--price-per-hour", help="USD per accelerator-hour (default: reference_data/cloud_prices.csv)."),
    method: CarbonMethod = typer.Option(CarbonMethod.DEFAULT, "--method", case_sensitive=False, help="strubell2019: p_t = 1.58 t (p_c+p_r+g p_g)/1000; 0.954 lbs/kWh."),
    model_card: bool = typer.Option(False, "--model-card", help="Print the Hugging Face model-card co2_eq_emissions block."),
    training_type: str = typer.Option("pre-training", "--training-type", help="training_type for --model-card."),
    ledger: Optional[Path] = typer.Option(None, "--ledger", help="An `mlcost track` ledger: show its measured runs beside the estimate."),
    fmt: Optional[EstimateFormat] = typer.Option(None, "--format", "-f", case_sensitive=False, help=FORMAT_HELP.format(default="table")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file that mlcost did not write."),
    quiet: bool = quiet_option(),
    explain: bool = explain_option(),
) -> None:
    """Energy, CO2e, cost and equivalents of a training run, with assumptions and a low/high range.

    One input way: --gpu NAME --count N --hours H (or --gpu-hours H); --power-watts W --hours H;
    --energy-kwh E; --flops F with --gpu NAME (hours at --utilization); or --compute-json FILE.
    """
    from mlcost.api import carbon
    from mlcost.render import emit
    from mlcost.render.carbon import model_card as card
    from mlcost.render.carbon import render

    if model_card and (fmt is not None or quiet or explain):
        raise UsageError("--model-card prints the Hugging Face co2_eq_emissions block; it takes no --format, -q or --explain")
    fmt = output_format(fmt, output, EstimateFormat, EstimateFormat.TABLE)
    terminal_only(fmt, EstimateFormat.TABLE, quiet=quiet, explain=explain)
    distinct_files(("--output", output), reads=(("--compute-json", compute_json), ("--ledger", ledger)))
    est = carbon(gpu=gpu, count=count, hours=hours, days=days, gpu_hours=gpu_hours, power_fraction=power_fraction,
                 power_watts=power_watts, energy_kwh=energy_kwh, flops=flops, compute=compute_json,
                 utilization=utilization, precision=precision.value if precision else None, pue=pue, provider=provider,
                 region=region, intensity=intensity, market_intensity=market_intensity, cfe=cfe, embodied=embodied,
                 price_per_hour=price_per_hour, method=method.value, ledger=ledger)
    emit(card(est, training_type) if model_card else render(est, fmt.value, explain=explain, quiet=quiet), output,
         force=force)


def register(app: typer.Typer) -> None:
    app.command("carbon")(carbon_command)
