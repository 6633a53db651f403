"""The log-scale trend of "AI and Compute" results over time, with the user's run marked (matplotlib, Agg).

y: training compute in petaflop/s-days (log axis); x: publication date.  Needs the ``plot`` extra.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

from mlcost.errors import UsageError, import_optional
from mlcost.results import ComputeEstimate


def _year(date: str) -> float:
    """'2014-09' -> 2014.67 (mid-month)."""
    year, _, month = date.partition("-")
    return int(year) + ((int(month) if month else 6) - 0.5) / 12


def doubling_months(points: list[tuple[float, float]]) -> float | None:
    """Least-squares doubling time (months) of log2(pfs-days) against year; None for < 2 points."""
    if len(points) < 2:
        return None
    xs = [x for x, _ in points]
    ys = [math.log2(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0
    return 12 / slope if slope > 0 else None


def plot_trend(est: ComputeEstimate, path: Path, *, run_date: _dt.date | None = None, label: str | None = None) -> Path:
    """Write PATH (.png or .svg): reference results as named points, this run as a red star."""
    from mlcost.costs.compute import reference_results
    from mlcost.render import write_atomic

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise UsageError(f"--plot: {path} must end in .png or .svg")
    matplotlib = import_optional("matplotlib", "plot", "--plot")
    matplotlib.use("Agg", force=True)
    plt = import_optional("matplotlib.pyplot", "plot", "--plot")
    import io

    rows = reference_results()
    head = [(_year(r["date"]), r["pfs_days"], r["name"]) for r in rows if r["group"] == "headline"]
    modest = [(_year(r["date"]), r["pfs_days"], r["name"]) for r in rows if r["group"] != "headline"]
    run_date = run_date or _dt.date.today()
    run_x = run_date.year + (run_date.month - 0.5) / 12
    run_label = label or f"this run ({est.model or est.method})"

    fig, ax = plt.subplots(figsize=(11, 6.5), dpi=110)
    ax.set_yscale("log")
    ax.scatter([p[0] for p in head], [p[1] for p in head], s=36, color="#1f5fa8", zorder=3,
               label="AI and Compute headline results")
    ax.scatter([p[0] for p in modest], [p[1] for p in modest], s=22, color="#9a9a9a", marker="s", zorder=3,
               label="modest-compute results (some are upper bounds)")
    for (x, y, name), (dx, dy, ha) in zip(sorted(head + modest), _label_offsets(sorted(head + modest))):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=8, color="#333333")
    months = doubling_months([(x, y) for x, y, _ in head])
    if months is not None:
        xs = [min(p[0] for p in head), max(p[0] for p in head)]  # no extrapolation past the data
        ys_fit = _fit_line([(x, y) for x, y, _ in head], xs)
        ax.plot(xs, ys_fit, linestyle="--", color="#1f5fa8", alpha=0.45, linewidth=1,
                label=f"least-squares fit to these points: doubling every {months:.1f} months")
    ax.scatter([run_x], [est.pfs_days], s=260, marker="*", color="#d62728", edgecolor="black", zorder=5, label=run_label)
    ax.annotate(f"{run_label}\n{est.pfs_days:.3g} pfs-days", (run_x, est.pfs_days), textcoords="offset points",
                xytext=(-10, 12), ha="right", fontsize=9, fontweight="bold", color="#d62728")
    ax.set_xlabel("publication date (year)")
    ax.set_ylabel("training compute (petaflop/s-days, log scale)")
    ax.set_title('Training compute on the trend of OpenAI\'s "AI and Compute" (2018)')
    ax.grid(True, which="major", axis="both", alpha=0.3)
    lo = min([p[1] for p in head + modest] + [est.pfs_days])
    hi = max([p[1] for p in head + modest] + [est.pfs_days])
    ax.set_ylim(10 ** math.floor(math.log10(lo)), 10 ** (math.ceil(math.log10(hi)) + 0.5))
    ax.set_xlim(min(p[0] for p in head + modest) - 0.5, max(run_x, max(p[0] for p in head)) + 0.8)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.text(0.99, 0.01, "sources: reference_data/ai_and_compute.csv (AI and Compute appendix); 1 pfs-day = 8.64e19 FLOPs",
             ha="right", fontsize=7, color="#666666")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
    return path


def _fit_line(points: list[tuple[float, float]], xs: list[float]) -> list[float]:
    px = [x for x, _ in points]
    py = [math.log10(y) for _, y in points]
    mx, my = sum(px) / len(px), sum(py) / len(py)
    slope = sum((x - mx) * (y - my) for x, y in zip(px, py)) / sum((x - mx) ** 2 for x in px)
    return [10 ** (my + slope * (x - mx)) for x in xs]


def _label_offsets(points: list[tuple[float, float, str]]) -> list[tuple[int, int, str]]:
    """Pick, per point, a label position (offset points, alignment) whose rough box overlaps no earlier label.

    Boxes are estimated in (years, log10 pfs-days): ~0.075 year per character, 0.3 decades tall.
    """
    candidates = [(6, 4, "left"), (6, -12, "left"), (-6, 4, "right"), (-6, -12, "right")]
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for x, y, name in points:
        ly, width = math.log10(y), 0.075 * len(name)
        choice = candidates[0]
        for dx, dy, ha in candidates:
            x0 = x + 0.05 if ha == "left" else x - 0.05 - width
            y0 = ly + (0.02 if dy > 0 else -0.28)
            box = (x0, x0 + width, y0, y0 + 0.26)
            if not any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in placed):
                choice = (dx, dy, ha)
                break
        dx, dy, ha = choice
        x0 = x + 0.05 if ha == "left" else x - 0.05 - width
        y0 = ly + (0.02 if dy > 0 else -0.28)
        placed.append((x0, x0 + width, y0, y0 + 0.26))
        out.append(choice)
    return out
