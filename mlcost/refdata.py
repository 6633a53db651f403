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

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")


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

    def peak_flops(self, precision: str | None = None) -> tuple[float, str]:
        """(peak FLOP/s, precision used).  ``None`` picks the chip's default precision."""
        precision = (precision or self.default_precision).lower()
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
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


# --- grid carbon intensity (codecarbon's shipped data) ---
# Owned by mlcost carbon (issue 5).  Reads codecarbon's data files straight from its package folder:
# importing codecarbon's tracker would pull in pandas and take seconds; `mlcost carbon` must stay fast.

import json as _json
import importlib.util as _ilu

LBS_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000  # 1 lb = 453.59237 g; per MWh -> per kWh


@dataclass(frozen=True)
class GridIntensity:
    """Grid carbon intensity in gCO2e/kWh with where it came from."""

    g_per_kwh: float
    region: str | None  # what the user asked for (None: no region given)
    resolved: str  # where the value applies, in words ("France (FRA)", "Virginia, USA (eGRID2023)")
    source: str
    year: int | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"value_g_per_kwh": self.g_per_kwh, "region": self.region, "resolved": self.resolved,
                "source": self.source, "year": self.year, "notes": list(self.notes)}


def _package_dir(name: str) -> Path | None:
    # find_spec on a top-level name locates the package without importing it.
    spec = _ilu.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def codecarbon_data_dir() -> Path:
    """codecarbon's ``data`` folder (grid intensities); an error naming the extra if it is absent."""
    base = _package_dir("codecarbon")
    if base is None or not (base / "data").is_dir():
        from mlcost.errors import MissingDependencyError

        raise MissingDependencyError("codecarbon", "all", "grid carbon intensity data")
    return base / "data"


def codecarbon_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codecarbon")
    except PackageNotFoundError:
        return None


@functools.cache
def _cc_json(rel: str) -> dict:
    path = codecarbon_data_dir() / rel
    try:
        return _json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read codecarbon's {rel}: {exc}") from None


@functools.cache
def _gcp_regions() -> dict[str, dict[str, str]]:
    path = codecarbon_data_dir() / "cloud" / "impact.csv"
    with path.open(newline="", encoding="utf-8-sig") as fh:  # the file starts with a BOM
        return {r["region"].lower(): r for r in csv.DictReader(fh) if r.get("provider") == "gcp"}


@functools.cache
def _iso2_to_iso3() -> dict[str, str]:
    # pycountry (a codecarbon dependency) ships ISO 3166-1; read its JSON, no import needed.
    base = _package_dir("pycountry")
    path = base / "databases" / "iso3166-1.json" if base else None
    if path is None or not path.is_file():
        return {}
    return {c["alpha_2"]: c["alpha_3"] for c in _json.loads(path.read_text(encoding="utf-8"))["3166-1"]}


@functools.cache
def _cloud_regions() -> dict[str, dict[str, str]]:
    return {f"{r['provider']}:{r['region']}".lower(): r for r in read_csv("cloud_regions")}


def world_average() -> GridIntensity:
    data = _cc_json("private_infra/carbon_intensity_per_source.json")
    return GridIntensity(
        g_per_kwh=float(data["world_average"]),
        region=None,
        resolved="world average",
        source=f"codecarbon {codecarbon_version()} carbon_intensity_per_source.json: {data.get('world_average_source', '')}",
        year=2019,  # IEA Global Energy & CO2 Status Report 2019 (the file's world_average_source)
    )


def _country(iso3: str, asked: str) -> GridIntensity:
    mix = _cc_json("private_infra/global_energy_mix.json")
    row = mix.get(iso3)
    if row is None or row.get("carbon_intensity") is None:
        raise InputError(f"codecarbon has no grid intensity for country {iso3!r} (region {asked!r})")
    return GridIntensity(
        g_per_kwh=float(row["carbon_intensity"]),
        region=asked,
        resolved=f"{row.get('country_name', iso3)} ({iso3})",
        source=f"codecarbon {codecarbon_version()} global_energy_mix.json (country carbon_intensity)",
        year=int(row["year"]) if row.get("year") else None,
    )


