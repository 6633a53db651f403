"""The Python API (mlcost.tracking / mlcost.tracked) without torch.distributed, and --estimate.

The measurement boundary is stubbed here (a tracker reporting a fixed kWh) so the rows can be checked
exactly; codecarbon's real path is exercised by tests/test_track*.py.
"""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import mlcost
import mlcost.ledger_summary
import mlcost.track as tr
from mlcost.errors import InputError
from mlcost.ledger import read_ledger


class FakeTracker:
    _hardware = ()

    def __init__(self, kwh: float) -> None:
        self.final_emissions_data = type("E", (), {"energy_consumed": kwh})()

    def stop(self) -> None:
        pass


@pytest.fixture
def fake_kwh(monkeypatch):
    started = []

    def start(iso3, outdir, quiet_loggers=True):
        started.append((iso3, quiet_loggers))
        return FakeTracker(0.5)

    monkeypatch.setattr(tr, "start_tracker", start)
    return started


def test_tracking_block_writes_the_same_row_as_the_command(tmp_path, fake_kwh):
    ledger = tmp_path / "l.csv"
    with mlcost.tracking(ledger=ledger, region="FR", run_id="r1", estimate=2.0) as t:
        assert [r["ended"] for r in read_ledger(ledger)] == ["no end recorded (still running, or mlcost was killed)"]
    assert fake_kwh == [("FRA", False)]  # the API leaves the caller's loggers alone
    [row] = read_ledger(ledger)
    assert (row["run_id"], row["processes"], row["exit_code"], row["ended"], row["energy_kwh"]) == (
        "r1", "1", "0", "exit 0", "0.5")
    assert float(row["co2e_kg"]) == pytest.approx(0.5 * 56.039 / 1000, rel=1e-8)  # France 2023
    assert t.energy_kwh == 0.5 and t.row["written_to"] == str(ledger) and row["estimate_energy_kwh"] == "2"


def test_tracked_decorator_records_a_raising_call_and_reraises(tmp_path, fake_kwh):
    ledger = tmp_path / "runs"

    @mlcost.tracked(ledger=f"{ledger}/", region="FR")  # 'DIR/': a ledger folder, created on first use
    def train(n):
        if n:
            raise ValueError("boom")
        return "ok"

    assert train(0) == "ok"
    with pytest.raises(ValueError, match="boom"):
        train(1)
    rows = read_ledger(ledger)
    assert [(r["exit_code"], r["ended"]) for r in rows] == [("0", "exit 0"), ("1", "raised ValueError")]
    assert [f.name for f in ledger.iterdir()] == [f"{socket.gethostname()}.csv"]
    assert all(r["command"].endswith(" [test_tracked_decorator_records_a_raising_call_and_reraises.<locals>.train]")
               for r in rows)


def test_unwritable_ledger_fails_before_the_block_runs(tmp_path, fake_kwh):
    foreign = tmp_path / "notes.csv"
    foreign.write_text("a,b\n")
    ran = []
    with pytest.raises(InputError, match="not an mlcost ledger"):
        with mlcost.tracking(ledger=foreign):
            ran.append(1)
    assert ran == [] and fake_kwh == [] and foreign.read_text() == "a,b\n"


def test_estimate_from_carbon_or_compute_json(tmp_path, cli, fake_kwh):
    carbon = tmp_path / "carbon.json"
    carbon.write_text(cli("carbon", "--energy-kwh", "2", "--format", "json").stdout)
    code, row = tr.run([sys.executable, "-c", "pass"], region="FR", ledger=tmp_path / "l.csv", estimate=carbon)
    assert code == 0 and row["estimate_energy_kwh"] == "2" and row["estimate_source"].endswith("carbon.json")
    compute = tmp_path / "compute.json"
    compute.write_text(cli("compute", "--params", "1e6", "--tokens", "1e9", "--gpu", "a100", "--format", "json").stdout)
    same = cli("carbon", "--compute-json", compute, "--gpu", "a100", "--region", "FR", "--format", "json").json()
    _, row = tr.run([sys.executable, "-c", "pass"], region="FR", ledger=tmp_path / "l.csv", estimate=compute)
    # the energy `mlcost carbon` estimates for those FLOPs on that accelerator, before PUE (at the machine)
    assert float(row["estimate_energy_kwh"]) == pytest.approx(same["energy"]["it_energy_kwh"], rel=1e-8)
    d = cli("track", "--summary", tmp_path / "l.csv", "--format", "json").json()
    # one command, two runs: (0.5 + 0.5) kWh measured / (2 + the compute estimate) kWh estimated
    assert [g["measured_over_estimated"] for g in d["groups"]] == [
        pytest.approx(1.0 / (2 + float(row["estimate_energy_kwh"])), rel=1e-8)]
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "mlcost.profile/1"}')
    res = cli("track", "--ledger", tmp_path / "m.csv", "--estimate", bad, "--", sys.executable, "-c", "pass")
    assert res.exit_code == 2 and "not mlcost carbon or compute JSON" in res.stderr
    assert not (tmp_path / "m.csv").exists()  # refused before anything ran or was written


def test_import_mlcost_and_the_api_names_stay_light():
    code = ("import sys, mlcost; mlcost.tracking; mlcost.tracked; import mlcost.track, mlcost.ledger_summary; "
            "print(sorted(m for m in ('torch', 'codecarbon', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == "[]\n", out.stderr


def _one_track(ledger, barrier, i):
    barrier.wait()
    tr.run([sys.executable, "-c", f"raise SystemExit({i % 3})"], ledger=ledger, run_id=f"r{i}")


def test_twenty_concurrent_tracks_each_leave_one_final_row(tmp_path, fake_kwh):
    """20 `track.run`s at once (real CMD processes; the stubbed tracker stands in for codecarbon's start-up,
    which would take minutes 20 times over on two cores): 40 rows written, 20 runs read back whole."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")  # the children inherit the stub
    barrier = ctx.Barrier(20)
    procs = [ctx.Process(target=_one_track, args=(tmp_path, barrier, i)) for i in range(20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 20
    from mlcost.ledger import read_rows

    assert len(read_rows(tmp_path)) == 40  # a running row and a final row per track
    rows = read_ledger(tmp_path)
    assert sorted((r["run_id"], r["exit_code"], r["ended"], r["energy_kwh"]) for r in rows) == sorted(
        (f"r{i}", str(i % 3), f"exit {i % 3}", "0.5") for i in range(20))
    summary = {g["run"]: g for g in mlcost.ledger_summary.summarize(rows, "run")}
    assert len(summary) == 20 and all(g["nodes"] == 1 for g in summary.values())
    assert [i for i in range(20) if summary[f"r{i}"]["flags"] == ["1 node(s) ended with a non-zero exit code"]] == [
        i for i in range(20) if i % 3]


def test_run_id_must_be_printable():
    from mlcost.errors import UsageError
    from mlcost.runinfo import identify

    with pytest.raises(UsageError, match="printable"):
        identify(["python"], run_id="a\nb")
    with pytest.raises(UsageError, match="printable"):
        identify(["python"], run_id="x" * 257)
