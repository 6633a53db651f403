"""Render a CarbonEstimate (table, json, markdown), and the HF model-card block.

Equivalents are put in words people grasp, against Strubell et al. 2019 Table 1:
"0.1 NY-SF flights; 0.03% of Transformer (big) with NAS".
"""
from __future__ import annotations

from typing import Any

from mlcost.results import CarbonEstimate
from mlcost.units import format_duration, format_number, format_range

# Which Table 1 rows to say in words, and how (a count of things, or a percent of one big thing).
_WORDS = (
    ("air_travel_ny_sf", "NY–SF flights (1 passenger)", "count"),
    ("human_life_year", "human-years of life", "count"),
    ("car_lifetime", "car lifetimes (incl. fuel)", "count"),
    ("transformer_big", "Transformer (big) trainings", "count"),
    ("transformer_big_nas", "Transformer (big) with NAS", "percent"),
)


def _g(x: float | None, digits: int = 3) -> str:
    """'656,347', '201', '0.0188', '1.88e-05' (mlcost.units.format_number)."""
    return format_number(x, digits)


def _ranged(point: str, low: float | None, high: float | None, unit: str = "", prefix: str = "") -> str:
    """'401 kWh  (range 162–401 kWh)'; no range when both ends read the same."""
    rng = format_range(low, high, lambda v: f"{prefix}{_g(v)}")
    return point if rng is None else f"{point}  (range {rng}{unit})"


def equivalents_text(est: CarbonEstimate) -> str:
    by = {e["name"]: e["ratio"] for e in est.equivalents}
    parts = []
    for name, words, kind in _WORDS:
        if name not in by:
            continue
        r = by[name]
        parts.append(f"{_g(r * 100, 2)}% of {words}" if kind == "percent" else f"{_g(r, 2)} {words}")
    return "; ".join(parts)


def _rows(est: CarbonEstimate) -> list[tuple[str, str]]:
    e, i = est.energy, est.intensity
    rows = [("method", est.method)]
    if e.gpu:
        rows.append(("hardware", f"{e.count} x {e.gpu}"))
    if e.flops is not None:
        rows.append(("work", f"{e.flops:.4g} FLOPs at {e.utilization:g} utilization ({e.precision})"))
    if e.hours is not None:
        rows.append(("duration", f"{_g(e.hours)} h" + (f" ({format_duration(e.hours * 3600)})" if e.hours >= 48 else "")))
    if e.gpu_hours is not None:
        rows.append(("accelerator-hours", f"{_g(e.gpu_hours)}"))
    if e.total_power_watts is not None:
        rows.append(("power (before PUE)", f"{_g(e.total_power_watts)} W"))
    rows += [
        ("PUE", f"{e.pue:g}"),
        ("energy", _ranged(f"{_g(e.energy_kwh)} kWh", e.energy_low_kwh, e.energy_high_kwh, " kWh")),
        ("grid intensity", f"{_g(i['value_g_per_kwh'])} gCO2e/kWh — {i['resolved']}"),
        ("intensity source", f"{i['source']}" + (f", year {i['year']}" if i.get("year") else ", year not stated")
         + (f"; {i['basis']}" if i.get("basis") else "")),
        ("CO2e", _ranged(f"{_g(est.co2e_kg)} kg = {_g(est.co2e_lbs)} lbs", est.co2e_low_kg, est.co2e_high_kg, " kg")),
    ]
    if est.market:
        m = est.market
        rows.append(("CO2e, market-based", f"{_g(m['co2e_kg'])} kg at {_g(m['intensity_g_per_kwh'])} g/kWh"))
    if est.embodied:
        b = est.embodied
        rows.append(("embodied CO2e", f"{_g(b['co2e_kg'])} kg ({_g(b['kg_per_accelerator_hour'] * 1000)} g per "
                                      "accelerator-hour; not in CO2e)"))
    rows += [
        ("cost", "—" if est.cost_usd is None else
         _ranged(f"${_g(est.cost_usd)}", est.cost_low_usd, est.cost_high_usd, prefix="$")),
        ("equivalent to", equivalents_text(est)),
    ]
    return rows


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())  # a command with newlines stays on its row


