"""The roofline part of a profile in words: a summary line, the per-module and per-operator time floors.

Input is a profile's ``roofline`` dict (costs.roofline.analyse); seconds, bytes and FLOPs as there.
"""
from __future__ import annotations

from typing import Any

from mlcost.units import format_bytes, format_share, format_si

TOP_OPERATORS = 8


def format_small(value: float | None, unit: str) -> str:
    """Values below 1000 with sub-unit prefixes: (1.2e-5, 's') -> '12 µs', (2.5, 'J') -> '2.5 J'."""
    if value is None:
        return "—"
    for prefix, scale in (("k", 1e3), ("", 1.0), ("m", 1e-3), ("µ", 1e-6), ("n", 1e-9)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value / 1e-12:.3g} p{unit}"


def format_seconds(seconds: float | None) -> str:
    """1.2e-5 -> '12 µs', 0.0034 -> '3.4 ms', 2.5 -> '2.5 s'."""
    if seconds is not None and abs(seconds) >= 1000:
        return f"{seconds:.4g} s"
    return format_small(seconds, "s")


def _intensity(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def summary(roof: dict[str, Any]) -> list[tuple[str, str]]:
    """Summary rows: the chip, the floor with its bound shares, the traffic and intensity vs the ridge."""
    chip = roof["chip"]
    peaks = ", ".join(f"{p} {v / 1e12:g} TFLOP/s" for p, v in chip["peak_flops_per_s"].items()) or "—"
    rows = [
        ("chip", f"{chip['name']}: {peaks}, {chip['bandwidth_bytes_per_s'] / 1e9:g} GB/s"),
        ("ridge point", f"{chip['ridge_flops_per_byte']:.3g} FLOP/B (above: compute-bound)"),
        ("time floor", f"{format_seconds(roof['seconds_floor'])} "
                       f"({100 * roof['memory_bound_share']:.0f}% memory-bound, "
                       f"{100 * roof['compute_bound_share']:.0f}% compute-bound)"),
        ("bytes moved", f"{format_bytes(roof['bytes'])}, intensity {_intensity(roof['intensity'])} FLOP/B"),
    ]
    phases = roof.get("phases") or {}
    if "backward" in phases:
        rows.append(("step floor", f"forward {format_seconds(phases.get('forward', {}).get('seconds_floor', 0.0))}"
                                   f" + backward {format_seconds(phases['backward']['seconds_floor'])}"))
    return rows


def energy_row(em: dict[str, Any]) -> tuple[str, str]:
    """The --energy-model summary row: joules and the arithmetic / data-movement split."""
    lo, hi = em["total_range_j"]
    return ("energy (45 nm)", f"{format_small(em['total_j'], 'J')} ({format_small(lo, 'J')}–{format_small(hi, 'J')}): "
                              f"{100 * em['arithmetic_share']:.0f}% arithmetic, "
                              f"{100 * em['data_movement_share']:.0f}% data movement")


def _fold(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """(row, label) in execution order; a run of numbered siblings with equal FLOPs and bytes (layers.0 …
    layers.31 of one block) folds into one entry 'layers.0–31 ×32' with one block's figures, its descendants once."""
    out: list[tuple[dict[str, Any], str]] = []
    skip: set[str] = set()
    i = 0
    while i < len(rows):
        r = rows[i]
        if r["module"] in skip or any(r["module"].startswith(p + ".") for p in skip):
            i += 1
            continue
        head, _, last = r["module"].rpartition(".")
        j, n = i + 1, 1
        while last.isdigit() and j < len(rows):
            m = rows[j]
            if any(m["module"].startswith(p + ".") for p in (r["module"], *skip)) or m["module"].startswith(
                    r["module"] + "."):
                j += 1
                continue
            h2, _, l2 = m["module"].rpartition(".")
            if h2 == head and l2 == str(int(last) + n) and (m["flops"], m["bytes"]) == (r["flops"], r["bytes"]):
                skip.add(m["module"])
                n += 1
                j += 1
                continue
            break
        name = r["module"] if r["depth"] <= 1 else "." + last  # deeper rows: the tail, under their parent
        out.append((r, f"{name}–{int(last) + n - 1} ×{n}" if n > 1 else (name or "(root)")))
        i += 1
    return out


def module_rows(roof: dict[str, Any], depth: int) -> list[list[str]]:
    """[module, FLOPs, bytes, FLOP/B, floor, share, bound] for modules up to DEPTH, in execution order
    (identical numbered blocks folded into one row, their figures each block's)."""
    rows = [m for m in roof["by_module"] if m["depth"] <= depth]
    return [["  " * m["depth"] + label, format_si(m["flops"]), format_bytes(m["bytes"]),
             _intensity(m["intensity"]), format_seconds(m["seconds_floor"]), format_share(m['share']), m["bound"]]
            for m, label in _fold(rows)]


def operator_rows(roof: dict[str, Any], top: int = TOP_OPERATORS) -> list[list[str]]:
    """[operator, calls, FLOP/B, floor, share, bound] for the TOP operators by time floor."""
    return [[o["op"], f"{o['calls']:,}", _intensity(o["intensity"]), format_seconds(o["seconds_floor"]),
             format_share(o['share']), o["bound"]] for o in roof["by_operator"][:top]]


MODULE_HEADER = ["module", "FLOPs", "bytes", "FLOP/B", "floor", "share", "bound"]
OPERATOR_HEADER = ["operator", "calls", "FLOP/B", "floor", "share", "bound"]


def tables(roof: dict[str, Any], depth: int, width: int) -> list:
    """The roofline tables of the terminal view, measured to WIDTH (mlcost.render.layout)."""
    from mlcost.render.layout import Column, num, table, titled

    def cols(header: list[str]) -> list:
        # names wrap; the bound class and FLOP/B go first when the table cannot fit
        prio = {"FLOP/B": 2, "bytes": 3, "calls": 3, "share": 1}
        return [Column(h, wrap=True) if h in ("module", "operator") else
                Column(h, priority=2) if h == "bound" else num(h, prio.get(h, 0)) for h in header]

    mods = table(cols(MODULE_HEADER), module_rows(roof, depth), width=width,
                 title=f"roofline on {roof['chip']['name']}, per module (depth ≤ {depth})")
    ops = table(cols(OPERATOR_HEADER), operator_rows(roof), width=width,
                title="roofline per operator (top by time floor)")
    return [titled(None, mods, "floor = max(FLOPs/peak, bytes/bandwidth), summed over calls; ×N: N identical "
                               "blocks, figures per block"), ops]


def markdown(roof: dict[str, Any], depth: int, table) -> list[str]:
    """Markdown sections; TABLE is the profile renderer's (header, rows) -> lines helper."""
    lines = ["", f"### Roofline on {roof['chip']['name']}", ""]
    lines += [f"- **{k}**: {v}" for k, v in summary(roof)]
    lines += ["", "Per module:", ""] + table(MODULE_HEADER, module_rows(roof, depth))
    lines += ["", "Per operator (top by time floor):", ""] + table(OPERATOR_HEADER, operator_rows(roof))
    return lines
