"""Render a CarbonEstimate (table, json, markdown), and the HF model-card block.

Equivalents are put in words people grasp, against Strubell et al. 2019 Table 1:
"0.1 NY-SF flights; 0.03% of Transformer (big) with NAS".
"""
from __future__ import annotations

from typing import Any

from mlcost.render import to_json
from mlcost.results import CarbonEstimate

# Which Table 1 rows to say in words, and how (a count of things, or a percent of one big thing).
_WORDS = (
    ("air_travel_ny_sf", "NY–SF flights (1 passenger)", "count"),
    ("human_life_year", "human-years of life", "count"),
    ("car_lifetime", "car lifetimes (incl. fuel)", "count"),
    ("transformer_big", "Transformer (big) trainings", "count"),
    ("transformer_big_nas", "Transformer (big) with NAS", "percent"),
)


def _g(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if 1e5 <= abs(x) < 1e12:  # "656,347 kWh", "$3,201,722": whole numbers read better than 6.56e+05
        return f"{x:,.0f}"
    if abs(x) >= 1e12 or abs(x) < 1e-3:
        return f"{x:.{digits}g}"
    return f"{x:,.{max(0, digits - 1 - int(f'{abs(x):e}'.split('e')[1]))}f}"


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
        rows.append(("duration", f"{_g(e.hours)} h"))
    if e.gpu_hours is not None:
        rows.append(("accelerator-hours", f"{_g(e.gpu_hours)}"))
    if e.total_power_watts is not None:
        rows.append(("power (before PUE)", f"{_g(e.total_power_watts)} W"))
    rows += [
        ("PUE", f"{e.pue:g}"),
        ("energy", f"{_g(e.energy_kwh)} kWh  (range {_g(e.energy_low_kwh)}–{_g(e.energy_high_kwh)})"),
        ("grid intensity", f"{_g(i['value_g_per_kwh'])} gCO2e/kWh — {i['resolved']}"),
        ("intensity source", f"{i['source']}" + (f", year {i['year']}" if i.get("year") else ", year not stated")
         + (f"; {i['basis']}" if i.get("basis") else "")),
        ("CO2e", f"{_g(est.co2e_kg)} kg = {_g(est.co2e_lbs)} lbs  (range {_g(est.co2e_low_kg)}–{_g(est.co2e_high_kg)} kg)"),
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
         f"${_g(est.cost_usd)}  (range ${_g(est.cost_low_usd)}–${_g(est.cost_high_usd)})"),
        ("equivalent to", equivalents_text(est)),
    ]
    return rows


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())  # a command with newlines stays on its row


def _measured_lines(est: CarbonEstimate) -> list[str]:
    lines = []
    for m in est.measured:
        lines.append(f"  {m.get('start_time', '')}  {_g(m.get('energy_kwh'))} kWh  {_g(m.get('co2e_kg'))} kg  "
                     f"exit {m.get('exit_code', '')}  {_one_line(m.get('command'))}")
    t = est.measured_total()
    if t:
        lines.append(f"  total: {t['runs']} run(s), {_g(t['duration_s'])} s, {_g(t['energy_kwh'])} kWh, "
                     f"{_g(t['co2e_kg'])} kg CO2e (estimate above: {_g(est.co2e_kg)} kg)")
    return lines


def render_table(est: CarbonEstimate) -> str:
    rows = _rows(est)
    width = max(len(k) for k, _ in rows)
    out = [f"{k.ljust(width)}  {v}" for k, v in rows]
    if est.measured:
        out += ["", f"measured runs (ledger, {len(est.measured)}):", *_measured_lines(est)]
    out += ["", "assumptions:", *[f"  - {a}" for a in est.assumptions]]
    if est.cost_source:
        out.append(f"  - cost: {est.cost_source}")
    return "\n".join(out) + "\n"


def render_markdown(est: CarbonEstimate) -> str:
    out = ["| | |", "|---|---|"]
    out += [f"| {k} | {v.replace('|', '/')} |" for k, v in _rows(est)]
    if est.measured:
        out += ["", "**Measured runs (ledger)**", "", "| start | kWh | kg CO2e | exit | command |", "|---|---|---|---|---|"]
        out += [f"| {m.get('start_time', '')} | {_g(m.get('energy_kwh'))} | {_g(m.get('co2e_kg'))} | "
                f"{m.get('exit_code', '')} | `{_one_line(m.get('command')).replace('|', '/')}` |" for m in est.measured]
        t = est.measured_total()
        out.append(f"| total ({t['runs']} runs) | {_g(t['energy_kwh'])} | {_g(t['co2e_kg'])} | | |")
    out += ["", "**Assumptions**", "", *[f"- {a}" for a in est.assumptions]]
    if est.cost_source:
        out.append(f"- cost: {est.cost_source}")
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


def render(est: CarbonEstimate, fmt: str) -> str:
    if fmt == "json":
        return to_json(est.to_dict())
    if fmt == "markdown":
        return render_markdown(est)
    return render_table(est)
