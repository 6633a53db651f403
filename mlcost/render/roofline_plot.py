"""The chip's roofline with the model's operators on it (matplotlib, Agg; the ``plot`` extra).

x: arithmetic intensity (FLOPs per byte, log); y: attainable FLOP/s (log).  The roofs are
bandwidth x intensity up to each peak.  Each operator (a profile's ``roofline.by_operator`` row) is a
point at its intensity and at the FLOP/s its floor implies (FLOPs / seconds_floor), sized by its share
of the model's time floor; operators that move data but compute nothing sit on the left edge.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


LABELLED = 8  # name the operators holding the most time


def plot_roofline(roof: dict[str, Any], path: Path, *, title: str = "", force: bool = False) -> Path:
    """Write PATH (.png or .svg) through ``mlcost.safeio.write_output`` (another file is replaced only with FORCE)."""
    from mlcost.render.plot import save_plot

    return save_plot(path, lambda: roofline_figure(roof, title=title), force=force)


def roofline_figure(roof: dict[str, Any], *, title: str = ""):
    """The Figure plot_roofline saves; operator points carry gid 'op:NAME'."""
    from mlcost.render.plot import _place_labels, new_figure
    from mlcost.render.roofline import format_seconds

    chip = roof["chip"]
    bw = chip["bandwidth_bytes_per_s"]
    peaks = dict(chip["peak_flops_per_s"])
    if chip["vector_peak_flops_per_s"] not in peaks.values():  # non-MAC FLOPs' roof, where it differs
        peaks["fp32 vector"] = chip["vector_peak_flops_per_s"]
    ops = [o for o in roof["by_operator"] if o["seconds_floor"] > 0]
    xs = [o["intensity"] for o in ops if o["intensity"]]
    top = max(peaks.values())
    lo_x = min([0.01, *(x / 3 for x in xs)])
    hi_x = max([10 * top / bw, *(x * 10 for x in xs)])
    edge = lo_x * 1.5  # where operators with 0 FLOPs are drawn

    fig = new_figure((10, 6.5), 110)
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    colors = ["#1f5fa8", "#2c8c3c", "#8c5a2c", "#7a3b9a"]
    for (name, peak), color in zip(sorted(peaks.items(), key=lambda kv: -kv[1]), colors):
        ridge = peak / bw
        ax.plot([lo_x, ridge, hi_x], [bw * lo_x, peak, peak], color=color, linewidth=1.6,
                label=f"{name} roof: {peak / 1e12:g} TFLOP/s (ridge {ridge:.3g} FLOP/B)")
    biggest = max((o["share"] for o in ops), default=1.0) or 1.0
    for o in ops:
        x = o["intensity"] or edge
        y = o["flops"] / o["seconds_floor"] if o["flops"] else bw * edge
        size = 30 + 1200 * o["share"] / biggest
        ax.scatter([x], [y], s=size, alpha=0.55, color="#d62728" if o["bound"] == "memory" else "#ff9f1c",
                   edgecolor="black", linewidth=0.5, zorder=3, gid=f"op:{o['op']}")
    labels = []
    for o in sorted(ops, key=lambda o: -o["share"])[:LABELLED]:
        x = o["intensity"] or edge
        y = o["flops"] / o["seconds_floor"] if o["flops"] else bw * edge
        labels.append((x, y, f"{o['op'].removeprefix('aten::')} {100 * o['share']:.0f}%"))
    ax.scatter([], [], s=80, color="#d62728", alpha=0.55, edgecolor="black", label="memory-bound operator")
    ax.scatter([], [], s=80, color="#ff9f1c", alpha=0.55, edgecolor="black", label="compute-bound operator")
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(bw * lo_x / 2, top * 3)
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved, log scale)")
    ax.set_ylabel("attainable FLOP/s (log scale)")
    what = f"{title}: " if title else ""
    ax.set_title(f"{what}roofline on {chip['name']}, time floor {format_seconds(roof['seconds_floor'])} "
                 f"({100 * roof['memory_bound_share']:.0f}% memory-bound)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=8, frameon=False)
    fig.text(0.99, 0.01, "point area: share of the time floor; operators with 0 FLOPs (copies) on the left edge; "
             "peaks and bandwidth: reference_data/hardware.csv", ha="right", fontsize=7, color="#666666")
    fig.tight_layout()
    _place_labels(ax, sorted(labels), obstacles=[ax.get_legend()])  # no label over another, a marker or the legend
    return fig
