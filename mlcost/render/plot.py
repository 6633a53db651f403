"""The log-scale trend of "AI and Compute" results over time, with the user's run marked (matplotlib, Agg).

y: training compute in petaflop/s-days (log axis); x: publication date.  Needs the ``plot`` extra.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any, Callable

from mlcost.errors import UsageError, import_optional
from mlcost.results import ComputeEstimate


_METHOD_LABELS = {"counting": "counting", "params_tokens": "6·N·D", "hardware_time": "hardware x time"}


def plot_trend(est: ComputeEstimate, path: Path, *, run_date: _dt.date | None = None, label: str | None = None,
               force: bool = False) -> Path:
    """Write PATH (.png or .svg): reference results as named points, this run as a red star.  The file
    carries mlcost's marker (a PNG text chunk, an SVG comment); another file is replaced only with FORCE."""
    return save_plot(path, lambda: trend_figure(est, run_date=run_date, label=label), force=force)


def save_plot(path: Path, make_figure: Callable[[], Any], *, force: bool = False) -> Path:
    """Write the Figure MAKE_FIGURE() builds to PATH (.png or .svg) through ``mlcost.safeio.write_output``.
    PATH is checked before matplotlib is imported; another file is replaced only with FORCE."""
    import io

    from mlcost.safeio import check_output, write_output

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise UsageError(f"--plot: {path} must end in .png or .svg")
    check_output(path, force=force, option="--plot")  # refuse before matplotlib is even imported
    buf = io.BytesIO()
    make_figure().savefig(buf, format=fmt)
    write_output(path, buf.getvalue(), force=force, option="--plot")
    return path


