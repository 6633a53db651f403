"""Typed access to reference_data/: every table has a ``source`` column, units in column names.

reference_data/ sits at the repository's top level; the wheel force-includes it as
``mlcost/reference_data``.  The loader finds it in both places (installed wheel, editable checkout).
"""
from __future__ import annotations

import csv
import difflib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlcost.choices import ChipPrecision, RunPrecision, values
from mlcost.errors import InputError, UsageError

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The reference_data folder: inside the installed package, else the checkout's top level."""
    for candidate in (_PACKAGE_DIR / "reference_data", _PACKAGE_DIR.parent / "reference_data"):
        if candidate.is_dir():
            return candidate
    raise InputError("mlcost's reference_data folder is missing from this installation")


def table_names() -> list[str]:
    """Names (file stems) of every shipped table, CSV and JSON."""
    return sorted(p.stem for p in data_dir().iterdir() if p.suffix in (".csv", ".json"))


@functools.cache
def read_csv(name: str) -> tuple[dict[str, str], ...]:
    """Rows of reference_data/NAME.csv as dicts of strings ('#' lines are comments)."""
    path = data_dir() / f"{name}.csv"
    if not path.is_file():
        raise InputError(f"no reference table {name!r}; shipped tables: {', '.join(table_names())}")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = tuple(csv.DictReader(line for line in fh if not line.startswith("#")))
    if rows and "source" not in rows[0]:
        raise InputError(f"reference table {name!r} has no 'source' column")
    return rows


def _float(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if value else None


# --- accelerators (reference_data/hardware.csv) ---

PRECISIONS = values(ChipPrecision)  # the *_tflops columns of hardware.csv
RUN_PRECISIONS = values(RunPrecision)  # what --precision takes: a column, or mixed/amp (peak_column maps them)
MIXED_PRECISIONS = tuple(p for p in RUN_PRECISIONS if p not in PRECISIONS)  # mixed, amp: no column of their own


@dataclass(frozen=True)
class Accelerator:
    """One accelerator; peaks are dense (no 2:4 sparsity), per chip, in TFLOP/s (TOPS for int8)."""

    name: str
    aliases: tuple[str, ...]
    vendor: str
    year: int | None
    peak_tflops: dict[str, float] = field(default_factory=dict)  # precision -> dense peak TFLOP/s
    default_precision: str = "fp32"  # the dense 16-bit tensor peak where the chip has one, else fp32
    memory_gb: float | None = None
    bandwidth_gb_s: float | None = None
    tdp_watts: float | None = None
    source: str = ""
    notes: str = ""

    @property
    def memory_bytes(self) -> int | None:
        """Device memory in bytes, reading memory_gb as GiB: HBM stacks come in powers of two, so an "80 GB"
        A100 holds 80 GiB (nvidia-smi: 81,920 MiB; an "80 GB" H100 81,559 MiB).  None when not published."""
        return int(self.memory_gb * (1 << 30)) if self.memory_gb else None

    def peak_column(self, precision: str | None = None) -> str:
        """The hardware.csv column a run at PRECISION is timed on: the column itself, the chip's default for None,
        and for mixed/amp the 16-bit tensor peak mixed precision runs its matmuls at: bf16 where published, else
        fp16 (V100, T4), else fp32 (a chip without a 16-bit peak gains nothing from it)."""
        precision = (precision or self.default_precision).lower()
        if precision in MIXED_PRECISIONS:
            return next((p for p in ("bf16", "fp16") if p in self.peak_tflops), "fp32")
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(RUN_PRECISIONS)}")
        return precision

    def peak_flops(self, precision: str | None = None) -> tuple[float, str]:
        """(peak FLOP/s, column used: see peak_column).  ``None`` picks the chip's default precision."""
        precision = self.peak_column(precision)
        tflops = self.peak_tflops.get(precision)
        if tflops is None:
            have = ", ".join(p for p in PRECISIONS if p in self.peak_tflops) or "none"
            raise UsageError(
                f"{self.name} has no published {precision} peak in reference_data/hardware.csv "
                f"(it has: {have}); pass --peak-tflops to give one"
            )
        return tflops * 1e12, precision


def _key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"^(nvidia|google|tesla|amd|intel)", "", key)


@functools.cache
def accelerators() -> tuple[Accelerator, ...]:
    out = []
    for row in read_csv("hardware"):
        peaks = {p: v for p in PRECISIONS if (v := _float(row.get(f"{p}_tflops"))) is not None}
        out.append(
            Accelerator(
                name=row["name"],
                aliases=tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip()),
                vendor=row.get("vendor", ""),
                year=int(row["year"]) if (row.get("year") or "").strip() else None,
                peak_tflops=peaks,
                default_precision=(row.get("default_precision") or "fp32").strip(),
                memory_gb=_float(row.get("memory_gb")),
                bandwidth_gb_s=_float(row.get("bandwidth_gb_s")),
                tdp_watts=_float(row.get("tdp_watts")),
                source=row["source"],
                notes=row.get("notes", ""),
            )
        )
    return tuple(out)


def find_accelerator(name: str) -> Accelerator:
    """Loose lookup: 'a100', 'A100-80GB', 'nvidia a100' all work; unknown names suggest the closest."""
    wanted = _key(name)
    if not wanted:
        raise UsageError("an accelerator name is empty")
    index: dict[str, Accelerator] = {}
    for acc in accelerators():
        for label in (acc.name, *acc.aliases):
            index.setdefault(_key(label), acc)
    if wanted in index:
        return index[wanted]
    close = difflib.get_close_matches(wanted, list(index), n=4, cutoff=0.5)
    names = sorted({index[c].name for c in close})
    hint = f"; closest: {', '.join(names)}" if names else ""
    raise UsageError(f"unknown accelerator {name!r}{hint} (see: mlcost reference hardware)")


# --- grid carbon intensity: mlcost/grid.py (kept here under the names other modules use) ---

def grid_intensity(region: str | None):
    """gCO2e/kWh for REGION (see mlcost.grid.intensity)."""
    from mlcost import grid

    return grid.intensity(region)


def region_names() -> list[str]:
    from mlcost import grid

    return grid.region_names()


def codecarbon_version() -> str | None:
    from mlcost import grid

    return grid.codecarbon_version()


def _cloud_regions() -> dict[str, dict[str, str]]:
    from mlcost import grid

    return grid.cloud_regions()


def _gcp_regions() -> dict[str, dict[str, str]]:
    from mlcost import grid

    return grid.gcp_regions()


def _iso2_to_iso3() -> dict[str, str]:
    from mlcost import grid

    return grid.iso2_to_iso3()
