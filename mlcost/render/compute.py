"""Render a ComputeEstimate: a terminal table with the "AI and Compute" trend and a log-scale text bar
chart, JSON (schema mlcost.compute/1) and Markdown.  Units: FLOPs, pfs-days (8.64e19 FLOPs), hours."""
from __future__ import annotations

import math

from mlcost.render import to_json
from mlcost.results import ComputeEstimate
from mlcost.units import format_duration, format_si

_METHOD_TITLES = {
    "counting": "counting operations (forward FLOPs x (1 + backward) x examples x epochs)",
    "params_tokens": "parameters x tokens (6·N·D, Kaplan et al. 2020)",
    "hardware_time": "hardware x time (count x peak x time x utilization)",
}
BAR_WIDTH = 40


def render(est: ComputeEstimate, fmt: str = "table") -> str:
    if fmt == "json":
        return to_json(est.to_dict())
    if fmt == "markdown":
        return render_markdown(est)
    return render_table(est)


def _flops(value: float) -> str:
    """format_si stops at E (1e18); a 7B x 2T run is 84 ZFLOPs, not '8.4e+04 EFLOPs'."""
    for prefix, scale in (("Y", 1e24), ("Z", 1e21)):
        if abs(value) >= scale and abs(value) < 1e27:
            return f"{value / scale:.3g} {prefix}FLOPs"
    return format_si(value, "FLOPs")


def _pfs(value: float) -> str:
    return f"{value:.3g}"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"


def _rows(est: ComputeEstimate) -> list[tuple[str, str]]:
    rng = est.range or {}
    rows = [("method", _METHOD_TITLES.get(est.method, est.method))]
    if est.model:
        rows.append(("model", est.model))
    flops = _flops(est.flops) + f"  ({est.flops:.3e})"
    lo, hi = (rng.get("flops") or [est.flops, est.flops])
    if lo != hi:
        flops += f"  range {lo:.3g}–{hi:.3g}"
    rows.append(("training compute", flops))
    pfs = _pfs(est.pfs_days) + " petaflop/s-days"
    plo, phi = (rng.get("pfs_days") or [est.pfs_days, est.pfs_days])
    if plo != phi:
        pfs += f"  range {_pfs(plo)}–{_pfs(phi)}"
    rows.append(("pfs-days", pfs))
    for key, value in est.breakdown.items():
        rows.append(("  " + key.replace("_", " "), _flops(value) if "flops" in key else str(value)))
    acc = est.accelerator
    if acc is None:
        rows.append(("accelerator time", "— (pass --gpu NAME [--count N] to time it on an accelerator)"))
    else:
        ulo, uhi = rng.get("utilization") or [acc.utilization, acc.utilization]
        rows.append(("accelerator", f"{acc.count} x {acc.name}, {acc.precision}, {acc.peak_flops_per_s / 1e12:g} TFLOP/s peak each"))
        rows.append(("utilization", f"{acc.utilization:.0%}" + (f" (range {ulo:.0%}–{uhi:.0%})" if ulo != uhi else "")))
        hours = f"{_hours(est.gpu_hours)} accelerator-hours"
        glo, ghi = rng.get("gpu_hours") or [est.gpu_hours, est.gpu_hours]
        if glo != ghi:
            hours += f"  range {_hours(glo)}–{_hours(ghi)}"
        rows.append(("GPU-hours", hours))
        wall = format_duration((est.wall_hours or 0) * 3600)
        if glo != ghi:
            wall += f"  range {format_duration(glo / acc.count * 3600)}–{format_duration(ghi / acc.count * 3600)}"
        rows.append(("wall-clock", wall + f" on {acc.count} chip{'s' if acc.count > 1 else ''}"))
        if est.floor:  # the roofline's lower bound, beside the utilization estimate (never instead of it)
            f = est.floor
            rows.append(("roofline floor", f"{_hours(f['gpu_hours_floor'])} accelerator-hours at least, "
                         f"{format_duration(f['wall_hours_floor'] * 3600)} wall-clock (no utilization assumed)"))
    if est.trend:
        rows.append(("on the trend", est.trend["text"]))
        t = est.trend.get("trends") or {}
        if t:
            rows.append(("trend reaches it", "; ".join(
                f"{k} ({v['doubling_months']:.1f}-month doubling): {v['reached_year']:.1f}" for k, v in t.items())))
    return rows


def render_table(est: ComputeEstimate) -> str:
    rows = _rows(est)
    width = max(len(k) for k, _ in rows)
    lines = ["mlcost compute — training compute", ""]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    lines += ["", "  AI and Compute headline results and runs since 2019 vs this run (pfs-days, log):"]
    lines += ["  " + line for line in bar_chart(est)]
    lines += ["", "  assumptions:"]
    lines += [f"    - {a}" for a in est.assumptions]
    return "\n".join(lines) + "\n"


def bar_chart(est: ComputeEstimate, width: int = BAR_WIDTH) -> list[str]:
    """One bar per reference result plus this run; bar length ∝ log10(pfs-days) above the smallest."""
    from mlcost.costs.compute import reference_results

    points = [(r["name"], r["date"][:4], r["pfs_days"]) for r in reference_results() if r["group"] in ("headline", "recent")]
    points.append(("► this run", "", est.pfs_days))
    points.sort(key=lambda p: p[2])
    logs = [math.log10(p[2]) for p in points if p[2] > 0]
    if not logs:
        return []
    lo, hi = min(logs) - 0.5, max(logs)
    span = max(hi - lo, 1e-9)
    label_w = max(len(f"{n} {y}".strip()) for n, y, _ in points)
    out = []
    for name, year, value in points:
        n = 0 if value <= 0 else max(1, round((math.log10(value) - lo) / span * width))
        bar = ("█" if name.startswith("►") else "▇") * n
        out.append(f"{f'{name} {year}'.strip().ljust(label_w)}  {bar} {value:.2g}")
    out.append(f"{''.ljust(label_w)}  (each {width / span:.1f} characters = 10x)")
    return out


def render_markdown(est: ComputeEstimate) -> str:
    lines = ["## Training compute", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k.strip()} | {v} |" for k, v in _rows(est)]
    lines += ["", "**Assumptions**", ""] + [f"- {a}" for a in est.assumptions]
    return "\n".join(lines) + "\n"
