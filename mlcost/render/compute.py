"""Render a ComputeEstimate: a terminal table with the "AI and Compute" trend and a log-scale text bar
chart, JSON (schema mlcost.compute/1) and Markdown.  Units: FLOPs, pfs-days (8.64e19 FLOPs), hours."""
from __future__ import annotations

import math

from mlcost.results import ComputeEstimate
from mlcost.units import format_duration, format_number, format_range, format_si

_METHOD_TITLES = {
    "counting": "counting operations (forward FLOPs x (1 + backward) x examples x epochs)",
    "params_tokens": "parameters x tokens (6·N·D, Kaplan et al. 2020)",
    "hardware_time": "hardware x time (count x peak x time x utilization)",
}
BAR_WIDTH = 40


def render(est: ComputeEstimate, fmt: str = "table", *, width: int | None = None, explain: bool = False,
           quiet: bool = False) -> str:
    """FMT is table, json or markdown; WIDTH (default: the terminal's), EXPLAIN and QUIET shape the table."""
    from mlcost.render import view

    return view(est, fmt, markdown=render_markdown, headline=headline, table=render_table, width=width,
                explain=explain, quiet=quiet)


def headline(est: ComputeEstimate) -> str:
    """One line: '3.96 pfs-days (342 EFLOPs), 1,234 accelerator-hours on 8 x V100 (6.43 days)'."""
    out = f"{_pfs(est.pfs_days)} pfs-days ({_flops(est.flops)})"
    if est.accelerator is not None and est.gpu_hours is not None:
        acc = est.accelerator
        out += (f", {_hours(est.gpu_hours)} accelerator-hours on {acc.count} x {acc.name}"
                f" ({format_duration((est.wall_hours or 0) * 3600)} wall-clock)")
    return (f"{est.model}: " if est.model else "") + out


# the JSON breakdown's keys, as the table names them ('flops_6nd' is a key, not a label)
_BREAKDOWN = {"flops_6nd": "6·N·D", "flops_attention": "attention", "flops_forward": "forward",
              "flops_backward": "backward", "peak_flops_x_seconds": "peak x seconds"}


def _flops(value: float) -> str:
    """'84 ZFLOPs' for a 7B x 2T run (format_si goes up to yotta)."""
    return format_si(value, "FLOPs")


def _pfs(value: float) -> str:
    return format_number(value)


def _hours(value: float | None) -> str:
    return format_number(value)


def _ranged(point: str, rng: str | None) -> str:
    return point if rng is None else f"{point}  (range {rng})"


def _rows(est: ComputeEstimate) -> list[tuple[str, str]]:
    rng = est.range or {}
    rows = [("method", _METHOD_TITLES.get(est.method, est.method))]
    if est.model:
        rows.append(("model", est.model))
    lo, hi = rng.get("flops") or [None, None]
    rows.append(("training compute", _ranged(f"{_flops(est.flops)} ({est.flops:.3e} FLOPs)",
                                             format_range(lo, hi, _flops))))
    plo, phi = rng.get("pfs_days") or [None, None]
    rows.append(("pfs-days", _ranged(f"{_pfs(est.pfs_days)} petaflop/s-days", format_range(plo, phi, _pfs))))
    for key, value in est.breakdown.items():
        rows.append(("  " + _BREAKDOWN.get(key, key.replace("_", " ")), _flops(value) if "flops" in key else str(value)))
    acc = est.accelerator
    if acc is None:
        rows.append(("accelerator time", "— (pass --gpu NAME [--count N] to time it on an accelerator)"))
    else:
        ulo, uhi = rng.get("utilization") or [None, None]
        rows.append(("accelerator", f"{acc.count} x {acc.name}, {acc.precision}, {acc.peak_flops_per_s / 1e12:g} TFLOP/s peak each"))
        rows.append(("utilization", _ranged(f"{acc.utilization:.0%}", format_range(ulo, uhi, lambda v: f"{v:.0%}"))))
        glo, ghi = rng.get("gpu_hours") or [None, None]
        rows.append(("GPU-hours", _ranged(f"{_hours(est.gpu_hours)} accelerator-hours", format_range(glo, ghi, _hours))))
        wall = format_duration((est.wall_hours or 0) * 3600) + f" on {acc.count} chip{'s' if acc.count > 1 else ''}"
        per_chip = (lambda v: format_duration(v / acc.count * 3600))
        rows.append(("wall-clock", _ranged(wall, format_range(glo, ghi, per_chip))))
        if est.floor:  # the roofline's lower bound, beside the utilization estimate (never instead of it)
            f = est.floor
            rows.append(("roofline floor", f"{_hours(f['gpu_hours_floor'])} accelerator-hours at least, "
                         f"{format_duration(f['wall_hours_floor'] * 3600)} wall-clock (no utilization assumed)"))
    if est.trend:
        rows.append(("on the trend", est.trend["text"]))
        t = est.trend.get("trends") or {}
        if t:
            rows.append(("trend reaches it", "; ".join(
                f"{k} ({v['doubling_months']:.1f}-month doubling): {_reached(v)}" for k, v in t.items())))
    return rows


