"""`mlcost carbon`: energy (kWh), CO2e (kg, lbs), cost (USD) and equivalents of a training run.

Light at import: typer and mlcost's own modules only (never torch, pandas or codecarbon).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcost.errors import UsageError
from mlcost.jsonfile import read_json_object
from mlcost.units import parse_fraction, parse_number, require_positive

FORMATS = ("table", "json", "markdown")


def _number(text: Optional[str], what: str) -> Optional[float]:
    """A finite number ('1.5e3', '2_000', '40%' for fractions); None passes through (units refuses NaN,
    inf and the absurd, so that `--energy-kwh 1e308` is an error, not "inf kg")."""
    if text is None:
        return None
    return (parse_fraction if text.strip().endswith("%") else parse_number)(text, what)


def _compute_json(path: Path):
    from mlcost.results import ComputeEstimate

    return ComputeEstimate.from_dict(read_json_object(path, "--compute-json"))


def carbon_command(
    gpu: Optional[str] = typer.Option(None, "--gpu", help="Accelerator (see `mlcost reference hardware`): a100, v100, h100 ..."),
    count: Optional[int] = typer.Option(None, "--count", help="Number of accelerators (default 1)."),
    hours: Optional[str] = typer.Option(None, "--hours", help="Wall-clock hours of the job."),
    days: Optional[str] = typer.Option(None, "--days", help="Wall-clock days of the job."),
    gpu_hours: Optional[str] = typer.Option(None, "--gpu-hours", help="Accelerator-hours summed over all chips (as model cards give them)."),
    power_fraction: Optional[str] = typer.Option(None, "--power-fraction", help="Average accelerator draw as a fraction of TDP (default: measured per family, reference_data/power.csv)."),
    power_watts: Optional[str] = typer.Option(None, "--power-watts", help="Measured average draw of the whole job, watts."),
    energy_kwh: Optional[str] = typer.Option(None, "--energy-kwh", help="Energy already known, kWh."),
    flops: Optional[str] = typer.Option(None, "--flops", help="Training FLOPs, turned into hours on --gpu at --utilization."),
    compute_json: Optional[Path] = typer.Option(None, "--compute-json", help="Output of `mlcost compute --format json`: its accelerator, count, hours or FLOPs, utilization, precision."),
    utilization: Optional[str] = typer.Option(None, "--utilization", help="Fraction of the dense peak achieved (default 0.33, AI and Compute)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32|tf32|bf16|fp16|fp8 peak used with --flops."),
    pue: Optional[str] = typer.Option(None, "--pue", help="Power usage effectiveness (default: the operator's published PUE, else 1.58)."),
    provider: Optional[str] = typer.Option(None, "--provider", help="Operator whose published PUE applies: google, aws, azure, meta, idris (a cloud --region implies it)."),
    region: Optional[str] = typer.Option(None, "--region", help="FR / FRA, US-VA, CA-QC, SE3, gcp:europe-west1, aws:ca-central-1 (default: world average with its spread)."),
    intensity: Optional[str] = typer.Option(None, "--intensity", help="Grid intensity override, gCO2e/kWh."),
    market_intensity: Optional[str] = typer.Option(None, "--market-intensity", help="Market-based emission factor, gCO2e/kWh: a market-based CO2e beside the location-based one."),
    cfe: Optional[str] = typer.Option(None, "--cfe", help="Carbon-free energy fraction (0-1 or 40%): market-based CO2e = location-based x (1 - CFE)."),
    embodied: bool = typer.Option(False, "--embodied", help="Add embodied (manufacturing) CO2e per accelerator-hour, reported apart."),
    price_per_hour: Optional[str] = typer.Option(None, "--price-per-hour", help="USD per accelerator-hour (default: reference_data/cloud_prices.csv)."),
    method: str = typer.Option("default", "--method", help="default | strubell2019 (p_t = 1.58 t (p_c+p_r+g p_g)/1000; 0.954 lbs/kWh)."),
    model_card: bool = typer.Option(False, "--model-card", help="Print the Hugging Face model-card co2_eq_emissions block."),
    training_type: str = typer.Option("pre-training", "--training-type", help="training_type for --model-card."),
    ledger: Optional[Path] = typer.Option(None, "--ledger", help="An `mlcost track` ledger: show its measured runs beside the estimate."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | markdown."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file that mlcost did not write."),
) -> None:
    """Energy, CO2e, cost and equivalents of a training run, with assumptions and a low/high range.

    One input way: --gpu NAME --count N --hours H (or --gpu-hours H); --power-watts W --hours H;
    --energy-kwh E; --flops F with --gpu NAME (hours at --utilization); or --compute-json FILE.
    """
    from mlcost.costs import carbon as cb
    from mlcost.render import emit
    from mlcost.render.carbon import model_card as card
    from mlcost.render.carbon import render

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    h, d = _number(hours, "--hours"), _number(days, "--days")
    if h is not None and d is not None:
        raise UsageError("give --hours or --days, not both")
    seconds = h * 3600 if h is not None else (d * 86_400 if d is not None else None)
    if seconds is not None and seconds <= 0:
        raise UsageError(f"{'--hours' if h is not None else '--days'} must be positive, got {h if h is not None else d:g}")
    f = _number(flops, "--flops")
    if count is not None:  # typer reads any int: 10**400 would overflow a float further on
        require_positive(count, "--count", integer=True)
    args = dict(
        gpu=gpu, count=count, seconds=seconds, gpu_hours=_number(gpu_hours, "--gpu-hours"),
        power_fraction=_number(power_fraction, "--power-fraction"), power_watts=_number(power_watts, "--power-watts"),
        energy_kwh=_number(energy_kwh, "--energy-kwh"), flops=f, utilization=_number(utilization, "--utilization"),
        precision=precision, region=region, provider=provider, intensity_g_per_kwh=_number(intensity, "--intensity"),
        pue=_number(pue, "--pue"), price_per_hour=_number(price_per_hour, "--price-per-hour"), method=method,
        market_intensity=_number(market_intensity, "--market-intensity"), cfe=_number(cfe, "--cfe"), embodied=embodied,
    )
    if compute_json is not None:
        if f is not None:
            raise UsageError("give --flops or --compute-json, not both")
        est = cb.from_compute(_compute_json(compute_json), **args)
    else:
        est = cb.estimate(**{**args, "count": 1 if count is None else count})
    if ledger is not None:
        from mlcost.ledger import read_ledger

        est = cb.with_measured(est, read_ledger(ledger))
    emit(card(est, training_type) if model_card else render(est, fmt), output, force=force)


def register(app: typer.Typer) -> None:
    app.command("carbon")(carbon_command)
