"""Where a job runs: grid carbon intensity (gCO2e/kWh) and data-centre PUE, each with its provenance.

One call for the whole site, for any command that turns kWh into CO2e (``carbon``, ``infer``, ``track``)::

    site = mlcost.grid.site("aws:ca-central-1")          # or site("US-GA", provider="google")
    site.intensity.g_per_kwh, site.intensity.basis, site.intensity.year   # 1.7..., "location-based; ...", 2023
    site.pue.value, site.pue.low, site.pue.high, site.pue.source          # 1.15, 1.15, 1.15, "AWS ..."

Grid data is codecarbon's shipped data, at the paths its ``codecarbon.input.DataSource`` names
(country mix, US states, Canadian provinces, Nordic bidding zones, Chinese provinces, GCP regions),
read without importing codecarbon or pandas.  AWS/Azure regions map to the sub-national grid they sit on through
reference_data/cloud_regions.csv; PUE comes from reference_data/pue.csv (provider fleet figures,
1.58 only as the stated fallback).  Every figure is location-based (the grid's average), never
market-based: that one is the user's to give (``--market-intensity`` / ``--cfe``).
"""
from __future__ import annotations

import csv
import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from mlcost.errors import InputError, UsageError
from mlcost.refdata import read_csv

LBS_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000  # 1 lb = 453.59237 g; per MWh -> per kWh
#: Canadian provinces and territories by ISO 3166-2:CA code (codecarbon keys them by lower-case name).
CA_PROVINCES = {"AB": "alberta", "BC": "british columbia", "MB": "manitoba", "NB": "new brunswick",
                "NL": "newfoundland and labrador", "NS": "nova scotia", "NT": "northwest territories",
                "NU": "nunavut", "ON": "ontario", "PE": "prince edward island", "QC": "quebec",
                "SK": "saskatchewan", "YT": "yukon"}
#: codecarbon's factors for the fossil shares of a province's mix (its _region_energy_mix_to_emissions_rate).
_CA_FOSSIL_KG_PER_KWH = {"coal": 0.995725971, "petroleum": 0.8166885263, "naturalGas": 0.7438415916}


@dataclass(frozen=True)
class GridIntensity:
    """Grid carbon intensity in gCO2e/kWh with where it came from.

    ``low``/``high`` bound it where the place is uncertain (no region: the spread of the world's grids),
    else both equal ``g_per_kwh``.  ``basis`` says what the figure counts (location-based; lifecycle or
    direct combustion, where the source says).
    """

    g_per_kwh: float
    region: str | None  # what the user asked for (None: no region given)
    resolved: str  # where the value applies, in words ("Quebec, Canada (province)")
    source: str
    year: int | None
    notes: tuple[str, ...] = ()
    basis: str = "location-based"
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict:
        return {"value_g_per_kwh": self.g_per_kwh, "region": self.region, "resolved": self.resolved,
                "source": self.source, "year": self.year, "basis": self.basis,
                "low_g_per_kwh": self.g_per_kwh if self.low is None else self.low,
                "high_g_per_kwh": self.g_per_kwh if self.high is None else self.high, "notes": list(self.notes)}


@dataclass(frozen=True)
class PUE:
    """Power usage effectiveness (facility energy / IT energy) with its range and source."""

    value: float
    low: float
    high: float
    source: str
    year: int | None
    provider: str | None  # None: the fallback

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "source": self.source, "year": self.year,
                "provider": self.provider}


@dataclass(frozen=True)
class Site:
    """Where a job runs: its grid intensity and its data centre's PUE."""

    intensity: GridIntensity
    pue: PUE


# --- codecarbon's data files, read without importing codecarbon ---
# `import codecarbon` (which codecarbon.input.DataSource needs) loads its tracker, psutil and rapidfuzz: about as
# long again as all of `import typer, rich`.  The files are found in its package folder at the paths its DataSource
# names (tests/test_grid.py compares them); DataSource itself is the fallback (a zipped install, a moved file).

