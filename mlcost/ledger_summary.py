"""Totals of a ledger: per run (the rows of all its nodes), and per command or git commit over runs.

A run is the rows sharing a ``run_id`` (a row without one, from a version-1 ledger, is its own run).
Rows named after a static torchrun endpoint (``torchrun@ADDR:PORT``) are split into the groups that
overlap in time: the nodes of one job run together, while a later job reusing the endpoint starts
after the last one ended.  Per run: nodes (distinct node names), processes (summed over nodes), energy,
CO2e and GPU-hours (summed), wall time (the longest node), measured / estimated, and flags for what
looks wrong (nodes that disagree on the command or commit, a node reported twice, a node without end).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from mlcost.errors import UsageError
from mlcost.ledger import NO_END
from mlcost.runinfo import STATIC_PREFIX, comparable_command

BY = ("command", "commit", "run")


def _num(value: Any) -> float:
    """A ledger cell: blank is 0; NaN, inf, the absurd, negatives (every summed column is a duration, an energy,
    a mass or a count) and non-numbers are refused (exit 2), never summed."""
    from mlcost.units import parse_number, require_positive

    if value in (None, ""):
        return 0.0
    return require_positive(parse_number(value, "ledger cell"), f"ledger cell {value!r}", allow_zero=True)


def _epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None


def _split_by_overlap(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Rows grouped into chains whose [start, start + duration] intervals overlap."""
    timed = sorted(rows, key=lambda r: _epoch(r.get("start_time", "")) or 0.0)
    groups: list[list[dict[str, str]]] = []
    end = None
    for r in timed:
        t0 = _epoch(r.get("start_time", ""))
        if groups and (t0 is None or end is None or t0 <= end + 1.0):  # start times are whole seconds
            groups[-1].append(r)
        else:
            groups.append([r])
            end = None
        if t0 is not None:
            end = max(end or t0, t0 + _num(r.get("duration_s")))
    return groups


def _run_total(rows: list[dict[str, str]]) -> dict[str, Any]:
    nodes: dict[str, int] = {}
    for r in rows:
        for n in (r.get("node") or r.get("host") or "?").split():
            nodes[n] = nodes.get(n, 0) + 1
    commands = {comparable_command(r.get("command", "")) for r in rows}
    commits = {r.get("git_commit", "") for r in rows}
    estimates = {r["estimate_energy_kwh"] for r in rows if r.get("estimate_energy_kwh")}
    energy = sum(_num(r.get("energy_kwh")) for r in rows)
    flags = []
    if len(commands) > 1:
        flags.append(f"nodes disagree on the command ({len(commands)} different)")
    if len(commits) > 1:
        flags.append(f"nodes disagree on the git commit ({', '.join(sorted(c[:12] or '(none)' for c in commits))})")
    twice = sorted(n for n, k in nodes.items() if k > 1)
    if twice:
        flags.append(f"node {', '.join(twice)} reported more than once (each track measures its whole machine)")
    failed = sum((r.get("exit_code") or "0") != "0" for r in rows)
    if failed:
        flags.append(f"{failed} node(s) ended with a non-zero exit code")
    no_end = sum(r.get("ended") == NO_END for r in rows)
    if no_end:
        flags.append(f"{no_end} node(s) with no end recorded (still running, or mlcost was killed)")
    unmeasured = sum(r.get("energy_kwh", "") == "" and r.get("ended") != NO_END for r in rows)
    if unmeasured:
        flags.append(f"{unmeasured} node(s) not measured (see the rows' measurement)")
    if len(estimates) > 1:
        flags.append(f"nodes disagree on the estimate ({', '.join(sorted(estimates))} kWh)")
    estimate = _num(next(iter(estimates))) if len(estimates) == 1 else None
    starts = [r.get("start_time", "") for r in rows if r.get("start_time")]
    return {
        "run": rows[0].get("run_id") or "(none)",
        "start": min(starts) if starts else "",
        "nodes": len(nodes),
        "processes": int(sum(_num(r.get("processes")) for r in rows)),
        "failed": failed,
        "wall_s": max(_num(r.get("duration_s")) for r in rows),
        "energy_kwh": energy,
        "co2e_kg": sum(_num(r.get("co2e_kg")) for r in rows),
        "gpu_hours": sum(_num(r.get("gpus")) * _num(r.get("duration_s")) / 3600 for r in rows),
        "estimate_energy_kwh": estimate,
        "measured_over_estimated": energy / estimate if estimate else None,
        "flags": flags,
        "command": sorted(commands)[0] if commands else "",
        "commit": sorted(commits)[0] if commits else "",
    }


def runs(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One total per run, in order of first appearance."""
    groups: dict[str, list[dict[str, str]]] = {}
    for i, r in enumerate(rows):
        key = r.get("run_id") or f"\0row{i}"
        groups.setdefault(key, []).append(r)
    out = []
    for key, members in groups.items():
        parts = _split_by_overlap(members) if key.startswith(STATIC_PREFIX) else [members]
        out += [_run_total(p) for p in parts]
    return out


def summarize(rows: list[dict[str, str]], by: str = "command") -> list[dict[str, Any]]:
    """BY run: `runs(rows)`.  BY command or commit: runs, failed runs, duration_s (summed wall times),
    energy_kwh, co2e_kg, and measured / estimated over the runs that carry an estimate; most CO2e first."""
    if by not in BY:
        raise UsageError(f"--by must be 'command', 'commit' or 'run', got {by!r}")
    totals = runs(rows)
    if by == "run":
        return totals
    groups: dict[str, dict[str, Any]] = {}
    for t in totals:
        name = t[by] or "(none)"
        g = groups.setdefault(name, {by: name, "runs": 0, "failed": 0, "duration_s": 0.0, "energy_kwh": 0.0,
                                     "co2e_kg": 0.0, "estimate_energy_kwh": None, "measured_over_estimated": None,
                                     "_measured": 0.0})
        g["runs"] += 1
        g["failed"] += t["failed"] > 0
        g["duration_s"] += t["wall_s"]
        g["energy_kwh"] += t["energy_kwh"]
        g["co2e_kg"] += t["co2e_kg"]
        if t["estimate_energy_kwh"]:
            g["estimate_energy_kwh"] = (g["estimate_energy_kwh"] or 0.0) + t["estimate_energy_kwh"]
            g["_measured"] += t["energy_kwh"]
            g["measured_over_estimated"] = g["_measured"] / g["estimate_energy_kwh"]
    for g in groups.values():
        del g["_measured"]
    return sorted(groups.values(), key=lambda g: -g["co2e_kg"])