def _reached(trend: dict) -> str:
    """'2025.3'; for a run below the trend at its first result, 'already below the trend at its first run (2020)'
    (the line run backwards gave years before the trend existed: 'since 2019 ...: 1995.6')."""
    if trend.get("before_start"):
        return f"already below the trend at its first run ({math.floor(trend['start_year'])})"
    return f"{trend['reached_year']:.1f}"


def parts(est: ComputeEstimate, width: int = 80, *, explain: bool = False) -> list:
    """The table view as rich renderables measured to WIDTH (a notebook shows the same)."""
    from mlcost.render import layout

    chart = bar_chart(est, max(10, min(BAR_WIDTH, width - _label_width(est) - 12)))  # 12: gaps and the value
    return [
        layout.facts(((k.replace("  ", "· ", 1) if k.startswith("  ") else k, v) for k, v in _rows(est)),
                     title="mlcost compute: training compute"),
        layout.titled("AI and Compute headline results and runs since 2019 vs this run (pfs-days, log)",
                      layout.lines(chart)) if chart else None,
        *assumption_notes(est.assumptions, explain, width),
    ]


def render_table(est: ComputeEstimate, *, width: int = 80, explain: bool = False) -> str:
    from mlcost.render import layout

    return layout.render_text(parts(est, width, explain=explain), width)


def assumption_notes(assumptions, explain: bool, width: int = 80) -> list:
    """The assumptions block of a terminal view: heads by default, every line in full with --explain."""
    from mlcost.render import layout
    from mlcost.render.explain import MORE_ASSUMPTIONS, heads

    if explain:
        return [layout.notes(assumptions, "assumptions")] if assumptions else []
    return [layout.notes(heads(assumptions, width - 2), "assumptions") if assumptions else None,
            layout.paragraph(MORE_ASSUMPTIONS, "dim")]


def _label_width(est: ComputeEstimate) -> int:
    from mlcost.costs.compute import reference_results

    names = [f"{r['name']} {r['date'][:4]}" for r in reference_results() if r["group"] in ("headline", "recent")]
    return max([len(n) for n in names] + [len("► this run")])


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
        out.append(f"{f'{name} {year}'.strip().ljust(label_w)}  {bar} {format_number(value, 2)}")
    out.append(f"{''.ljust(label_w)}  ({width / span:.1f} characters = 10x)")
    return out


def render_markdown(est: ComputeEstimate) -> str:
    from mlcost.render import markdown as md

    lines = ["## Training compute", ""] + md.table(["quantity", "value"], [[k.strip(), v] for k, v in _rows(est)])
    lines += ["", "**Assumptions**", ""] + md.bullets(est.assumptions)
    return "\n".join(lines) + "\n"