#: kind -> the path DataSource gives it, relative to codecarbon's package folder
_FILES = {
    "mix": "data/private_infra/global_energy_mix.json",  # DataSource.global_energy_mix_data_path
    "per_source": "data/private_infra/carbon_intensity_per_source.json",  # .carbon_intensity_per_source_path
    "usa": "data/private_infra/2023/usa_emissions.json",  # .country_emissions_data_path("usa")
    "can": "data/private_infra/2023/canada_energy_mix.json",  # .country_energy_mix_data_path("can")
    # DataSource loads these two with pandas beside them (get_nordic_..., get_china_...); its public
    # get_ressource_path reads the same files without it.
    "nordic": "data/private_infra/nordic_emissions.json",
    "china": "data/private_infra/2023/china_provincial_emissions.json",
    "cloud": "data/cloud/impact.csv",  # .cloud_emissions_path
}


@functools.cache
def _codecarbon_dir() -> Path | None:
    """codecarbon's package folder (None: not a plain folder, e.g. zipped), found without running its __init__."""
    import importlib.util

    spec = importlib.util.find_spec("codecarbon")
    if spec is None:
        from mlcost.errors import MissingDependencyError

        raise MissingDependencyError("codecarbon", "all", "grid carbon intensity data")
    folders = list(spec.submodule_search_locations or ())
    return Path(folders[0]) if folders and Path(folders[0]).is_dir() else None


def data_path(kind: str) -> Path:
    """The path of codecarbon's data file KIND (a key of _FILES)."""
    base = _codecarbon_dir()
    if base is not None and (base / _FILES[kind]).is_file():
        return base / _FILES[kind]
    from codecarbon.input import DataSource

    return Path(DataSource.get_ressource_path("codecarbon", _FILES[kind]))


@functools.cache
def codecarbon_version() -> str | None:
    """The installed codecarbon's version: its _version.py (what codecarbon.__version__ reads), else its
    distribution metadata (importlib.metadata, a further 10 ms of imports)."""
    base = _codecarbon_dir()
    try:
        text = (base / "_version.py").read_text(encoding="utf-8") if base is not None else ""
    except OSError:
        text = ""
    m = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    if m:
        return m[1]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codecarbon")
    except PackageNotFoundError:
        return None


def _cc(what: str) -> str:
    return f"codecarbon {codecarbon_version()} {what}"


@functools.cache
def _json(kind: str) -> dict:
    path = data_path(kind)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read codecarbon's {path.name}: {exc}") from None


@functools.cache
def gcp_regions() -> dict[str, dict[str, str]]:
    """GCP rows of codecarbon's cloud/impact.csv by lower-case region name."""
    path = data_path("cloud")
    with path.open(newline="", encoding="utf-8-sig") as fh:  # the file starts with a BOM
        return {r["region"].lower(): r for r in csv.DictReader(fh) if r.get("provider") == "gcp"}


@functools.cache
def iso2_to_iso3() -> dict[str, str]:
    # pycountry (a codecarbon dependency) ships ISO 3166-1 as JSON; read it without importing it.
    import importlib.util

    spec = importlib.util.find_spec("pycountry")
    base = Path(list(spec.submodule_search_locations)[0]) if spec and spec.submodule_search_locations else None
    path = base / "databases" / "iso3166-1.json" if base else None
    if path is None or not path.is_file():
        return {}
    return {c["alpha_2"]: c["alpha_3"] for c in json.loads(path.read_text(encoding="utf-8"))["3166-1"]}


@functools.cache
def cloud_regions() -> dict[str, dict[str, str]]:
    """reference_data/cloud_regions.csv by 'provider:region'."""
    return {f"{r['provider']}:{r['region']}".lower(): r for r in read_csv("cloud_regions")}


# --- one lookup per kind of place ---

