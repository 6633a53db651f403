"""Render a ledger summary (`mlcost track --summary LEDGER [--by command|commit|run]`): table, json, markdown.

Flags about a run (nodes that disagree, nodes without an end) are printed under the table, one per line,
so the table itself stays narrow.
"""
from __future__ import annotations

import textwrap
from typing import Any

from mlcost.render import layout, to_json

SUMMARY_SCHEMA = "mlcost.ledger-summary/1"


def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _cells(g: dict[str, Any], by: str, with_estimate: bool) -> tuple[str, ...]:
    if by == "run":
        cells = (str(g["run"]), str(g["nodes"]), str(g["processes"]), f"{g['wall_s']:.1f}", f"{g['energy_kwh']:.4g}",
                 f"{g['co2e_kg']:.4g}", f"{g['gpu_hours']:.3g}")
    else:
        cells = (str(g[by]).replace("\n", " "), str(g["runs"]), str(g["failed"]), f"{g['duration_s']:.1f}",
                 f"{g['energy_kwh']:.4g}", f"{g['co2e_kg']:.4g}")
    return cells + ((_ratio(g.get("measured_over_estimated")),) if with_estimate and by != "run" else ())


def render_summary(groups: list[dict[str, Any]], by: str, fmt: str) -> str:
    """GROUPS from ``mlcost.ledger_summary.summarize(rows, BY)`` in FMT (table | json | markdown)."""
    if fmt == "json":
        return to_json({"schema": SUMMARY_SCHEMA, "by": by, "groups": groups})
    with_estimate = any(g.get("estimate_energy_kwh") for g in groups)
    head = (("run", "nodes", "procs", "wall_s", "kWh", "kg CO2e", "GPU-h") if by == "run"
            else (by, "runs", "failed", "duration_s", "energy_kwh", "co2e_kg"))
    head += ("meas/est",) if with_estimate and by != "run" else ()
    body = [_cells(g, by, with_estimate) for g in groups]
    notes = []
    if by == "run":  # under the table, so that it stays narrow: the ratio in words, then the flags
        notes = [f"{g['run']}: measured / estimated {_ratio(g['measured_over_estimated'])} ({g['energy_kwh']:.4g} /"
                 f" {g['estimate_energy_kwh']:.4g} kWh)" for g in groups if g["estimate_energy_kwh"]]
        notes += [f"{g['run']}: {f}" for g in groups for f in g.get("flags", ())]
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                 *["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]]
        return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else [])) + "\n"
    widths = [max(len(r[c]) for r in [head, *body]) for c in range(len(head))]
    # the first column (a command line, a commit, a run id) wraps so the table fits the terminal's width
    room = layout.width() - sum(widths[1:]) - 2 * (len(widths) - 1)
    widths[0] = max(8, min(widths[0], room))
    lines = []
    for r in [head, *body]:
        label = textwrap.wrap(r[0], widths[0], break_long_words=True, break_on_hyphens=False) or [""]
        lines.append("  ".join(v.ljust(w) for v, w in zip((label[0], *r[1:]), widths)).rstrip())
        lines += [part for part in label[1:]]
    if with_estimate and by != "run":
        lines.append("meas/est: measured kWh / --estimate kWh at the machine (before PUE)")
    notes = [textwrap.fill(n, 80, subsequent_indent="  ", break_on_hyphens=False) for n in notes]
    return "\n".join(lines + notes) + "\n"
