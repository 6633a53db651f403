"""mlcost carbon: Strubell Table 3 reproduced, the default model's arithmetic, CLI JSON, bad input."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from mlcost import refdata
from mlcost.costs import carbon as cb
from mlcost.errors import MlcostError

LBS_PER_KG = 2.20462262185


def table3_rows():
    return [r for r in refdata.read_csv("strubell2019") if r["table"] == "3" and r["power_watts"]]


@pytest.mark.parametrize("row", table3_rows(), ids=lambda r: r["name"])
def test_strubell_table3_reproduced_from_its_power_and_hours(row):
    est = cb.estimate(power_watts=float(row["power_watts"]), seconds=float(row["hours"]) * 3600, method="strubell2019")
    kwh = 1.58 * float(row["hours"]) * float(row["power_watts"]) / 1000  # p_t = 1.58 t (p_c + p_r + g p_g) / 1000
    assert est.energy.energy_kwh == pytest.approx(kwh, rel=1e-12)
    assert est.co2e_lbs == pytest.approx(0.954 * kwh, rel=1e-9)  # CO2e = 0.954 p_t lbs
    if row["name"] == "bert_base_gpu":
        # The paper's 79 h is rounded: 1503 kWh / 1434 lbs vs printed 1507 / 1438 (0.3%).
        assert round(est.energy.energy_kwh) == 1503 and round(est.co2e_lbs) == 1434
        assert est.co2e_lbs == pytest.approx(float(row["co2e_lbs"]), rel=0.003)
    else:
        assert round(est.energy.energy_kwh) == int(row["kwh_pue"])
        assert round(est.co2e_lbs) == int(row["co2e_lbs"])


def test_table1_nas_row_equals_table3_nas_row():
    rows = {(r["table"], r["name"]): r for r in refdata.read_csv("strubell2019")}
    assert rows[("1", "transformer_big_nas")]["co2e_lbs"] == rows[("3", "nas_evolved_transformer")]["co2e_lbs"] == "626155"


def test_gpu_hours_way_arithmetic_and_range():
    acc = refdata.find_accelerator("a100")
    est = cb.estimate(gpu="a100", count=8, seconds=10 * 3600, region="FR")
    # host per accelerator: 1/8 of (2 x 225 W CPUs x 0.5 + DRAM); DRAM 38 W (codecarbon 3.x) .. 1024 GB x 0.3725 W/GB
    host_lo, host_hi = (225 + 38) / 8, (225 + 1024 * 0.3725) / 8
    host = (225 + (38 + 1024 * 0.3725) / 2) / 8
    pue, lo_pue, hi_pue = 1.58, 1.08, 1.63  # no operator: the fallback and its range
    kwh = 8 * (acc.tdp_watts * 0.8 + host) * 10 / 1000 * pue
    low = 8 * (acc.tdp_watts * 0.5 + host_lo) * 10 / 1000 * lo_pue
    high = 8 * (acc.tdp_watts * 1.0 + host_hi) * 10 / 1000 * hi_pue
    g = refdata.grid_intensity("FR").g_per_kwh
    assert est.energy.energy_kwh == pytest.approx(kwh, rel=1e-12)
    assert est.energy.energy_low_kwh == pytest.approx(low, rel=1e-12)
    assert est.energy.energy_high_kwh == pytest.approx(high, rel=1e-12)
    assert est.co2e_kg == pytest.approx(kwh * g / 1000, rel=1e-12)
    assert est.co2e_low_kg < est.co2e_kg < est.co2e_high_kg
    assert est.cost_usd == pytest.approx(5.12 * 8 * 10)  # on-demand A100 80 GB (p4de) x 80 GPU-hours
    assert any("PUE 1.58" in a for a in est.assumptions) and any("host CPU + DRAM" in a for a in est.assumptions)


def test_default_range_is_strictly_two_sided_for_every_input_way():
    for kw in ({"gpu": "h100", "count": 64, "seconds": 3600.0}, {"flops": 1e21, "gpu": "tpu v3", "count": 8},
               {"power_watts": 5000.0, "seconds": 3600.0}, {"gpu": "v100", "gpu_hours": 100.0, "region": "US-VA"}):
        est = cb.estimate(**kw)
        assert est.co2e_low_kg < est.co2e_kg < est.co2e_high_kg, kw
        assert est.energy.energy_low_kwh < est.energy.energy_kwh < est.energy.energy_high_kwh, kw


def test_no_region_range_spans_the_world_grids():
    est = cb.estimate(gpu="a100", seconds=3600.0, pue=1.1, power_fraction=0.8)
    lo, hi = refdata.grid_intensity(None).low, refdata.grid_intensity(None).high
    assert lo < 475 < hi
    assert est.co2e_low_kg == pytest.approx(est.energy.energy_low_kwh * lo / 1000, rel=1e-12)
    assert est.co2e_high_kg == pytest.approx(est.energy.energy_high_kwh * hi / 1000, rel=1e-12)


def test_measured_family_power_and_host_included():
    # TPU v3: Patterson et al. 2021 Table 4 system power (host included): mean of 310, 289, 288, 245 W = 283 W.
    est = cb.estimate(gpu="tpu v3", count=1024, seconds=30 * 86400, provider="google", region="US-GA")  # Meena
    f = est.energy.factors
    assert f["accelerator_power_w"]["central"] == pytest.approx(283, rel=1e-5)
    assert (f["accelerator_power_w"]["low"], f["accelerator_power_w"]["high"]) == (pytest.approx(245, rel=1e-5),
                                                                                  pytest.approx(310, rel=1e-5))
    assert f["host_power_w"] == {"low": 0.0, "central": 0.0, "high": 0.0,
                                 "source": "included in the measured system power"}
    assert (f["pue"]["low"], f["pue"]["central"], f["pue"]["high"]) == (1.09, 1.10, 1.12)
    # 1024 x 283 W x 720 h x 1.10 = 229.5 MWh; Meena's measured 232 MWh is inside the range
    assert est.energy.energy_kwh == pytest.approx(1024 * 283 * 720 * 1.10 / 1000, rel=1e-5)
    assert est.energy.energy_low_kwh < 232_000 < est.energy.energy_high_kwh


def test_single_gpu_carries_an_eighth_of_a_host():
    one = cb.estimate(gpu="a100", seconds=3600.0, pue=1.0)
    eight = cb.estimate(gpu="a100", count=8, seconds=3600.0, pue=1.0)
    assert eight.energy.energy_kwh == pytest.approx(8 * one.energy.energy_kwh, rel=1e-12)
    assert one.energy.host_power_watts == pytest.approx((225 + (38 + 1024 * 0.3725) / 2) / 8, rel=1e-12)


def test_gpu_hours_market_and_embodied():
    # Llama 3.1 8B card: 1.46M H100-hours
    est = cb.estimate(gpu="h100", gpu_hours=1.46e6, region="US", provider="meta", cfe=0.25, embodied=True)
    assert est.energy.gpu_hours == pytest.approx(1.46e6) and est.energy.hours == pytest.approx(1.46e6)
    assert est.market["co2e_kg"] == pytest.approx(0.75 * est.co2e_kg, rel=1e-12)
    per_h = (2500 / 8 + 150) / (6 * 8760 * 0.85)  # Luccioni et al. 2022: 0.01035 kg per GPU-hour
    assert est.embodied["kg_per_accelerator_hour"] == pytest.approx(per_h, rel=1e-12)
    assert est.embodied["co2e_kg"] == pytest.approx(per_h * 1.46e6, rel=1e-12)
    assert round(per_h * 1_082_990 / 1000, 1) == 11.2  # BLOOM's 11.2 t for its 1,082,990 GPU-hours
    m = cb.estimate(energy_kwh=100.0, intensity_g_per_kwh=400.0, market_intensity=50.0).market
    assert (m["co2e_kg"], m["location_based_co2e_kg"]) == (5.0, 40.0)
    with pytest.raises(MlcostError, match="not both"):
        cb.estimate(energy_kwh=1.0, market_intensity=1.0, cfe=0.5)
    with pytest.raises(MlcostError, match="--gpu-hours or --hours"):
        cb.estimate(gpu="a100", gpu_hours=10.0, seconds=3600.0)


def test_no_region_is_world_average_assumption():
    est = cb.estimate(energy_kwh=100.0)
    assert est.intensity["value_g_per_kwh"] == 475 and est.co2e_kg == pytest.approx(47.5)
    assert any(a.startswith("no --region: world average 475") for a in est.assumptions)
    assert est.co2e_low_kg < est.co2e_kg < est.co2e_high_kg  # the energy is given; the grid is not


def test_flops_way_uses_compute_default_utilization():
    from mlcost.costs.compute import DEFAULT_UTILIZATION

    acc = refdata.find_accelerator("v100")
    peak, _ = acc.peak_flops(None)
    est = cb.from_flops(1e21, gpu="v100", count=8, region="gcp:europe-west1")
    hours = 1e21 / (8 * peak * DEFAULT_UTILIZATION) / 3600
    assert est.energy.hours == pytest.approx(hours, rel=1e-12)
    assert est.energy.energy_high_kwh > est.energy.energy_kwh > est.energy.energy_low_kwh


def test_equivalents_are_ratios_of_table1():
    est = cb.estimate(energy_kwh=1000.0, intensity_g_per_kwh=400.0)  # 400 kg
    eq = {e["name"]: e["ratio"] for e in est.equivalents}
    assert eq["air_travel_ny_sf"] == pytest.approx(400 * LBS_PER_KG / 1984)
    assert eq["transformer_big_nas"] == pytest.approx(400 * LBS_PER_KG / 626155)


@pytest.mark.parametrize("kwargs,msg", [
    ({"energy_kwh": -1.0}, "must be positive"),
    ({"energy_kwh": 0.0}, "must be positive"),
    ({"energy_kwh": math.nan}, "must be a number"),
    ({"energy_kwh": 3.0, "gpu": "a100"}, "cannot be combined with --gpu"),
    ({"gpu": "a100"}, "needs --hours"),
    ({"gpu": "a100", "seconds": 3600.0, "pue": 0.9}, "at least 1.0"),
    ({"gpu": "a100", "seconds": 3600.0, "power_fraction": 1.5}, "at most 1"),
    ({"gpu": "nonesuch-9000", "seconds": 3600.0}, "unknown accelerator"),
    ({"energy_kwh": 1.0, "region": "atlantis"}, "unknown region"),
    ({"power_watts": 100.0, "seconds": 3600.0, "method": "strubell2019", "region": "FR"}, "fixes PUE 1.58"),
    ({}, "give one input way"),
])
def test_bad_inputs_raise_one_line(kwargs, msg):
    with pytest.raises(MlcostError, match=msg) as info:
        cb.estimate(**kwargs)
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_cli_json_exact(cli):
    res = cli("carbon", "--energy-kwh", "1000", "--intensity", "400", "--price-per-hour", "2", "--hours", "5",
              "--format", "json")
    assert res.exit_code == 0, res.stderr
    d = res.json()
    assert d["schema"] == "mlcost.carbon/1" and d["method"] == "energy"
    assert (d["energy_kwh"], d["co2e_kg"], d["cost_usd"]) == (1000.0, 400.0, 10.0)  # 1000 kWh x 0.4 kg/kWh; $2 x 5 h
    assert d["co2e_lbs"] == pytest.approx(400 * LBS_PER_KG, rel=1e-15)
    assert d["range"] == {"energy_kwh": {"low": 1000.0, "high": 1000.0}, "co2e_kg": {"low": 400.0, "high": 400.0},
                          "cost_usd": {"low": 10.0, "high": 10.0}}
    assert d["intensity"] == {"value_g_per_kwh": 400.0, "region": None, "resolved": "given by --intensity",
                              "source": "user (--intensity)", "year": None, "basis": "as given",
                              "low_g_per_kwh": 400.0, "high_g_per_kwh": 400.0, "notes": []}
    assert d["factors"] == {"intensity_g_per_kwh": {"low": 400.0, "central": 400.0, "high": 400.0,
                                                    "source": "user (--intensity)"}}
    assert (d["market_based"], d["embodied"]) == (None, None)
    assert [e["name"] for e in d["equivalents"]][:2] == ["air_travel_ny_sf", "human_life_year"]


def test_cli_region_names_source_and_year(cli):
    res = cli("carbon", "--gpu", "a100", "--hours", "10", "--region", "aws:us-east-1", "--format", "json")
    d = res.json()
    assert d["intensity"]["year"] == 2023 and "eGRID2023" in d["intensity"]["source"]
    assert "Virginia" in d["intensity"]["resolved"]
    assert any("us-east-1 is in N. Virginia" in a for a in d["assumptions"])
    assert d["factors"]["pue"]["central"] == 1.15 and "aws.amazon.com" in d["factors"]["pue"]["source"]


def test_cli_model_card(cli):
    res = cli("carbon", "--energy-kwh", "1000", "--intensity", "400", "--model-card")
    assert res.stdout.splitlines()[:3] == ["co2_eq_emissions:", "  emissions: 400000",
                                           '  source: "mlcost carbon estimate (energy); intensity: user (--intensity)"']
    assert '  training_type: "pre-training"' in res.stdout and "hardware_used" in res.stdout


def test_cli_compute_json_hand_off_exact(cli, tmp_path):
    f = tmp_path / "c.json"
    c = cli("compute", "--params", "7e9", "--tokens", "1e12", "--gpu", "h100", "--count", "64", "--utilization", "0.4",
            "--precision", "bf16", "--format", "json")
    assert c.exit_code == 0, c.stderr
    f.write_text(c.stdout)
    d = cli("carbon", "--compute-json", f, "--region", "US-VA", "--format", "json").json()
    e = d["energy"]
    # 6 x 7e9 x 1e12 = 4.2e22 FLOPs on 64 H100 at 0.4 x 989.4 TFLOP/s (bf16 dense)
    assert (e["flops"], e["gpu"], e["count"], e["utilization"], e["precision"]) == (4.2e22, "H100-SXM5", 64, 0.4, "bf16")
    assert e["hours"] == pytest.approx(4.2e22 / (64 * 989.4e12 * 0.4) / 3600, rel=1e-12)
    assert d["assumptions"][0] == ("from the compute JSON (params_tokens): gpu=H100-SXM5, count=64, precision=bf16, "
                                   "utilization=0.4, flops=4.2e+22")
    over = cli("carbon", "--compute-json", f, "--count", "128", "--format", "json").json()
    assert over["energy"]["count"] == 128 and over["assumptions"][1] == "--count 128 overrides the compute JSON's 64"
    hw = tmp_path / "hw.json"
    hw.write_text(cli("compute", "--gpu", "a100", "--count", "8", "--hours", "10", "--format", "json").stdout)
    h = cli("carbon", "--compute-json", hw, "--format", "json").json()["energy"]
    assert (h["gpu"], h["count"], h["hours"], h["gpu_hours"], h["flops"]) == ("A100-SXM4-80GB", 8, 10.0, 80.0, None)


def test_cli_compute_json_without_accelerator_needs_gpu(cli, tmp_path):
    f = tmp_path / "c.json"
    f.write_text(cli("compute", "--params", "1e9", "--tokens", "1e9", "--format", "json").stdout)
    res = cli("carbon", "--compute-json", f)
    assert res.exit_code == 2 and "names no accelerator" in res.stderr
    d = cli("carbon", "--compute-json", f, "--gpu", "v100", "--count", "8", "--format", "json").json()
    assert d["energy"]["flops"] == 6e18 and d["energy"]["utilization"] == 0.33


@pytest.mark.parametrize("args", [["--energy-kwh", "-5"], ["--energy-kwh", "nan"], ["--energy-kwh", "0"],
                                  ["--energy-kwh", "3", "--gpu", "a100"], ["--gpu", "zz9", "--hours", "1"],
                                  ["--gpu", "a100", "--hours", "1", "--region", "gcp:mars-1"]])
def test_cli_bad_input_exit_2_one_line(cli, args):
    res = cli("carbon", *args)
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("mlcost: error:")


def test_carbon_imports_no_torch_pandas():
    code = ("import sys; from mlcost.cli import app; from typer.testing import CliRunner;"
            "r = CliRunner().invoke(app, ['carbon', '--gpu', 'a100', '--hours', '10', '--region', 'FR', '--format', 'json']);"
            "assert r.exit_code == 0, r.output;"
            "print(sorted(m for m in ('torch', 'pandas', 'fvcore', 'onnx', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("row", table3_rows(), ids=lambda r: r["name"])
def test_strubell_table3_cloud_cost_from_power_hours_and_gpu(row):
    # --power-watts with --gpu: the power is the paper's, the accelerator prices the job (Table 3's last column).
    gpu, count = row["hardware"].split("x")
    est = cb.estimate(power_watts=float(row["power_watts"]), seconds=float(row["hours"]) * 3600, gpu=gpu,
                      count=int(count), method="strubell2019")
    prices = {r["accelerator"]: r for r in refdata.read_csv("cloud_prices")}[gpu]
    acc_hours = int(count) * float(row["hours"])  # e.g. 8 x 84 = 672 P100-hours for Transformer_big
    assert est.cost_low_usd == pytest.approx(float(prices["price_low_usd_per_hour"]) * acc_hours, rel=1e-12)
    assert est.cost_usd == est.cost_high_usd == pytest.approx(float(prices["price_high_usd_per_hour"]) * acc_hours,
                                                             rel=1e-12)
    assert (round(est.cost_low_usd), round(est.cost_high_usd)) == (int(row["cloud_cost_low_usd"]),
                                                                    int(row["cloud_cost_high_usd"]))
    assert est.energy.energy_kwh == pytest.approx(1.58 * float(row["hours"]) * float(row["power_watts"]) / 1000)


def test_flops_cost_range_follows_the_utilization_range():
    acc = refdata.find_accelerator("h100")
    peak, _ = acc.peak_flops(None)
    est = cb.estimate(flops=8.4e22, gpu="h100", count=64)
    prices = {r["accelerator"]: r for r in refdata.read_csv("cloud_prices")}["H100-SXM5"]
    lo, hi = float(prices["price_low_usd_per_hour"]), float(prices["price_high_usd_per_hour"])
    gpu_h = lambda u: 8.4e22 / (peak * u) / 3600  # accelerator-hours = FLOPs / (peak x utilization)  # noqa: E731
    assert est.cost_usd == pytest.approx(hi * gpu_h(0.33), rel=1e-12)
    assert est.cost_low_usd == pytest.approx(lo * gpu_h(0.50), rel=1e-12)  # fastest end of the range
    assert est.cost_high_usd == pytest.approx(hi * gpu_h(0.25), rel=1e-12)  # slowest end
    priced = cb.estimate(flops=8.4e22, gpu="h100", count=64, price_per_hour=2.0)
    assert (priced.cost_low_usd, priced.cost_high_usd) == (pytest.approx(2 * gpu_h(0.5)), pytest.approx(2 * gpu_h(0.25)))


def test_cli_ledger_measured_runs_are_numbers_with_a_total(cli, tmp_path):
    from mlcost.track import append_row

    ledger = tmp_path / "l.csv"
    append_row(ledger, {"start_time": "t1", "duration_s": "10.5", "energy_kwh": "0.25", "co2e_kg": "0.1",
                        "command": "python -c 'a\nb'", "exit_code": 0})
    append_row(ledger, {"start_time": "t2", "duration_s": "4.5", "energy_kwh": "", "co2e_kg": "",
                        "command": "x", "exit_code": 130, "measurement": "not measured: codecarbon failed"})
    d = cli("carbon", "--energy-kwh", "1", "--ledger", ledger, "--format", "json").json()
    assert [(m["energy_kwh"], m["co2e_kg"], m["duration_s"], m["exit_code"]) for m in d["measured"]] == [
        (0.25, 0.1, 10.5, 0), (None, None, 4.5, 130)]
    assert d["measured_total"] == {"runs": 2, "duration_s": 15.0, "energy_kwh": 0.25, "co2e_kg": 0.1}
    table = cli("carbon", "--energy-kwh", "1", "--ledger", ledger).stdout
    assert "python -c 'a b'" in table  # a multi-line command stays on its row
    assert "total: 2 run(s), 15 s, 0.25 kWh, 0.1 kg CO2e (estimate above: 0.475 kg)" in table


def test_table_writes_large_figures_in_full():
    from mlcost.render.carbon import render_table

    # Table 3 NAS row: 1515.43 W x 274120 h x 1.58 / 1000 = 656,347 kWh; 0.954 x that = 626,155 lbs.
    text = render_table(cb.estimate(power_watts=1515.43, seconds=274120 * 3600, gpu="p100", count=8,
                                    method="strubell2019"))
    assert "656,347 kWh" in text and "626,155 lbs" in text and "$3,201,722  (range $942,973–$3,201,722)" in text


def test_cli_compute_json_without_a_key_and_utilization_without_flops_read_plainly(cli, tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"schema": "mlcost.compute/1", "accelerator": "h100", "count": 8, "hours": 5}')
    r = cli("carbon", "--compute-json", f)
    # was "malformed mlcost compute estimate: KeyError: 'flops'"
    assert (r.exit_code, r.stderr.strip()) == (2, "mlcost: error: malformed mlcost compute estimate: no 'flops' key")
    r = cli("carbon", "--gpu", "h100", "--hours", "5", "--utilization", "0.3")
    assert (r.exit_code, r.stderr.strip()) == (2, "mlcost: error: --utilization only applies with --flops")


def test_cli_flops_at_a_tiny_utilization_does_not_blame_an_hours_never_given(cli):
    r = cli("carbon", "--gpu", "h100", "--flops", "1e29", "--utilization", "1e-29")
    # was "--hours is out of range (more than 1e+30), got 2.80754e+39" with no --hours on the line
    assert (r.exit_code, r.stderr.strip()) == (2, "mlcost: error: the hours --flops takes at the lowest --utilization "
                                                  "is out of range (more than 1e+30), got 2.80754e+39")


@pytest.mark.parametrize("price", [[], ["--price-per-hour", "3"]])
def test_the_cost_is_stated_once(cli, price):
    """The table view listed the price twice: 'cost at the on-demand $5.12/accelerator-hour of A100-SXM4-80GB'
    and 'cost: A100-SXM4-80GB: $5.12 per accelerator-hour, 2024'.  One assumption line says the price and its
    source, in every view (and the JSON keeps its cost.source)."""
    for view in ([], ["--explain"], ["-f", "markdown"]):
        r = cli("carbon", "--gpu", "a100", "--hours", "2", *price, *view, env={"COLUMNS": "80"})
        assert r.exit_code == 0, r.stderr
        bullets = [line for line in r.stdout.splitlines() if line.startswith("- cost")]
        assert len(bullets) == 1, r.stdout
        usd = "$6" if price else "$10.2"  # 2 h x $3, or 2 h x $5.12 = $10.24 (p4de on-demand $40.96 / 8 GPUs)
        assert (f"| cost | {usd} |" if view == ["-f", "markdown"] else f"cost                {usd}") in r.stdout
    if price:
        assert bullets == ["- cost: --price-per-hour $3 x 2 accelerator-hours (as given; no reference price used)"]
    else:
        assert bullets[0].startswith("- cost at the on-demand $5.12/accelerator-hour of A100-SXM4-80GB (2024) "
                                     "(estimate); one price recorded, no range; AWS EC2 p4de.24xlarge")
    r = cli("carbon", "--gpu", "a100", "--hours", "2", *price, "-f", "json")
    assert r.json()["cost"]["source"].startswith("--price-per-hour 3 USD" if price else "A100-SXM4-80GB: $5.12")