def world() -> GridIntensity:
    """The world average, with the 5th-95th percentile of the world's electricity by grid as its range."""
    data = _json("per_source")
    lo, hi = world_spread()
    return GridIntensity(
        g_per_kwh=float(data["world_average"]), region=None, resolved="world average",
        source=_cc(f"carbon_intensity_per_source.json: {data.get('world_average_source', '')}"),
        year=2019,  # IEA Global Energy & CO2 Status Report 2019 (the file's world_average_source)
        basis="location-based; range: 5th-95th percentile of the world's electricity (TWh-weighted) by country grid",
        low=lo, high=hi,
    )


@functools.cache
def world_spread(lo_q: float = 0.05, hi_q: float = 0.95) -> tuple[float, float]:
    """TWh-weighted quantiles of the country intensities in codecarbon's global_energy_mix.json."""
    rows = sorted((float(r["carbon_intensity"]), float(r.get("total_TWh") or 0))
                  for r in _json("mix").values() if isinstance(r, dict) and r.get("carbon_intensity") is not None)
    total = sum(w for _, w in rows)

    def q(p: float) -> float:
        acc = 0.0
        for g, w in rows:
            acc += w
            if acc >= p * total:
                return g
        return rows[-1][0]

    return q(lo_q), q(hi_q)


def country(iso3: str, asked: str) -> GridIntensity:
    row = _json("mix").get(iso3)
    if row is None or row.get("carbon_intensity") is None:
        raise InputError(f"codecarbon has no grid intensity for country {iso3!r} (region {asked!r})")
    return GridIntensity(
        g_per_kwh=float(row["carbon_intensity"]), region=asked, resolved=f"{row.get('country_name', iso3)} ({iso3})",
        source=_cc("global_energy_mix.json (country carbon_intensity; the file does not name its source)"),
        year=int(row["year"]) if row.get("year") else None,
        basis="location-based; lifecycle or direct not stated by the source",
    )


def us_state(state: str, asked: str) -> GridIntensity | None:
    data = _json("usa")
    row = data.get(state.lower())
    if not isinstance(row, dict) or "emissions" not in row:
        return None
    src = data.get("_source", {})
    return GridIntensity(
        g_per_kwh=float(row["emissions"]) * LBS_PER_MWH_TO_G_PER_KWH, region=asked,
        resolved=f"{state.title()}, USA (state)",
        source=_cc(f"usa_emissions.json: {src.get('name', 'EPA eGRID')} (lbs/MWh converted)"), year=src.get("year"),
        basis="location-based; direct (power-plant output emission rate, eGRID), not lifecycle",
    )


def _us_state_names() -> dict[str, str]:
    out = {}
    for name, row in _json("usa").items():
        if isinstance(row, dict) and "regionCode" in row and name != "usa":
            out[name] = name
            out[row["regionCode"].lower()] = name
    return out


def ca_province(name: str, asked: str) -> GridIntensity | None:
    mix = _json("can").get(name)
    if not isinstance(mix, dict) or not mix.get("total"):
        return None
    kg = sum(mix.get(k, 0) / mix["total"] * f for k, f in _CA_FOSSIL_KG_PER_KWH.items())
    return GridIntensity(
        g_per_kwh=kg * 1000, region=asked, resolved=f"{name.title()}, Canada (province)",
        source=_cc("canada_energy_mix.json (2023 mix) x codecarbon's coal/petroleum/gas factors"), year=2023,
        basis="location-based; direct combustion of the fossil share only (hydro, nuclear, wind count as 0), "
              "as codecarbon computes it",
    )


def nordic_zone(zone: str, asked: str) -> GridIntensity | None:
    data = _json("nordic")
    row = data.get("data", {}).get(zone.upper())
    if row is None or zone.upper() == "FI":
        return None
    return GridIntensity(
        g_per_kwh=float(row["emission_factor"]), region=asked, resolved=f"{row.get('description', zone)} (bidding zone)",
        source=_cc(f"nordic_emissions.json: {data.get('metadata', {}).get('source', '')}"), year=row.get("year"),
        basis="location-based; production mix x codecarbon's per-source lifecycle factors",
        notes=(f"coverage {row['coverage']}",) if row.get("coverage") else (),
    )