def _measured_total_line(est: CarbonEstimate) -> str:
    t = est.measured_total() or {}
    return (f"total: {t['runs']} run(s), {format_duration(t['duration_s'])}, {_g(t['energy_kwh'])} kWh, "
            f"{_g(t['co2e_kg'])} kg CO2e (estimate above: {_g(est.co2e_kg)} kg)")


def headline(est: CarbonEstimate) -> str:
    """One line: '401 kWh, 98.1 kg CO2e (216 lbs), $2,362'."""
    e = est.energy
    out = f"{_g(e.energy_kwh)} kWh, {_g(est.co2e_kg)} kg CO2e ({_g(est.co2e_lbs)} lbs)"
    return out + ("" if est.cost_usd is None else f", ${_g(est.cost_usd)}")


def render_table(est: CarbonEstimate, *, width: int = 80, explain: bool = False) -> str:
    from mlcost.render import layout

    return layout.render_text(parts(est, width, explain=explain), width)


def parts(est: CarbonEstimate, width: int = 80, *, explain: bool = False) -> list:
    """The table view as rich renderables measured to WIDTH (a notebook shows the same)."""
    from mlcost.render import layout
    from mlcost.render.compute import assumption_notes

    measured = None
    if est.measured:
        runs = layout.table(
            [layout.Column("start", priority=2), layout.num("kWh"), layout.num("kg CO2e"), layout.num("exit", priority=1),
             layout.Column("command", wrap=True)],
            [[m.get("start_time", ""), _g(m.get("energy_kwh")), _g(m.get("co2e_kg")), m.get("exit_code", ""),
              _one_line(m.get("command"))] for m in est.measured],
            width=width, title=f"measured runs (ledger, {len(est.measured)})")
        measured = layout.titled(None, runs, _measured_total_line(est))
    return [layout.facts(_rows(est), title="mlcost carbon: energy, CO2e and cost"), measured,
            *assumption_notes(est.assumptions, explain, width)]


def render_markdown(est: CarbonEstimate) -> str:
    from mlcost.render import markdown as md

    out = md.table(["", ""], _rows(est))
    if est.measured:
        out += ["", "**Measured runs (ledger)**", ""]
        out += md.table(["start", "kWh", "kg CO2e", "exit", "command"],
                        [[md.escape(m.get("start_time", "")), _g(m.get("energy_kwh")), _g(m.get("co2e_kg")),
                          md.escape(m.get("exit_code", "")), md.code(_one_line(m.get("command")))] for m in est.measured]
                        + [[f"total ({(est.measured_total() or {}).get('runs')} runs)",
                            _g((est.measured_total() or {}).get("energy_kwh")),
                            _g((est.measured_total() or {}).get("co2e_kg")), "", ""]], align="lrrrl", raw=True)
    out += ["", "**Assumptions**", "", *md.bullets(est.assumptions)]
    return "\n".join(out) + "\n"


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_card(est: CarbonEstimate, training_type: str = "pre-training") -> str:
    """The Hugging Face model-card metadata block ``co2_eq_emissions`` (emissions in grams)."""
    e, i = est.energy, est.intensity
    hardware = f"{e.count} x {e.gpu}" if e.gpu else "unknown"
    location = i.get("resolved") or "unknown"
    lines = [
        "co2_eq_emissions:",
        f"  emissions: {round(est.co2e_kg * 1000, 3):g}",
        f"  source: {_yaml_str('mlcost carbon estimate (' + est.method + '); intensity: ' + str(i['source']))}",
        f"  training_type: {_yaml_str(training_type)}",
        f"  geographical_location: {_yaml_str(location)}",
        f"  hardware_used: {_yaml_str(hardware)}",
    ]
    return "\n".join(lines) + "\n"


def render(est: CarbonEstimate, fmt: str = "table", *, width: int | None = None, explain: bool = False,
           quiet: bool = False) -> str:
    """FMT is table, json or markdown; WIDTH (default: the terminal's), EXPLAIN and QUIET shape the table."""
    from mlcost.render import view

    return view(est, fmt, markdown=render_markdown, headline=headline, table=render_table, width=width,
                explain=explain, quiet=quiet)
