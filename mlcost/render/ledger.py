"""Render a ledger summary (`mlcost track --summary LEDGER [--by command|commit|run]`): table, json, markdown.

Flags about a run (nodes that disagree, nodes without an end) are printed under the table, one per line,
so the table itself stays narrow.
"""
from __future__ import annotations

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


def render_summary(groups: list[dict[str, Any]], by: str, fmt: str, width: int | None = None) -> str:
    """GROUPS from ``mlcost.ledger_summary.summarize(rows, BY)`` in FMT (table | json | markdown); the table is
    WIDTH columns wide at most (default: the terminal's)."""
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
    # one table helper for every terminal table (layout.table): numbers never wrap; a narrow terminal drops the
    # columns of highest number first (named in the caption).  A run id is kept whole (up to 36 characters, a
    # UUID's); a command line or commit wraps.
    w = width or layout.width()
    if not groups:  # a header and no rule under it read as a table whose rows went missing
        return layout.render_text([layout.paragraph("no runs in this ledger yet")], w, gap=False).rstrip("\n") + "\n"
    # a run that failed is never only in a dropped column: --by run flags it under the table; by command or commit
    # 'failed' stays while any group has one
    failed = any(g.get("failed") for g in groups)
    drop = {"procs": 3, "GPU-h": 2, "wall_s": 1} if by == "run" else {"duration_s": 1, **({} if failed else {"failed": 2})}
    first = layout.Column(head[0], wrap=True, min_width=36 if by == "run" else None)
    columns = [first, *(layout.num(h, drop.get(h, 0)) for h in head[1:])]
    if layout.fits(columns, body, w):
        parts = [layout.table(columns, body, width=w)]
    else:  # not even the first column beside the kept figures: each group is its name, then its figures
        parts = [layout.notes([", ".join(f"{h} {v}" for h, v in zip(head[1:], r[1:]))], r[0], bullet="  ")
                 for r in body]
    if with_estimate and by != "run":
        parts.append(layout.paragraph("meas/est: measured kWh / --estimate kWh at the machine (before PUE)"))
    parts += [layout.paragraph(n) for n in notes]
    return layout.render_text(parts, w, gap=False).rstrip("\n") + "\n"