def cn_province(code: str, asked: str) -> GridIntensity | None:
    data = _json("china")
    row = data.get("data", {}).get(code.upper())
    if row is None:
        return None
    meta = data.get("metadata", {})
    return GridIntensity(
        g_per_kwh=float(row["emission_factor"]), region=asked, resolved=f"{row.get('description', code)}, China (province)",
        source=_cc(f"china_provincial_emissions.json: {meta.get('source', '')}"), year=row.get("year"),
        basis="location-based; CO2 only (not CO2e), direct, not lifecycle",
    )


def _gcp(rest: str, asked: str) -> GridIntensity | None:
    row = gcp_regions().get(rest)
    if row is None:
        return None
    where = ", ".join(x for x in (row.get("city"), row.get("state"), row.get("country_name")) if x)
    return GridIntensity(
        g_per_kwh=float(row["impact"]), region=asked, resolved=f"GCP {rest} ({where})",
        source=_cc(f"cloud/impact.csv: {row.get('source', '')}"), year=None,
        notes=("codecarbon's impact.csv does not state the year of its GCP figures",),
        basis="location-based grid average published by Google per region",
    )


def _subnational(code: str, asked: str) -> GridIntensity | None:
    """'US-VA', 'CA-QC', 'CN-BJ', 'SE3', 'NO1' (and 'us:virginia', 'ca:quebec')."""
    low = code.lower()
    prefix, sep, rest = low.replace(":", "-", 1).partition("-")
    if sep and prefix in ("us", "usa") and (state := _us_state_names().get(rest)):
        return us_state(state, asked)
    if sep and prefix in ("ca", "can"):
        name = CA_PROVINCES.get(rest.upper(), rest)
        return ca_province(name, asked)
    if sep and prefix == "cn":
        found = cn_province(low.upper(), asked)
        # not in the official table: Tibet takes China's national value, Hong Kong / Macao / Taiwan their own
        iso3 = {"xz": "CHN", "hk": "HKG", "mo": "MAC", "tw": "TWN"}.get(rest)
        if found is None and iso3 is not None and iso3 in _json("mix"):
            c = country(iso3, asked)
            return GridIntensity(c.g_per_kwh, asked, c.resolved, c.source, c.year,
                                 (f"{code.upper()} is not in China's provincial table; the {c.resolved} value is used",),
                                 c.basis)
        return found
    if not sep and len(low) == 3 and low[:2] in ("se", "no") and low[2].isdigit():
        return nordic_zone(low, asked)
    return None


def region_names() -> list[str]:
    """Every region spelling intensity() accepts (for suggestions and `mlcost reference`)."""
    names = sorted(_json("mix")) + sorted(iso2_to_iso3())
    names += [f"US-{code.upper()}" for code in _us_state_names() if len(code) == 2]
    names += [f"CA-{code}" for code in CA_PROVINCES] + sorted(_json("china").get("data", {}))
    names += [z for z in _json("nordic").get("data", {}) if z != "FI"]
    names += [f"gcp:{r}" for r in sorted(gcp_regions())] + sorted(cloud_regions())
    return names


