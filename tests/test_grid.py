"""Grid intensity read from codecarbon's shipped data files (exact values from the files)."""
from __future__ import annotations

import json

import pytest

from mlcost import refdata
from mlcost.errors import UsageError


def _cc(rel):
    return json.loads((refdata.codecarbon_data_dir() / rel).read_text())


def test_country_iso2_and_iso3_read_exact_value_from_codecarbon():
    row = _cc("private_infra/global_energy_mix.json")["FRA"]
    for code in ("FR", "fra", "FRA"):
        g = refdata.grid_intensity(code)
        assert g.g_per_kwh == row["carbon_intensity"]  # 56.039 in codecarbon 3.3.2
        assert g.year == row["year"] and "France" in g.resolved and "global_energy_mix.json" in g.source


def test_gcp_region_exact_value_from_impact_csv():
    import csv

    with (refdata.codecarbon_data_dir() / "cloud" / "impact.csv").open(encoding="utf-8-sig") as fh:
        row = next(r for r in csv.DictReader(fh) if r["provider"] == "gcp" and r["region"] == "europe-west1")
    g = refdata.grid_intensity("gcp:europe-west1")
    assert g.g_per_kwh == float(row["impact"])  # 122 in codecarbon 3.3.2
    assert "Belgium" in g.resolved and "region-carbon" in g.source


def test_aws_us_east_1_maps_to_virginia_state_and_says_so():
    lbs_per_mwh = _cc("private_infra/2023/usa_emissions.json")["virginia"]["emissions"]
    g = refdata.grid_intensity("aws:us-east-1")
    assert g.g_per_kwh == pytest.approx(lbs_per_mwh * 453.59237 / 1000, rel=1e-12)  # lbs/MWh -> g/kWh
    assert "Virginia" in g.resolved and any("us-east-1 is in N. Virginia" in n for n in g.notes)
    assert g.year == 2023 and refdata.grid_intensity("US-VA").g_per_kwh == g.g_per_kwh


def test_aws_region_outside_usa_maps_to_country():
    assert refdata.grid_intensity("aws:eu-west-3").g_per_kwh == refdata.grid_intensity("FRA").g_per_kwh


def test_world_average_when_no_region():
    g = refdata.grid_intensity(None)
    assert g.g_per_kwh == _cc("private_infra/carbon_intensity_per_source.json")["world_average"] == 475
    assert "iea.org" in g.source


@pytest.mark.parametrize("bad,closest", [("aws:us-east-7", "aws:us-east-1"), ("gcp:europe-west99", "gcp:europe-west"),
                                         ("frx", "FRA")])
def test_unknown_region_names_the_closest(bad, closest):
    with pytest.raises(UsageError, match=f"unknown region '{bad}'.*closest:.*{closest}"):
        refdata.grid_intensity(bad)


def test_every_cloud_region_row_is_sourced_and_resolves():
    for row in refdata.read_csv("cloud_regions"):
        assert row["source"].strip()
        assert refdata.grid_intensity(f"{row['provider']}:{row['region']}").g_per_kwh > 0


def test_cloud_rows_with_a_us_state_use_the_state_value():
    states = _cc("private_infra/2023/usa_emissions.json")
    for row in refdata.read_csv("cloud_regions"):
        if row["us_state"]:
            g = refdata.grid_intensity(f"{row['provider']}:{row['region']}")
            assert g.g_per_kwh == pytest.approx(states[row["us_state"]]["emissions"] * 453.59237 / 1000, rel=1e-12)
            assert g.resolved.endswith("USA (state)") and "US state value is used" in g.notes[0]


def test_aws_hong_kong_uses_hong_kong_not_mainland_china():
    mix = _cc("private_infra/global_energy_mix.json")
    g = refdata.grid_intensity("aws:ap-east-1")
    assert g.g_per_kwh == mix["HKG"]["carbon_intensity"] != mix["CHN"]["carbon_intensity"]  # 699.499 vs 582.317
    assert "(HKG)" in g.resolved