def _us_state(state: str, asked: str) -> GridIntensity | None:
    data = _cc_json("private_infra/2023/usa_emissions.json")
    row = data.get(state.lower())
    if not isinstance(row, dict) or "emissions" not in row:
        return None
    src = data.get("_source", {})
    return GridIntensity(
        g_per_kwh=float(row["emissions"]) * LBS_PER_MWH_TO_G_PER_KWH,
        region=asked,
        resolved=f"{state.title()}, USA (state)",
        source=f"codecarbon {codecarbon_version()} usa_emissions.json: {src.get('name', 'EPA eGRID')} (lbs/MWh converted)",
        year=src.get("year"),
    )


def _us_state_names() -> dict[str, str]:
    data = _cc_json("private_infra/2023/usa_emissions.json")
    out = {}
    for name, row in data.items():
        if isinstance(row, dict) and "regionCode" in row and name != "usa":
            out[name] = name
            out[row["regionCode"].lower()] = name
    return out


def region_names() -> list[str]:
    """Every region spelling grid_intensity accepts (for suggestions and `mlcost reference`)."""
    mix = _cc_json("private_infra/global_energy_mix.json")
    names = sorted(mix) + sorted(_iso2_to_iso3())
    names += [f"US-{code.upper()}" for code in _us_state_names() if len(code) == 2]
    names += [f"gcp:{r}" for r in sorted(_gcp_regions())] + sorted(_cloud_regions())
    return names


def grid_intensity(region: str | None) -> GridIntensity:
    """gCO2e/kWh for REGION: ISO alpha-2/3 country, US-XX / us:state, gcp:/aws:/azure: region; None: world.

    Unknown regions raise UsageError naming the closest spellings.
    """
    if region is None:
        return world_average()
    asked = region
    text = region.strip()
    if not text:
        raise UsageError("--region is empty")
    low = text.lower()
    provider, sep, rest = low.partition(":")
    if sep and provider == "gcp":
        row = _gcp_regions().get(rest)
        if row is not None:
            where = ", ".join(x for x in (row.get("city"), row.get("state"), row.get("country_name")) if x)
            return GridIntensity(
                g_per_kwh=float(row["impact"]),
                region=asked,
                resolved=f"GCP {rest} ({where})",
                source=f"codecarbon {codecarbon_version()} cloud/impact.csv: {row.get('source', '')}",
                year=None,
                notes=("codecarbon's impact.csv does not state the year of its GCP figures",),
            )
    elif sep and provider in ("aws", "azure"):
        row = _cloud_regions().get(low)
        if row is not None:
            base = _us_state(row["us_state"], asked) if row.get("us_state") else None
            level = "US state"
            if base is None:  # no state row in codecarbon's data: say the country value is what was used
                base, level = _country(row["country_iso3"], asked), "country"
            note = (f"{provider.upper()} publishes no per-region intensity in codecarbon's data; {rest} is in "
                    f"{row['location']}, so the {level} value is used "
                    f"(location: reference_data/cloud_regions.csv)")
            return GridIntensity(base.g_per_kwh, asked, f"{provider.upper()} {rest} -> {base.resolved}",
                                 base.source, base.year, (note,))
    elif sep and provider in ("us", "usa"):
        state = _us_state_names().get(rest)
        if state is not None:
            return _us_state(state, asked)  # type: ignore[return-value]
    elif not sep:
        if low.startswith("us-") and (state := _us_state_names().get(low[3:])) is not None:
            return _us_state(state, asked)  # type: ignore[return-value]
        upper = text.upper()
        if len(upper) == 2 and upper in _iso2_to_iso3():
            return _country(_iso2_to_iso3()[upper], asked)
        if len(upper) == 3 and upper in _cc_json("private_infra/global_energy_mix.json"):
            return _country(upper, asked)
    candidates = region_names()
    by_lower = {c.lower(): c for c in candidates}
    close = [by_lower[c] for c in difflib.get_close_matches(low, list(by_lower), n=4, cutoff=0.6)]
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise UsageError(
        f"unknown region {region!r}{hint} (use an ISO country code like FR or FRA, US-VA, gcp:europe-west1, aws:us-east-1)"
    )