def intensity(region: str | None) -> GridIntensity:
    """gCO2e/kWh for REGION; None: the world average with the world's spread as its range.

    REGION: ISO alpha-2/3 country (FR, FRA); sub-national US-VA, CA-QC, CN-BJ, SE3, NO1; cloud regions
    gcp:europe-west1 (Google's figure), aws:ca-central-1 / azure:westeurope (the grid the region sits on).
    Unknown regions raise UsageError naming the closest spellings.
    """
    if region is None:
        return world()
    asked, text = region, region.strip()
    if not text:
        raise UsageError("--region is empty")
    low = text.lower()
    provider, sep, rest = low.partition(":")
    found: GridIntensity | None = None
    if sep and provider == "gcp":
        found = _gcp(rest, asked)
    elif sep and provider in ("aws", "azure"):
        row = cloud_regions().get(low)
        if row is not None:
            base = _subnational(row["grid_region"], asked) if row.get("grid_region") else None
            level = "sub-national"
            if base is None:  # no sub-national data for this place: say the country value is what was used
                base, level = country(row["country_iso3"], asked), "country"
            note = (f"{provider.upper()} publishes no per-region intensity; {rest} is in {row['location']} "
                    f"({row['source'].split(' (')[0]}), so the {level} grid value is used")
            found = GridIntensity(base.g_per_kwh, asked, f"{provider.upper()} {rest} -> {base.resolved}", base.source,
                                  base.year, (*base.notes, note), base.basis)
    else:
        found = _subnational(text, asked)
        if found is None and not sep:
            upper = text.upper()
            if len(upper) == 2 and upper in iso2_to_iso3():
                found = country(iso2_to_iso3()[upper], asked)
            elif len(upper) == 3 and upper in _json("mix"):
                found = country(upper, asked)
    if found is not None:
        return found
    by_lower = {c.lower(): c for c in region_names()}
    close = [by_lower[c] for c in difflib.get_close_matches(low, list(by_lower), n=4, cutoff=0.6)]
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise UsageError(f"unknown region {region!r}{hint} (use an ISO country code like FR or FRA, US-VA, CA-QC, "
                     "gcp:europe-west1, aws:us-east-1)")


# --- PUE (reference_data/pue.csv) ---

_PROVIDER_ALIASES = {"gcp": "google", "google": "google", "aws": "aws", "amazon": "aws", "azure": "azure",
                     "microsoft": "azure", "meta": "meta", "facebook": "meta"}


@functools.cache
def _pue_rows() -> dict[str, dict[str, str]]:
    return {r["provider"].lower(): r for r in read_csv("pue")}


def providers() -> list[str]:
    """Provider names pue() knows (besides the aliases gcp, amazon, microsoft, facebook)."""
    return sorted(k for k in _pue_rows() if k != "fallback")


def pue(provider: str | None = None, region: str | None = None) -> PUE:
    """The PUE of PROVIDER's data centres (or the one REGION's cloud prefix implies); else the stated fallback."""
    name = provider.strip().lower() if provider is not None else None
    if name == "":  # '' is no operator: the fallback PUE would be used without a word
        raise UsageError("--provider is empty")
    cloud = region.split(":", 1)[0].strip().lower() if region and ":" in region else None
    cloud = cloud if cloud in _PROVIDER_ALIASES else None
    if name is not None and cloud is not None and _PROVIDER_ALIASES.get(name, name) != _PROVIDER_ALIASES[cloud]:
        # A cloud region is one operator's data centre: its PUE and its grid go together.  AWS's PUE on GCP's grid
        # describes no data centre at all, so this is refused rather than noted; a site of one's own on the same
        # grid is the grid's zone with --provider (or --pue), not the other cloud's region.
        raise UsageError(f"--provider {provider.strip()} contradicts --region {region.strip()} (a "
                         f"{_PROVIDER_ALIASES[cloud]} region): drop --provider, or name the grid by its zone "
                         "(BE, US-VA ...) instead")
    name = name if name is not None else cloud
    rows = _pue_rows()
    if name is not None:
        key = _PROVIDER_ALIASES.get(name, name)
        if key not in rows or key == "fallback":
            raise UsageError(f"unknown --provider {provider!r}; known: {', '.join(providers())}")
        name = key
    row = rows[name or "fallback"]
    value = float(row["pue"])
    lo = float(row["pue_low"]) if row.get("pue_low") else value
    hi = float(row["pue_high"]) if row.get("pue_high") else value
    return PUE(value, lo, hi, row["source"], int(row["year"]) if row.get("year") else None, name)


def site(region: str | None = None, provider: str | None = None) -> Site:
    """Grid intensity of REGION and PUE of PROVIDER (or of REGION's cloud), both with provenance."""
    return Site(intensity(region), pue(provider, region))
