"""A real 2-node job on one machine: two `mlcost track` processes, each wrapping `torchrun --nnodes 2
--node-rank K --nproc-per-node 2` on gloo, into one ledger folder; inside the same job, the Python API
(`mlcost.tracking`) over the job's own process group writes one row for all 4 processes.

Energy comes from codecarbon's real code path (OfflineEmissionsTracker; on a machine without RAPL or
GPUs it models CPU power from load and RAM from its size, as the rows' `measurement` says).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlcost.ledger import read_ledger

torch = pytest.importorskip("torch")

JOB = """\
import json, sys
import torch, torch.distributed as dist
import mlcost

dist.init_process_group("gloo")
with mlcost.tracking(ledger=sys.argv[1], region="FR") as t:
    x = torch.ones(1) * (dist.get_rank() + 1)
    dist.all_reduce(x)
assert x.item() == 10, x  # 1 + 2 + 3 + 4
if dist.get_rank() == 0:
    print("API", json.dumps({"row": t.row, "parts": t.parts}), flush=True)
try:  # one rank fails inside the block: every rank still leaves it together, rank 0 records how
    with mlcost.tracking(ledger=sys.argv[1], region="FR", label="fails"):
        if dist.get_rank() == 3:
            raise ValueError("rank 3 failed")
except ValueError:
    pass
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_"))}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_two_node_torchrun_job_is_one_run_in_the_summary(tmp_path, cli):
    job = tmp_path / "job.py"
    job.write_text(JOB)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    estimate = tmp_path / "estimate.json"
    estimate.write_text(cli("carbon", "--energy-kwh", "0.002", "--format", "json").stdout)
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    port = _free_port()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "mlcost", "track", "--region", "FR", "--ledger", str(ledger), "--estimate", str(estimate),
         "--", torchrun, "--nnodes", "2", "--node-rank", str(k), "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(port), str(job), str(tmp_path / "api.csv")],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:  # mlcost forwards SIGTERM to torchrun's process group: nothing is left behind
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.communicate(timeout=30)
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]

    # The ledger folder: one file for this host, one row per node (their `running` rows replaced).
    assert [f.name for f in ledger.iterdir()] == [f"{socket.gethostname()}.csv"]
    rows = sorted(read_ledger(ledger), key=lambda r: r["node"])
    assert [(r["node"], r["processes"], r["ended"], r["run_id"]) for r in rows] == [
        ("0", "2", "exit 0", f"torchrun@127.0.0.1:{port}"), ("1", "2", "exit 0", f"torchrun@127.0.0.1:{port}")]
    assert all(r["measurement"].startswith("codecarbon") and float(r["energy_kwh"]) > 0 for r in rows)

    [run] = cli("track", "--summary", ledger, "--by", "run", "--format", "json").json()["groups"]
    energy = float(rows[0]["energy_kwh"]) + float(rows[1]["energy_kwh"])
    assert (run["run"], run["nodes"], run["processes"], run["failed"], run["flags"]) == (
        f"torchrun@127.0.0.1:{port}", 2, 4, 0, [])
    assert run["energy_kwh"] == pytest.approx(energy, rel=1e-12)  # the sum of the node rows
    assert run["co2e_kg"] == pytest.approx(energy * 56.039 / 1000, rel=1e-6)  # France 2023, g/kWh
    assert run["wall_s"] == max(float(r["duration_s"]) for r in rows)
    assert run["estimate_energy_kwh"] == 0.002  # --energy-kwh 0.002 without --pue: the energy at the machine
    assert run["measured_over_estimated"] == pytest.approx(energy / 0.002, rel=1e-12)
    table = cli("track", "--summary", ledger, "--by", "run").stdout
    assert f"torchrun@127.0.0.1:{port}       2" in table and "measured / estimated" in table

    # The Python API inside the same job: one row for the job, from the one measuring rank of each node.
    [api_line] = [line for line in outs[0][0].splitlines() + outs[1][0].splitlines() if line.startswith("API ")]
    api = json.loads(api_line[4:])
    row, failed = read_ledger(tmp_path / "api.csv")
    assert (failed["exit_code"], failed["ended"], failed["processes"]) == ("1", "rank 3: raised ValueError", "4")
    assert (row["node"], row["processes"], row["exit_code"], row["ended"]) == ("0 1", "4", "0", "exit 0")
    assert [p["measured"] for p in api["parts"]] == [True, False, True, False]  # global ranks 0 and 2: local rank 0
    measured = [p["energy"] for p in api["parts"] if p["measured"]]
    assert float(row["energy_kwh"]) == pytest.approx(sum(measured), rel=1e-8) and all(e > 0 for e in measured)
    assert api["row"]["track_id"] == row["track_id"]