def new_figure(figsize: tuple[float, float], dpi: int):
    """A matplotlib Figure on its own Agg canvas.  No pyplot and no ``matplotlib.use``: the caller's backend
    and pyplot's figure list stay as they were (a notebook keeps its inline backend)."""
    import_optional("matplotlib", "plot", "--plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def trend_figure(est: ComputeEstimate, *, run_date: _dt.date | None = None, label: str | None = None):
    """The matplotlib Figure plot_trend saves; its run marker and label carry gid 'run' and 'run-label'."""
    from mlcost.costs.compute import reference_results, trend_lines
    from mlcost.costs.compute import year_of as _year

    rows = reference_results()
    head = [(_year(r["date"]), r["pfs_days"], r["name"]) for r in rows if r["group"] == "headline"]
    recent = [(_year(r["date"]), r["pfs_days"], r["name"]) for r in rows if r["group"] == "recent"]
    modest = [(_year(r["date"]), r["pfs_days"], r["name"]) for r in rows if r["group"] == "modest"]
    run_date = run_date or _dt.date.today()
    run_x = run_date.year + (run_date.month - 0.5) / 12
    run_label = label or f"this run ({est.model or _METHOD_LABELS.get(est.method, est.method)})"

    fig = new_figure((11, 6.5), 110)
    ax = fig.subplots()
    ax.set_yscale("log")
    ax.scatter([p[0] for p in head], [p[1] for p in head], s=36, color="#1f5fa8", zorder=3,
               label="AI and Compute headline results (2012-2018)")
    ax.scatter([p[0] for p in recent], [p[1] for p in recent], s=36, color="#2e8b57", marker="D", zorder=3,
               label="notable runs since 2019 (published FLOPs)")
    ax.scatter([p[0] for p in modest], [p[1] for p in modest], s=22, color="#9a9a9a", marker="s", zorder=3,
               label="modest-compute results (some are upper bounds)")
    colours = {"2012-2018": "#1f5fa8", "since 2019": "#2e8b57"}
    for key, t in trend_lines().items():  # each trend over its own years: no extrapolation past the data
        xs = list(t["span"])
        ax.plot(xs, [2 ** (t["intercept"] + t["slope_per_year"] * x) for x in xs], linestyle="--",
                color=colours.get(key, "#555555"), alpha=0.55, linewidth=1.2,
                label=f"{key} trend: doubling every {t['doubling_months']:.1f} months")
    ax.scatter([run_x], [est.pfs_days], s=260, marker="*", color="#d62728", edgecolor="black", zorder=5, label=run_label,
               gid="run")
    # Left of the star, vertically centred: the years between the last reference result and today are empty,
    # and a label above or below would leave the axes when the run is the largest or smallest point.
    run_text = ax.annotate(f"{run_label}\n{est.pfs_days:.3g} pfs-days", (run_x, est.pfs_days), textcoords="offset points",
                xytext=(-14, 0), ha="right", va="center", fontsize=9, fontweight="bold", color="#d62728",
                gid="run-label")
    ax.set_xlabel("publication date (year)")
    ax.set_ylabel("training compute (petaflop/s-days, log scale)")
    ax.set_title('Training compute: OpenAI\'s "AI and Compute" (2018) trend and runs since 2019')
    ax.grid(True, which="major", axis="both", alpha=0.3)
    lo = min([p[1] for p in head + recent + modest] + [est.pfs_days])
    hi = max([p[1] for p in head + recent + modest] + [est.pfs_days])
    pad = max(0.5, 0.06 * (math.log10(hi) - math.log10(lo)))  # decades of headroom for the run's label
    ax.set_ylim(10 ** math.floor(math.log10(lo) - pad), 10 ** math.ceil(math.log10(hi) + pad))
    ax.set_xlim(min(p[0] for p in head + modest) - 0.5, max(run_x, max(p[0] for p in head + recent)) + 0.8)
    # Below the axes, not inside: inside it covered the run's star whenever the run was the smallest point.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=8, frameon=False)
    fig.text(0.99, 0.01, "sources: reference_data/ai_and_compute.csv (AI and Compute appendix and chart; papers since "
             "2019); 1 pfs-day = 8.64e19 FLOPs",
             ha="right", fontsize=7, color="#666666")
    fig.tight_layout()
    _place_labels(ax, sorted(head + recent + modest), obstacles=[run_text, ax.get_legend()])
    return fig


def _place_labels(ax, points: list[tuple[float, float, str]], obstacles=()) -> None:
    """Name each point at the first of four positions around it whose drawn box stays inside the axes and
    overlaps no earlier label, no marker and no obstacle (the run's label, the legend).  Measured with the
    figure's renderer after layout, so it holds at any y-span (a tiny run stretches the axis over 20 decades).
    A point with a close neighbour above (VGG over Seq2Seq) is named below it first, and vice versa."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    up, down = [(6, 4, "left"), (-6, 4, "right")], [(6, -12, "left"), (-6, -12, "right")]
    far = [(8, 14, "left"), (-8, 14, "right"), (8, -22, "left"), (-8, -22, "right"), (10, -5, "left"), (-10, -5, "right")]
    where = [tuple(ax.transData.transform((x, y))) for x, y, _ in points]
    busy = [o.get_window_extent(renderer) for o in obstacles if o is not None]
    busy += [Bbox.from_extents(px - 5, py - 5, px + 5, py + 5) for px, py in where]  # the markers
    for (x, y, name), (px, py) in zip(points, where):
        near = [qy - py for qx, qy in where if (qx, qy) != (px, py) and abs(qx - px) < 30 and abs(qy - py) < 30]
        candidates = down + up if near and min(near, key=abs) > 0 else up + down
        candidates = candidates + far  # a second ring, further out, for crowded corners
        choice = None
        for dx, dy, ha in candidates:
            text = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=8,
                               color="#333333")
            box = text.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(b) for b in busy):
                choice = (text, box)
                break
            text.remove()
        if choice is None:  # crowded: the first position that stays inside the axes (else the first)
            for i, (dx, dy, ha) in enumerate(candidates):
                text = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=8,
                                   color="#333333")
                box = text.get_window_extent(renderer)
                if frame.x0 <= box.x0 and box.x1 <= frame.x1 or i == len(candidates) - 1:
                    break
                text.remove()
            choice = (text, box)
        busy.append(choice[1])
