"""CO2e (kg, lbs), cost (USD) and equivalents of a job: energy x grid intensity, with provenance.

``estimate`` takes one input way at a time (accelerators + hours, measured watts + hours, kWh, or
FLOPs on an accelerator) and returns a CarbonEstimate whose ``assumptions`` list every default used.
Intensity is gCO2e/kWh; energies kWh; masses kg (lbs beside, 1 kg = 2.20462262185 lb).
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable

from mlcost import grid, refdata
from mlcost.choices import CarbonMethod, choose, values
from mlcost.costs import energy as en
from mlcost.errors import UsageError
from mlcost.results import CarbonEstimate, EnergyEstimate
from mlcost.units import KG_PER_LB, LBS_PER_KG, require_positive

METHODS = values(CarbonMethod)
STRUBELL_LBS_PER_KWH = 0.954  # EPA 2018 US average, as used by Strubell et al. 2019
STRUBELL_G_PER_KWH = STRUBELL_LBS_PER_KWH * 453.59237  # = 432.7 g/kWh


def _given(**kwargs: Any) -> list[str]:
    return [f"--{k.replace('_', '-')}" for k, v in kwargs.items() if v is not None]


def _intensity(region: str | None, intensity_g_per_kwh: float | None, assumptions: list[str]) -> dict[str, Any]:
    if intensity_g_per_kwh is not None:
        require_positive(intensity_g_per_kwh, "--intensity")
        if region is not None:
            assumptions.append(f"--intensity {intensity_g_per_kwh:g} g/kWh overrides the grid data of {region}")
        g = float(intensity_g_per_kwh)
        return {"value_g_per_kwh": g, "region": region, "resolved": "given by --intensity",
                "source": "user (--intensity)", "year": None, "basis": "as given", "low_g_per_kwh": g,
                "high_g_per_kwh": g, "notes": []}
    g = grid.intensity(region)
    if region is None:
        assumptions.append(f"no --region: world average {g.g_per_kwh:g} gCO2e/kWh ({g.source}); range "
                           f"{g.low:.3g}-{g.high:.3g} g/kWh, the 5th-95th percentile of the world's electricity")
    assumptions.extend(g.notes)
    return g.to_dict()


def _market(kg_location: float, energy_kwh: float, location_g: float, market_intensity: float | None,
            cfe: float | None) -> dict[str, Any] | None:
    """Market-based CO2e beside the location-based figure: --market-intensity G, or --cfe F (G = location x (1 - F))."""
    if market_intensity is not None and cfe is not None:
        raise UsageError("give --market-intensity or --cfe, not both")
    if market_intensity is not None:
        if isinstance(market_intensity, bool) or not market_intensity >= 0 or math.isinf(market_intensity):
            raise UsageError(f"--market-intensity must be a finite number >= 0 g/kWh, got {market_intensity!r}")
        g, src = float(market_intensity), "--market-intensity (the supplier's or contract's emission factor)"
    elif cfe is not None:
        if isinstance(cfe, bool) or not 0 <= cfe <= 1:
            raise UsageError(f"--cfe is a fraction of carbon-free energy in [0, 1], got {cfe!r}")
        g = location_g * (1 - cfe)
        src = f"--cfe {cfe:g}: location-based {location_g:.4g} g/kWh x (1 - {cfe:g}) carbon-free energy"
    else:
        return None
    return {"intensity_g_per_kwh": g, "co2e_kg": energy_kwh * g / 1000, "location_based_co2e_kg": kg_location,
            "source": src}


def _embodied(e: EnergyEstimate) -> dict[str, Any]:
    row = refdata.read_csv("embodied")[0]
    per_h = ((float(row["server_kgco2e"]) / float(row["accelerators_per_server"]) + float(row["accelerator_kgco2e"]))
             / (float(row["lifetime_years"]) * 8760 * float(row["utilization"])))
    if e.gpu_hours is None:
        raise UsageError("--embodied needs accelerator-hours: give --gpu with --hours, --gpu-hours or --flops")
    return {"co2e_kg": per_h * e.gpu_hours, "kg_per_accelerator_hour": per_h, "accelerator_hours": e.gpu_hours,
            "source": row["source"], "method": "(server kgCO2e / accelerators per server + accelerator kgCO2e) / "
                                               "(lifetime years x 8760 h x utilization)"}


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
        src = f"--price-per-hour {price_per_hour:g} USD per accelerator-hour x {acc_hours:g} h"
        assumptions.append(f"cost: --price-per-hour ${price_per_hour:g} x {acc_hours:g} accelerator-hours "
                           "(as given; no reference price used)")
        return price_per_hour * acc_hours, price_per_hour * h_lo, price_per_hour * h_hi, src
    row = _price_row(e.gpu)
    if row is None or acc_hours is None:
        assumptions.append("no cost: no --price-per-hour and no reference cloud price for this hardware")
        return None, None, None, None
    lo, hi = float(row["price_low_usd_per_hour"]), float(row["price_high_usd_per_hour"])
    status = " (estimate)" if row.get("status") == "estimate" else ""
    lo_m, hi_m, when = row.get("low_model", ""), row.get("high_model", ""), row.get("price_date", "")
    # one recorded price (low == high) is one figure, not a range from a price to itself
    one = lo == hi and lo_m == hi_m
    prices = f"${hi:g} ({hi_m})" if one else f"${lo:g} ({lo_m}) to ${hi:g} ({hi_m})"
    src = f"{row['accelerator']}: {prices} per accelerator-hour, {when}{status}: {row['source']}"
    # one line says the price and where it is from (the table view listed the cost twice: this line and the source)
    assumptions.append(f"cost at the {hi_m} ${hi:g}/accelerator-hour of {row['accelerator']} ({when}){status}"
                       + ("; one price recorded, no range" if one else f"; range from the {lo_m} ${lo:g}")
                       + f"; {row['source']}")
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
            count: int, co2e_kg: float | None = None, market: tuple[float | None, float | None] = (None, None),
            embodied: bool = False, lead: tuple[str, ...] = ()) -> CarbonEstimate:
    g = inten["value_g_per_kwh"]
    g_lo, g_hi = inten.get("low_g_per_kwh", g), inten.get("high_g_per_kwh", g)
    kg = e.energy_kwh * g / 1000 if co2e_kg is None else co2e_kg
    cost, c_lo, c_hi, c_src = _cost(e, price_per_hour, count, assumptions)
    return CarbonEstimate(
        energy=e, intensity=inten, co2e_kg=kg,
        co2e_low_kg=e.energy_low_kwh * g_lo / 1000 if co2e_kg is None else kg,
        co2e_high_kg=e.energy_high_kwh * g_hi / 1000 if co2e_kg is None else kg,
        cost_usd=cost, cost_low_usd=c_lo, cost_high_usd=c_hi, cost_source=c_src,
        equivalents=equivalents(kg * LBS_PER_KG),
        assumptions=tuple([*lead, *e.assumptions, *assumptions]),
        market=_market(kg, e.energy_kwh, g, *market),
        embodied=_embodied(e) if embodied else None,
    )


def _number_or_none(name: str, v: Any) -> None:
    if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)):
        raise UsageError(f"{name} must be a number, got {v!r}")


def estimate(*, gpu: str | None = None, count: int = 1, seconds: float | None = None,
             gpu_hours: float | None = None, power_fraction: float | None = None, power_watts: float | None = None,
             energy_kwh: float | None = None, flops: float | None = None, utilization: float | None = None,
             precision: str | None = None, region: str | None = None, provider: str | None = None,
             intensity_g_per_kwh: float | None = None, pue: float | None = None,
             price_per_hour: float | None = None, market_intensity: float | None = None, cfe: float | None = None,
             embodied: bool = False, method: str = "default", extra: tuple[str, ...] = ()) -> CarbonEstimate:
    """Energy, CO2e and cost of a job from one input way; SECONDS is its wall-clock duration.

    GPU_HOURS (accelerator-hours summed over COUNT chips, as model cards give them) replaces SECONDS:
    wall-clock hours = GPU_HOURS / COUNT.  REGION sets the grid and, for a cloud region, the operator;
    PROVIDER names the operator whose published PUE applies (mlcost.grid.pue); --pue overrides both.
    """
    method = choose(CarbonMethod, method, "--method")
    for name, v in (("--power-fraction", power_fraction), ("--power-watts", power_watts), ("--energy-kwh", energy_kwh),
                    ("--flops", flops), ("--utilization", utilization), ("--pue", pue), ("--seconds/--hours", seconds),
                    ("--gpu-hours", gpu_hours), ("--market-intensity", market_intensity), ("--cfe", cfe)):
        _number_or_none(name, v)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise UsageError(f"--count must be a whole number of at least 1, got {count!r}")
    hours = None
    if gpu_hours is not None:
        if seconds is not None:
            raise UsageError("give --gpu-hours or --hours/--days, not both")
        hours = require_positive(gpu_hours, "--gpu-hours") / count
    if seconds is not None:
        hours = require_positive(seconds, "--hours") / 3600
    acc = refdata.find_accelerator(gpu) if gpu is not None else None
    assumptions: list[str] = []
    lead = list(extra)
    if gpu_hours is not None:
        lead.append(f"--gpu-hours {gpu_hours:g} over {count} accelerator(s) = {hours:g} h wall-clock")
    mk = (market_intensity, cfe)

    if method == "strubell2019":
        clash = _given(energy_kwh=energy_kwh, flops=flops, region=region, intensity=intensity_g_per_kwh, pue=pue,
                       utilization=utilization, provider=provider)
        if clash:
            raise UsageError(f"--method strubell2019 fixes PUE 1.58 and 0.954 lbs/kWh (US); it takes --hours with "
                             f"--power-watts or --gpu, not {', '.join(clash)}")
        if hours is None:
            raise UsageError("--method strubell2019 needs --hours")
        e = en.strubell2019(hours=hours, power_watts=power_watts, acc=acc, count=count, power_fraction=power_fraction)
        g = STRUBELL_G_PER_KWH
        inten = {"value_g_per_kwh": g, "region": "US average (Strubell et al. 2019)",
                 "resolved": "United States average, EPA 2018: 0.954 lbs CO2e/kWh",
                 "source": "EPA 2018 US average as used by Strubell et al. 2019 (arXiv 1906.02243), Section 2",
                 "year": 2018, "basis": "location-based (as the paper uses it)", "low_g_per_kwh": g,
                 "high_g_per_kwh": g, "notes": []}
        return _finish(e, inten, assumptions, price_per_hour, count,
                       co2e_kg=STRUBELL_LBS_PER_KWH * e.energy_kwh * KG_PER_LB, market=mk, embodied=embodied,
                       lead=tuple(lead))

    if pue is not None and provider is not None:  # --pue would override it: --provider did nothing
        raise UsageError("--pue and --provider both set the PUE: give one of them")
    site_pue = grid.pue(provider, region) if pue is None else None
    if energy_kwh is not None:
        clash = _given(gpu=gpu, power_watts=power_watts, flops=flops, power_fraction=power_fraction,
                       utilization=utilization, precision=precision, gpu_hours=gpu_hours)
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
                          power_fraction=power_fraction, pue=pue, site_pue=site_pue)
    elif power_watts is not None:
        clash = _given(power_fraction=power_fraction, utilization=utilization, precision=precision)
        if clash:
            raise UsageError(f"--power-watts is the measured draw of the whole job; drop {', '.join(clash)}")
        if hours is None:
            raise UsageError("--power-watts needs --hours (or --days, --gpu-hours)")
        e = en.from_power(power_watts=power_watts, hours=hours, pue=pue, site_pue=site_pue)
        if acc is not None:  # the accelerator then only prices the job
            e = EnergyEstimate(**{**e.__dict__, "gpu": acc.name, "count": count, "gpu_hours": count * hours})
    elif acc is not None:
        clash = _given(utilization=utilization, precision=precision)
        if clash:
            raise UsageError(f"{' and '.join(clash)} only appl{'y' if len(clash) > 1 else 'ies'} with --flops")
        if hours is None:
            raise UsageError("--gpu needs --hours (or --days, --gpu-hours), or --flops to derive them")
        e = en.from_gpu_hours(acc, count=count, hours=hours, power_fraction=power_fraction, pue=pue, site_pue=site_pue)
    else:
        raise UsageError("give one input way: --gpu NAME --hours H (or --gpu-hours), --power-watts W --hours H, "
                         "--energy-kwh E, or --flops F (or --compute-json FILE) with --gpu NAME")
    inten = _intensity(region, intensity_g_per_kwh, assumptions)
    return _finish(e, inten, assumptions, price_per_hour, count, market=mk, embodied=embodied, lead=tuple(lead))


def from_compute(compute, **given: Any) -> CarbonEstimate:
    """CarbonEstimate of a ComputeEstimate (``mlcost compute --format json``): its accelerator, count, precision,
    utilization and hours (hardware x time) or FLOPs (counting, 6ND) carry over; each option in GIVEN that is not
    None overrides the JSON's value, and the result says which."""
    acc = compute.accelerator
    notes: list[str] = []
    taken: dict[str, Any] = {}
    if acc is not None:
        u_assumed = acc.utilization_low != acc.utilization_high
        taken = {"gpu": acc.name, "count": acc.count, "precision": acc.precision if acc.precision in refdata.PRECISIONS
                 else None, "utilization": None if u_assumed else acc.utilization}
        if compute.method == "hardware_time" and compute.gpu_hours:
            taken["gpu_hours"] = compute.gpu_hours
        else:
            taken["flops"] = float(compute.flops)
    else:
        taken["flops"] = float(compute.flops)
    if compute.method == "hardware_time":
        taken.pop("utilization", None)
        taken.pop("precision", None)
    for k, v in list(given.items()):
        if v is None or k not in ("gpu", "count", "precision", "utilization", "gpu_hours", "flops", "seconds"):
            continue
        old = taken.get(k)
        if k == "seconds" and "gpu_hours" in taken:
            notes.append(f"--hours overrides the compute JSON's {taken.pop('gpu_hours'):g} accelerator-hours")
        elif old is not None and old != v:
            notes.append(f"--{k.replace('_', '-')} {v} overrides the compute JSON's {old}")
    merged = {**taken, **{k: v for k, v in given.items() if v is not None}}
    merged.setdefault("count", 1)
    if "gpu" not in merged:
        raise UsageError("the compute JSON names no accelerator: give --gpu NAME to turn its FLOPs into hours")
    if "seconds" in merged and "flops" in merged:
        merged.pop("flops")
    described = ", ".join(f"{k}={taken[k]:g}" if isinstance(taken[k], float) else f"{k}={taken[k]}"
                          for k in ("gpu", "count", "precision", "utilization", "gpu_hours", "flops")
                          if taken.get(k) is not None)
    notes.insert(0, f"from the compute JSON ({compute.method}): {described}")
    return estimate(**merged, extra=tuple(notes))


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

    from mlcost.units import parse_number

    def num(v: Any, kind: type = float) -> Any:  # NaN/inf/non-numbers are refused (exit 2), not passed on
        return None if v in (None, "") else kind(parse_number(v, "ledger cell"))

    typed = []
    for r in rows:
        m = dict(r)
        for k in ("duration_s", "energy_kwh", "co2e_kg", "intensity_g_per_kwh", "estimate_energy_kwh"):
            m[k] = num(m.get(k))
        for k in ("exit_code", "processes", "gpus"):
            m[k] = num(m.get(k), int)
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
