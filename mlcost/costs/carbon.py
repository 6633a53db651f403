"""CO2e (kg, lbs), cost (USD) and equivalents of a job: energy x grid intensity, with provenance.

``estimate`` takes one input way at a time (accelerators + hours, measured watts + hours, kWh, or
FLOPs on an accelerator) and returns a CarbonEstimate whose ``assumptions`` list every default used.
Intensity is gCO2e/kWh; energies kWh; masses kg (lbs beside, 1 kg = 2.20462262185 lb).
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable

from mlcost import refdata
from mlcost.costs import energy as en
from mlcost.errors import UsageError
from mlcost.results import CarbonEstimate, EnergyEstimate
from mlcost.units import KG_PER_LB, LBS_PER_KG, require_positive

METHODS = ("default", "strubell2019")
STRUBELL_LBS_PER_KWH = 0.954  # EPA 2018 US average, as used by Strubell et al. 2019
STRUBELL_G_PER_KWH = STRUBELL_LBS_PER_KWH * 453.59237  # = 432.7 g/kWh


def _given(**kwargs: Any) -> list[str]:
    return [f"--{k.replace('_', '-')}" for k, v in kwargs.items() if v is not None]


def _intensity(region: str | None, intensity_g_per_kwh: float | None, assumptions: list[str]) -> dict[str, Any]:
    if intensity_g_per_kwh is not None:
        require_positive(intensity_g_per_kwh, "--intensity")
        if region is not None:
            assumptions.append(f"--intensity {intensity_g_per_kwh:g} g/kWh overrides the grid data of {region}")
        return {"value_g_per_kwh": float(intensity_g_per_kwh), "region": region, "resolved": "given by --intensity",
                "source": "user (--intensity)", "year": None, "notes": []}
    grid = refdata.grid_intensity(region)
    if region is None:
        assumptions.append(f"no --region: world average {grid.g_per_kwh:g} gCO2e/kWh ({grid.source})")
    assumptions.extend(grid.notes)
    return grid.to_dict()


def _price_row(gpu_name: str | None) -> dict[str, str] | None:
    if gpu_name is None:
        return None
    key = refdata._key(gpu_name)
    rows = sorted(refdata.read_csv("cloud_prices"), key=lambda r: -len(r["accelerator"]))
    for row in rows:
        if key.startswith(refdata._key(row["accelerator"])):
            return row
    return None


def _cost(e: EnergyEstimate, price_per_hour: float | None, count: int,
          assumptions: list[str]) -> tuple[float | None, float | None, float | None, str | None]:
    """(cost, low, high, source): USD = price per accelerator-hour x accelerator-hours.

    The range follows the hours' range too (--flops: fewer hours at high utilization, more at low).
    """
    n = e.count if e.count is not None else count
    acc_hours = e.gpu_hours if e.gpu_hours is not None else (count * e.hours if e.hours is not None else None)
    h_lo = n * e.hours_low if e.hours_low is not None else acc_hours
    h_hi = n * e.hours_high if e.hours_high is not None else acc_hours
    if price_per_hour is not None:
        require_positive(price_per_hour, "--price-per-hour")
        if acc_hours is None:
            raise UsageError("--price-per-hour needs a duration: give --hours (or --gpu with --flops)")
        return (price_per_hour * acc_hours, price_per_hour * h_lo, price_per_hour * h_hi,
                f"--price-per-hour {price_per_hour:g} USD per accelerator-hour x {acc_hours:g} h")
    row = _price_row(e.gpu)
    if row is None or acc_hours is None:
        assumptions.append("no cost: no --price-per-hour and no reference cloud price for this hardware")
        return None, None, None, None
    lo, hi = float(row["price_low_usd_per_hour"]), float(row["price_high_usd_per_hour"])
    status = "" if row.get("status") in ("", "V", "V2", "computed") else f" [{row['status']}]"
    src = f"reference_data/cloud_prices.csv {row['accelerator']}: ${lo:g}-${hi:g} per accelerator-hour{status} ({row['source']})"
    assumptions.append(f"cost at the on-demand ${hi:g}/accelerator-hour of {row['accelerator']}{status}; range from ${lo:g}")
    return hi * acc_hours, lo * h_lo, hi * h_hi, src


def equivalents(co2e_lbs: float) -> tuple[dict[str, Any], ...]:
    """CO2e as multiples of Strubell et al. 2019 Table 1 (lbs): flights, lives, cars, model trainings."""
    out = []
    for row in refdata.read_csv("strubell2019"):
        if row["table"] != "1":
            continue
        ref = float(row["co2e_lbs"])
        out.append({"name": row["name"], "label": row["label"], "co2e_lbs": ref, "ratio": co2e_lbs / ref,
                    "source": row["source"]})
    return tuple(out)


def _finish(e: EnergyEstimate, inten: dict[str, Any], assumptions: list[str], price_per_hour: float | None,
            count: int, co2e_kg: float | None = None) -> CarbonEstimate:
    g = inten["value_g_per_kwh"]
    kg = e.energy_kwh * g / 1000 if co2e_kg is None else co2e_kg
    cost, c_lo, c_hi, c_src = _cost(e, price_per_hour, count, assumptions)
    return CarbonEstimate(
        energy=e, intensity=inten, co2e_kg=kg,
        co2e_low_kg=e.energy_low_kwh * g / 1000 if co2e_kg is None else kg,
        co2e_high_kg=e.energy_high_kwh * g / 1000 if co2e_kg is None else kg,
        cost_usd=cost, cost_low_usd=c_lo, cost_high_usd=c_hi, cost_source=c_src,
        equivalents=equivalents(kg * LBS_PER_KG),
        assumptions=tuple([*e.assumptions, *assumptions]),
    )


def estimate(*, gpu: str | None = None, count: int = 1, seconds: float | None = None,
             power_fraction: float | None = None, power_watts: float | None = None,
             energy_kwh: float | None = None, flops: float | None = None, utilization: float | None = None,
             precision: str | None = None, region: str | None = None, intensity_g_per_kwh: float | None = None,
             pue: float | None = None, price_per_hour: float | None = None, method: str = "default") -> CarbonEstimate:
    """Energy, CO2e and cost of a job from one input way; SECONDS is its wall-clock duration."""
    if method not in METHODS:
        raise UsageError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    for name, v in (("--power-fraction", power_fraction), ("--power-watts", power_watts), ("--energy-kwh", energy_kwh),
                    ("--flops", flops), ("--utilization", utilization), ("--pue", pue), ("--seconds/--hours", seconds)):
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)):
            raise UsageError(f"{name} must be a number, got {v!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise UsageError(f"--count must be a whole number of at least 1, got {count!r}")
    hours = None
    if seconds is not None:
        hours = require_positive(seconds, "--hours") / 3600
    acc = refdata.find_accelerator(gpu) if gpu is not None else None
    assumptions: list[str] = []

    if method == "strubell2019":
        clash = _given(energy_kwh=energy_kwh, flops=flops, region=region, intensity=intensity_g_per_kwh, pue=pue,
                       utilization=utilization)
        if clash:
            raise UsageError(f"--method strubell2019 fixes PUE 1.58 and 0.954 lbs/kWh (US); it takes --hours with "
                             f"--power-watts or --gpu, not {', '.join(clash)}")
        if hours is None:
            raise UsageError("--method strubell2019 needs --hours")
        e = en.strubell2019(hours=hours, power_watts=power_watts, acc=acc, count=count, power_fraction=power_fraction)
        inten = {"value_g_per_kwh": STRUBELL_G_PER_KWH, "region": "US average (Strubell et al. 2019)",
                 "resolved": "United States average, EPA 2018: 0.954 lbs CO2e/kWh",
                 "source": "EPA 2018 US average as used by Strubell et al. 2019 (reference_facts.md 1d)",
                 "year": 2018, "notes": []}
        return _finish(e, inten, assumptions, price_per_hour, count,
                       co2e_kg=STRUBELL_LBS_PER_KWH * e.energy_kwh * KG_PER_LB)

    if energy_kwh is not None:
        clash = _given(gpu=gpu, power_watts=power_watts, flops=flops, power_fraction=power_fraction,
                       utilization=utilization, precision=precision)
        if clash:
            raise UsageError(f"--energy-kwh is one input way; it cannot be combined with {', '.join(clash)}")
        e = en.from_kwh(energy_kwh=energy_kwh, pue=pue, hours=hours)
    elif flops is not None:
        if acc is None:
            raise UsageError("--flops needs --gpu NAME to turn FLOPs into hours")
        clash = _given(hours=hours, power_watts=power_watts)
        if clash:
            raise UsageError(f"--flops derives the hours from the accelerator; drop {', '.join(clash)}")
        e = en.from_flops(acc, flops=flops, count=count, utilization=utilization, precision=precision,
                          power_fraction=power_fraction, pue=pue)
    elif power_watts is not None:
        clash = _given(power_fraction=power_fraction, utilization=utilization, precision=precision)
        if clash:
            raise UsageError(f"--power-watts is the measured draw of the whole job; drop {', '.join(clash)}")
        if hours is None:
            raise UsageError("--power-watts needs --hours (or --days)")
        e = en.from_power(power_watts=power_watts, hours=hours, pue=pue)
        if acc is not None:  # the accelerator then only prices the job
            e = EnergyEstimate(**{**e.__dict__, "gpu": acc.name, "count": count, "gpu_hours": count * hours})
    elif acc is not None:
        clash = _given(utilization=utilization, precision=precision)
        if clash:
            raise UsageError(f"{', '.join(clash)} only apply with --flops")
        if hours is None:
            raise UsageError("--gpu needs --hours (or --days), or --flops to derive them")
        e = en.from_gpu_hours(acc, count=count, hours=hours, power_fraction=power_fraction, pue=pue)
    else:
        raise UsageError("give one input way: --gpu NAME --hours H, --power-watts W --hours H, --energy-kwh E, "
                         "or --flops F (or --compute-json FILE) with --gpu NAME")
    inten = _intensity(region, intensity_g_per_kwh, assumptions)
    return _finish(e, inten, assumptions, price_per_hour, count)


def from_flops(flops: float, *, gpu: str, count: int = 1, utilization: float | None = None,
               precision: str | None = None, region: str | None = None, pue: float | None = None,
               intensity_g_per_kwh: float | None = None) -> CarbonEstimate:
    """Convenience for ``mlcost check``: FLOPs of work on COUNT x GPU -> CarbonEstimate."""
    return estimate(gpu=gpu, count=count, flops=flops, utilization=utilization, precision=precision, region=region,
                    pue=pue, intensity_g_per_kwh=intensity_g_per_kwh)


def with_measured(est: CarbonEstimate, rows: Iterable[dict[str, Any]]) -> CarbonEstimate:
    """The estimate with measured ledger runs beside it (``mlcost carbon --ledger``).

    Ledger cells are text; numbers become floats (exit_code an int), blanks None, so JSON carries numbers.
    """
    from dataclasses import replace

    def num(v: Any, kind: type = float) -> Any:
        try:
            return None if v in (None, "") else kind(v)
        except ValueError:
            return None

    typed = []
    for r in rows:
        m = dict(r)
        for k in ("duration_s", "energy_kwh", "co2e_kg", "intensity_g_per_kwh"):
            m[k] = num(m.get(k))
        m["exit_code"] = num(m.get("exit_code"), int)
        typed.append(m)
    return replace(est, measured=tuple(typed))


def flops_from_compute_json(data: Any) -> float:
    """Top-level ``flops`` of a ``mlcost compute --format json`` document (schema mlcost.compute/1)."""
    from mlcost.errors import InputError

    if not isinstance(data, dict) or not re.fullmatch(r"mlcost\.compute/\d+", str(data.get("schema", ""))):
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"not an mlcost compute JSON: expected schema 'mlcost.compute/1', found {found!r}")
    flops = data.get("flops")
    if isinstance(flops, dict):  # tolerate {"total": ...}
        flops = flops.get("total")
    if not isinstance(flops, (int, float)) or isinstance(flops, bool) or not math.isfinite(flops) or flops <= 0:
        raise InputError(f"compute JSON has no positive numeric 'flops' (found {flops!r})")
    return float(flops)
