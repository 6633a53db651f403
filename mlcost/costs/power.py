"""Average power of a training job per accelerator, in watts: the accelerator and its share of the host.

Accelerator: a fraction of its TDP from reference_data/power.csv (measured system power per
accelerator where a paper published it; else mlcost's stated assumption), central with low/high.
Host (CPU share + DRAM) per accelerator, added only where the measured figure does not already
include it: one reference 8-GPU server (NVIDIA DGX A100 datasheet: 2 AMD EPYC 7742 CPUs, 225 W TDP
each; 1 TB of system memory) divided by its 8 accelerators, so one GPU carries 1/8 of a host.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from mlcost.refdata import _key, read_csv

# Reference host: NVIDIA DGX A100 datasheet (2 x AMD EPYC 7742, 225 W TDP each per AMD's spec; 1 TB RAM; 8 GPUs).
HOST_ACCELERATORS = 8
HOST_CPU_TDP_W = 2 * 225.0
HOST_RAM_GB = 1024.0
#: codecarbon's CONSUMPTION_PERCENTAGE_CONSTANT (codecarbon/external/hardware.py): "ratio of TDP estimated to be
#: consumed on average" by a CPU.
CPU_AVERAGE_OF_TDP = 0.5
#: Green Algorithms (Lannelongue, Grealey & Inouye 2021, Advanced Science 8:2100707): 0.3725 W per GB of memory.
GREEN_ALGORITHMS_W_PER_GB = 0.3725
#: codecarbon 3.x RAM model (codecarbon/external/ram.py): 5 W per x86 DIMM, the DIMM count estimated from the size,
#: each DIMM past the 4th counted at 90% (past the 8th at 80%).  1 TB -> 8 DIMMs of 128 GB -> 4 x 5 + 4 x 0.9 x 5 W.
CODECARBON3_RAM_W_1TB = 4 * 5 + 4 * 0.9 * 5  # = 38 W


@dataclass(frozen=True)
class Span:
    """A quantity's low / central / high and where it comes from."""

    low: float
    central: float
    high: float
    source: str

    def scaled(self, k: float) -> "Span":
        return Span(self.low * k, self.central * k, self.high * k, self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "central": self.central, "high": self.high, "source": self.source}


@dataclass(frozen=True)
class PowerRow:
    accelerator: str  # hardware.csv name, or "*" (the assumption for every other accelerator)
    fraction: Span
    includes_host: bool
    basis: str  # "measured" | "assumption"


@functools.cache
def _rows() -> dict[str, PowerRow]:
    out = {}
    for r in read_csv("power"):
        out[r["accelerator"]] = PowerRow(
            r["accelerator"],
            Span(float(r["fraction_low"]), float(r["fraction_central"]), float(r["fraction_high"]), r["source"]),
            r["includes_host"].strip().lower() == "yes", r["basis"])
    return out


def power_row(acc) -> PowerRow:
    """The power.csv row of accelerator ``acc`` (a refdata.Accelerator), else the '*' assumption row."""
    rows = _rows()
    return rows.get(acc.name) or next((r for n, r in rows.items() if n != "*" and _key(n) == _key(acc.name)), rows["*"])


def host_per_accelerator() -> Span:
    """CPU share + DRAM of the reference host per accelerator, watts (DRAM: codecarbon 3.x .. Green Algorithms)."""
    cpu = HOST_CPU_TDP_W * CPU_AVERAGE_OF_TDP
    ram_lo, ram_hi = CODECARBON3_RAM_W_1TB, HOST_RAM_GB * GREEN_ALGORITHMS_W_PER_GB
    ram_mid = (ram_lo + ram_hi) / 2
    n = HOST_ACCELERATORS
    src = (f"1/{n} of a DGX A100-class host (NVIDIA DGX A100 datasheet: 2 x 225 W TDP CPUs, 1 TB RAM, {n} GPUs): "
           f"CPUs at {CPU_AVERAGE_OF_TDP:g} of TDP (codecarbon's average-consumption constant) = {cpu:g} W; "
           f"DRAM {ram_lo:g} W (codecarbon 3.x: 5 W per DIMM) to {ram_hi:g} W (Green Algorithms, Lannelongue et al. "
           f"2021: 0.3725 W/GB), central the midpoint {ram_mid:g} W")
    return Span((cpu + ram_lo) / n, (cpu + ram_mid) / n, (cpu + ram_hi) / n, src)


def accelerator_power(acc, power_fraction: float | None = None) -> tuple[Span, Span, list[str]]:
    """(accelerator W, host W, assumptions) per accelerator for ``acc``; a given POWER_FRACTION pins the first."""
    tdp = acc.tdp_watts
    row = power_row(acc)
    notes: list[str] = []
    if power_fraction is not None:
        acc_w = Span(tdp * power_fraction, tdp * power_fraction, tdp * power_fraction,
                     f"TDP {tdp:g} W x --power-fraction {power_fraction:g}")
        notes.append(f"accelerator power = TDP {tdp:g} W x --power-fraction {power_fraction:g}")
        includes_host = False
    else:
        f = row.fraction
        acc_w = f.scaled(tdp)
        what = "system power per accelerator (host included)" if row.includes_host else "accelerator power"
        # the source of an assumed fraction already says no measurement was published: 'assumed' alone here
        how = "measured" if row.basis == "measured" else "assumed"
        notes.append(f"{what} = TDP {tdp:g} W x {f.central:.3g} ({how}; range {f.low:.3g}-{f.high:.3g}): {f.source}")
        includes_host = row.includes_host
    if includes_host:
        host = Span(0.0, 0.0, 0.0, "included in the measured system power")
    else:
        host = host_per_accelerator()
        notes.append(f"host CPU + DRAM per accelerator {host.central:.3g} W (range {host.low:.3g}-{host.high:.3g}): "
                     f"{host.source}")
    return acc_w, host, notes
