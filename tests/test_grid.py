"""Grid intensity read from codecarbon's shipped data files (exact values from the files)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcost import refdata
from mlcost.errors import UsageError


def _cc(rel):
    from codecarbon.input import DataSource

    return json.loads((Path(DataSource().global_energy_mix_data_path).parent / rel.removeprefix("private_infra/")).read_text())


def test_country_iso2_and_iso3_read_exact_value_from_codecarbon():
    row = _cc("private_infra/global_energy_mix.json")["FRA"]
    for code in ("FR", "fra", "FRA"):
        g = refdata.grid_intensity(code)
        assert g.g_per_kwh == row["carbon_intensity"]  # 56.039 in codecarbon 3.3.2
        assert g.year == row["year"] and "France" in g.resolved and "global_energy_mix.json" in g.source


def test_gcp_region_exact_value_from_impact_csv():
    import csv

    from codecarbon.input import DataSource

    with Path(DataSource().cloud_emissions_path).open(encoding="utf-8-sig") as fh:
        row = next(r for r in csv.DictReader(fh) if r["provider"] == "gcp" and r["region"] == "europe-west1")
    g = refdata.grid_intensity("gcp:europe-west1")
    assert g.g_per_kwh == float(row["impact"])  # 122 in codecarbon 3.3.2
    assert "Belgium" in g.resolved and "region-carbon" in g.source


def test_aws_us_east_1_maps_to_virginia_state_and_says_so():
    lbs_per_mwh = _cc("private_infra/2023/usa_emissions.json")["virginia"]["emissions"]
    g = refdata.grid_intensity("aws:us-east-1")
    assert g.g_per_kwh == pytest.approx(lbs_per_mwh * 453.59237 / 1000, rel=1e-12)  # lbs/MWh -> g/kWh
    assert "Virginia" in g.resolved and any("us-east-1 is in N. Virginia" in n for n in g.notes)
    assert g.basis.startswith("location-based; direct")
    assert g.year == 2023 and refdata.grid_intensity("US-VA").g_per_kwh == g.g_per_kwh


def test_aws_region_outside_usa_maps_to_country():
    assert refdata.grid_intensity("aws:eu-west-3").g_per_kwh == refdata.grid_intensity("FRA").g_per_kwh


def test_world_average_when_no_region():
    g = refdata.grid_intensity(None)
    assert g.g_per_kwh == _cc("private_infra/carbon_intensity_per_source.json")["world_average"] == 475
    assert "iea.org" in g.source
    assert g.low < g.g_per_kwh < g.high  # the 5th-95th percentile of the world's electricity by country grid


@pytest.mark.parametrize("bad,closest", [("aws:us-east-7", "aws:us-east-1"), ("gcp:europe-west99", "gcp:europe-west"),
                                         ("frx", "FRA")])
def test_unknown_region_names_the_closest(bad, closest):
    with pytest.raises(UsageError, match=f"unknown region '{bad}'.*closest:.*{closest}"):
        refdata.grid_intensity(bad)


def test_every_cloud_region_row_is_sourced_and_resolves():
    for row in refdata.read_csv("cloud_regions"):
        assert row["source"].strip()
        assert refdata.grid_intensity(f"{row['provider']}:{row['region']}").g_per_kwh > 0


def test_cloud_rows_with_a_grid_region_use_the_sub_national_value():
    for row in refdata.read_csv("cloud_regions"):
        if row["grid_region"]:
            g = refdata.grid_intensity(f"{row['provider']}:{row['region']}")
            assert g.g_per_kwh == refdata.grid_intensity(row["grid_region"]).g_per_kwh
            assert "sub-national grid value is used" in g.notes[-1]


def test_aws_ca_central_1_is_quebec_not_canada():
    mix = _cc("private_infra/2023/canada_energy_mix.json")["quebec"]
    # codecarbon's method: fossil shares x 0.996 (coal), 0.817 (petroleum), 0.744 (natural gas) kg/kWh
    expect = 1000 * (mix["coal"] * 0.995725971 + mix["petroleum"] * 0.8166885263
                     + mix["naturalGas"] * 0.7438415916) / mix["total"]
    g = refdata.grid_intensity("aws:ca-central-1")
    assert g.g_per_kwh == pytest.approx(expect, rel=1e-12) == refdata.grid_intensity("CA-QC").g_per_kwh
    assert g.g_per_kwh < 10 < refdata.grid_intensity("CAN").g_per_kwh  # Quebec hydro vs Canada's 170
    assert "Quebec" in g.resolved and g.year == 2023 and "direct combustion" in g.basis


@pytest.mark.parametrize("code,rel,key", [("SE3", "private_infra/nordic_emissions.json", "SE3"),
                                          ("NO1", "private_infra/nordic_emissions.json", "NO1"),
                                          ("CN-BJ", "private_infra/2023/china_provincial_emissions.json", "CN-BJ")])
def test_other_sub_national_files(code, rel, key):
    row = _cc(rel)["data"][key]
    g = refdata.grid_intensity(code)
    assert g.g_per_kwh == row["emission_factor"] and g.year == row["year"]
    assert refdata.grid_intensity("aws:eu-north-1").g_per_kwh == refdata.grid_intensity("SE3").g_per_kwh


def test_province_missing_from_chinas_table_falls_back_to_china():
    g = refdata.grid_intensity("CN-XZ")  # Tibet: not in the MEE/NBS table
    assert g.g_per_kwh == refdata.grid_intensity("CHN").g_per_kwh and "China (CHN) value is used" in g.notes[0]
    assert refdata.grid_intensity("CN-HK").g_per_kwh == refdata.grid_intensity("HKG").g_per_kwh
    with pytest.raises(UsageError, match="unknown region"):
        refdata.grid_intensity("CN-ZZ")


def test_site_gives_intensity_and_pue_with_provenance():
    from mlcost import grid

    s = grid.site("gcp:europe-west1")
    assert (s.pue.value, s.pue.provider) == (1.10, "google") and "google.com" in s.pue.source
    assert grid.site("US-GA", provider="google").pue.value == 1.10
    assert grid.site("azure:westeurope").pue.value == 1.18
    f = grid.site("FR").pue
    assert (f.value, f.low, f.high, f.provider) == (1.58, 1.08, 1.63, None) and "Uptime" in f.source
    with pytest.raises(UsageError, match="unknown --provider"):
        grid.pue("nonesuch")


def test_empty_provider_is_refused(cli):
    # --provider '' was read as no provider: the fallback PUE 1.58, exit 0, without a word
    r = cli("carbon", "--gpu", "h100", "--hours", "5", "--provider", "")
    assert (r.exit_code, r.stderr.strip()) == (2, "mlcost: error: --provider is empty")


def test_a_provider_that_contradicts_the_cloud_region_is_refused(cli):
    """--provider aws --region gcp:europe-west1 used AWS's fleet PUE (1.15) with GCP's Belgian grid, exit 0: a
    data centre that does not exist.  A provider naming the region's own cloud (any alias) is fine; so is a
    provider with a grid zone (an operator's own site on that grid)."""
    r = cli("carbon", "--gpu", "h100", "--hours", "5", "--provider", "aws", "--region", "gcp:europe-west1")
    assert (r.exit_code, r.stderr, r.stdout) == (2, "mlcost: error: --provider aws contradicts --region "
                                                 "gcp:europe-west1 (a google region): drop --provider, or name the "
                                                 "grid by its zone (BE, US-VA ...) instead\n", "")

    def pue(*args):
        r = cli("carbon", "--gpu", "h100", "--hours", "5", *args, "-f", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()["energy"]["pue"]

    assert pue("--provider", "google", "--region", "gcp:europe-west1") == pue("--region", "gcp:europe-west1") == 1.10
    assert pue("--provider", "Amazon", "--region", "aws:ca-central-1") == 1.15
    assert pue("--provider", "aws", "--region", "BE") == 1.15
    # --pue overrode --provider without a word: both set the PUE
    r = cli("carbon", "--gpu", "h100", "--hours", "5", "--provider", "aws", "--pue", "1.3")
    assert (r.exit_code, r.stderr) == (2, "mlcost: error: --pue and --provider both set the PUE: give one of them\n")


def test_grid_reads_through_datasource_without_pandas():
    import subprocess
    import sys

    code = ("import sys; from mlcost import grid; grid.intensity('CA-QC'); grid.intensity('gcp:us-east1'); "
            "grid.intensity(None); print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_aws_hong_kong_uses_hong_kong_not_mainland_china():
    mix = _cc("private_infra/global_energy_mix.json")
    g = refdata.grid_intensity("aws:ap-east-1")
    assert g.g_per_kwh == mix["HKG"]["carbon_intensity"] != mix["CHN"]["carbon_intensity"]  # 699.499 vs 582.317
    assert "(HKG)" in g.resolved


def test_codecarbons_files_are_the_ones_its_datasource_names():
    """mlcost.grid finds codecarbon's data files without importing it: the same files its DataSource gives."""
    from importlib.metadata import version

    from codecarbon.input import DataSource

    from mlcost import grid

    ds = DataSource()
    theirs = {"mix": ds.global_energy_mix_data_path, "per_source": ds.carbon_intensity_per_source_path,
              "usa": ds.country_emissions_data_path("usa"), "can": ds.country_energy_mix_data_path("can"),
              "cloud": ds.cloud_emissions_path,
              "nordic": ds.get_ressource_path(ds.module_name, "data/private_infra/nordic_emissions.json"),
              "china": ds.get_ressource_path(ds.module_name, "data/private_infra/2023/china_provincial_emissions.json")}
    assert {k: grid.data_path(k) for k in theirs} == {k: Path(v) for k, v in theirs.items()}
    assert grid.codecarbon_version() == version("codecarbon")


def test_codecarbon_not_installed_names_the_extra(monkeypatch):
    import sys

    from mlcost import grid
    from mlcost.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "codecarbon", None)  # what an uninstalled package looks like to find_spec
    grid._codecarbon_dir.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"mlcost\[all\]"):
            grid.data_path("mix")
    finally:
        grid._codecarbon_dir.cache_clear()
