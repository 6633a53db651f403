"""bench/published.py's two reproductions of published runs: the source's own inputs give back its figure."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mlcost.refdata import read_csv

_spec = importlib.util.spec_from_file_location("bench_published", Path(__file__).parent.parent / "bench" / "published.py")
published = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(published)
ROWS = read_csv("published_runs")


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["name"])
def test_paper_inputs_reproduce_the_published_value(row):
    r = published.compare(row)
    # within 2%: the sources round what they print (T5's 20 days give 85.3 MWh for the printed 85.7; Strubell's
    # Transformer_base, 1415.78 W x 12 h, gives 25.6 lbs for the printed 26)
    assert r["paper_co2e_ratio"] == pytest.approx(1.0, abs=0.02)
    if row["published_mwh"]:
        assert r["paper_energy_ratio"] == pytest.approx(1.0, abs=0.01)
    lo, hi = r["user_co2e_range"]
    assert lo < r["user_co2e_ratio"] < hi  # the user run's central is strictly inside its range


def test_patterson_meena_paper_arithmetic():
    # 1024 chips x 289 W x 30 days x 24 h x PUE 1.09 = 232.1 MWh; x 0.415 kg/kWh = 96.3 t (Table 4: 232 MWh, 96.4 t)
    row = next(r for r in ROWS if r["name"] == "Meena")
    est = published.paper_run(row)
    assert est.energy.energy_kwh == pytest.approx(1024 * 289 * 30 * 24 * 1.09 / 1000, rel=1e-12)
    assert est.co2e_kg == pytest.approx(1024 * 289 * 30 * 24 * 1.09 / 1000 * 0.415, rel=1e-12)


def test_user_runs_hit_the_target_where_hardware_and_time_are_given():
    rows = [published.compare(r) for r in ROWS]
    timed = [r for r in rows if r["has_time"]]
    on = {r["name"] for r in timed if r["on_target"]}
    # every Llama card, BLOOM, GPT-3, Switch, T5 and ET NAS: central within 20% and published inside the range
    for name in ("BLOOM", "GPT-3", "Switch Transformer", "T5", "Evolved Transformer NAS", "Llama 2 70B",
                 "Llama 3.1 405B", "Llama 3.2 1B"):
        assert name in on
    # the misses the README explains: grid data newer than the run (Meena, GShard), and Strubell's watts,
    # measured on other GPUs than the table names
    assert {r["name"] for r in timed} - on == {"Meena", "GShard-600B", "Strubell Transformer_base",
                                              "Strubell Transformer_big", "Strubell ELMo", "Strubell BERT_base"}
