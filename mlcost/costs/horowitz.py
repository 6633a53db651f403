"""Energy of one forward (or training step) from first principles: Horowitz's 45 nm energy per operation.

``--energy-model horowitz`` splits a profile's energy into arithmetic and data movement, operator call
by operator call (reference_data/horowitz2014.csv: Horowitz, ISSCC 2014, Fig. 1.1.9, 45 nm, 0.9 V)::

    arithmetic = MACs x (mult + add) + other FLOPs x add          at the call's dtype (bits)
    dram       = bytes moved x DRAM energy per byte              (1.3-2.6 nJ per 64-bit access: 162.5-325 pJ/B)
    sram       = bytes moved x 1 MB-cache energy per byte        (100 pJ per 64-bit access: 12.5 pJ/B),
                 each byte staged once through the on-chip buffer

Bytes are the roofline's (counting.bytes: no reuse across operators, so DRAM is an upper bound);
the arithmetic has no operand fetch beyond that.  16-bit floats (float16 and bfloat16) use the FP16
figures, 8-bit types the 8-bit integer ones, 64-bit floats the FP32 ones (the figure gives no others:
stated when used).  A 45 nm chip is not today's: use it for the split, not for absolute joules on a
5 nm GPU (Sze et al., Proc. IEEE 2017, make the same point with this table).

Units: joules (pJ in the table), bytes, FLOPs (1 MAC = 2 FLOPs).
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

from mlcost.counting.bytes import Call, dtype_bits

SOURCE = ("Horowitz, 'Computing's Energy Problem (and what we can do about it)', ISSCC 2014, Fig. 1.1.9 "
          "(45 nm, 0.9 V): reference_data/horowitz2014.csv")
MODELS = ("horowitz",)


@functools.cache
def table() -> dict[tuple[str, int], float]:
    """(operation, bits) -> picojoules, from reference_data/horowitz2014.csv."""
    from mlcost.refdata import read_csv

    return {(r["operation"], int(r["bits"])): float(r["energy_pj"]) for r in read_csv("horowitz2014")}


def _arith(dtype: str, notes: set[str]) -> tuple[float, float]:
    """(pJ per MAC, pJ per other FLOP) for DTYPE."""
    t = table()
    bits = dtype_bits(dtype)
    if dtype.startswith(("float", "bfloat", "half", "double")):
        if bits == 16:
            if dtype == "bfloat16":
                notes.add("bfloat16 arithmetic at the FP16 figures (the table gives no bfloat16)")
            return t[("fp_mult", 16)] + t[("fp_add", 16)], t[("fp_add", 16)]
        if bits <= 8:
            notes.add(f"{dtype} arithmetic at the 8-bit integer figures (the table gives no 8-bit float)")
            return t[("int_mult", 8)] + t[("int_add", 8)], t[("int_add", 8)]
        if bits > 32:
            notes.add(f"{dtype} arithmetic at the FP32 figures (the table gives no 64-bit float)")
        return t[("fp_mult", 32)] + t[("fp_add", 32)], t[("fp_add", 32)]
    if bits <= 8:
        return t[("int_mult", 8)] + t[("int_add", 8)], t[("int_add", 8)]
    return t[("int_mult", 32)] + t[("int_add", 32)], t[("int_add", 32)]


def estimate(calls: Iterable[Call]) -> dict[str, Any]:
    """The ``energy_model`` object: joules by arithmetic / SRAM / DRAM (point and DRAM range), shares, per phase."""
    t = table()
    dram_lo, dram_hi = t[("dram_low", 64)] / 8, t[("dram_high", 64)] / 8  # pJ per byte
    dram_mid = (dram_lo + dram_hi) / 2
    sram = t[("cache_1mb", 64)] / 8
    notes: set[str] = set()
    arith = nbytes = 0.0
    phases: dict[str, dict[str, float]] = {}
    for c in calls:
        per_mac, per_flop = _arith(c.dtype, notes)
        a = c.macs * per_mac + (c.flops - 2 * c.macs) * per_flop
        arith += a
        nbytes += c.bytes
        p = phases.setdefault(c.phase, {"arithmetic_j": 0.0, "bytes": 0})
        p["arithmetic_j"] += a * 1e-12
        p["bytes"] += c.bytes
    parts = {"arithmetic_j": arith * 1e-12, "sram_j": nbytes * sram * 1e-12, "dram_j": nbytes * dram_mid * 1e-12}
    total = sum(parts.values())
    for p in phases.values():
        p["total_j"] = p["arithmetic_j"] + p["bytes"] * (sram + dram_mid) * 1e-12
    return {
        "model": "horowitz", "source": SOURCE, **parts, "total_j": total,
        "total_range_j": [parts["arithmetic_j"] + parts["sram_j"] + nbytes * dram_lo * 1e-12,
                          parts["arithmetic_j"] + parts["sram_j"] + nbytes * dram_hi * 1e-12],
        "arithmetic_share": parts["arithmetic_j"] / total if total else 0.0,
        "data_movement_share": (parts["sram_j"] + parts["dram_j"]) / total if total else 0.0,
        "bytes": int(nbytes), "phases": phases,
        "pj_per_byte": {"dram": dram_mid, "dram_range": [dram_lo, dram_hi], "sram_1mb": sram},
        "notes": sorted(notes),
    }


def with_energy_model(profile: Any, model: str) -> Any:
    """PROFILE with its ``energy_model`` object (MODEL must be one of MODELS) and the note that goes with it."""
    from dataclasses import replace

    from mlcost.errors import UsageError

    if model not in MODELS:
        raise UsageError(f"unknown --energy-model {model!r}; choose one of {', '.join(MODELS)}")
    if not profile.calls:
        note = (f"--energy-model {model}: no estimate, because this {profile.format} profile has no operator graph "
                "(only tensors were read)")
        return replace(profile, assumptions=(*profile.assumptions, note))
    est = estimate(profile.calls)
    note = (f"energy model horowitz: {SOURCE}; arithmetic at the call's dtype, every byte moved once from DRAM "
            "(no reuse across operators) and once through a 1 MB on-chip cache; 45 nm figures: the split, not "
            "the joules, carries over to today's chips")
    return replace(profile, energy_model=est, assumptions=(*profile.assumptions, note, *est["notes"]))
