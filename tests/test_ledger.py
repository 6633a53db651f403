"""The ledger itself: concurrent writers, torn and short writes, version-1 files, folders, run totals."""
from __future__ import annotations

import multiprocessing as mp
import os
import socket

import pytest

from mlcost import ledger as lg
from mlcost.errors import InputError, UsageError
from mlcost.ledger_summary import summarize
from mlcost.runinfo import comparable_command, identify

V1_HEADER = "start_time,duration_s,energy_kwh,co2e_kg,intensity_g_per_kwh,region,command,exit_code,git_commit,measurement"
V1_ROWS = ['2024-01-01T00:00:00+00:00,10.0,0.5,0.25,500,US,"python a.py, b",0,abc,codecarbon',
           "2024-01-02T00:00:00+00:00,20.0,1.5,0.75,500,US,python c.py,1,abc,codecarbon"]


def _writer(path, barrier, w, n):
    barrier.wait()  # all 20 start appending at once
    for i in range(n):
        lg.append_row(path, {"run_id": f"w{w}", "node": str(w), "command": f'python -c "print({i})",\n"x"' + "y" * 300,
                             "exit_code": i, "track_id": f"{w}-{i}", "ended": "exit 0", "energy_kwh": w + i / 100})


@pytest.mark.parametrize("start", ["empty folder", "version-1 file"])
def test_twenty_concurrent_writers_lose_and_interleave_nothing(tmp_path, start):
    """20 processes x 10 rows; rows hold commas, quotes, newlines and 300+ bytes.  From a version-1 file,
    the writers also race to upgrade it: exactly one does, the others wait for the new file."""
    if start == "empty folder":
        path = lg.target(tmp_path)
        assert path == tmp_path / f"{socket.gethostname()}.csv"
    else:
        path = tmp_path / "old.csv"
        path.write_text(V1_HEADER + "\n" + "\n".join(V1_ROWS) + "\n")
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(20)
    procs = [ctx.Process(target=_writer, args=(path, barrier, w, 10)) for w in range(20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 20
    rows = lg.read_ledger(tmp_path if start == "empty folder" else path)
    new = [r for r in rows if r["schema"] == lg.SCHEMA]
    assert sorted((r["node"], r["exit_code"]) for r in new) == sorted((str(w), str(i)) for w in range(20) for i in range(10))
    assert all(r["command"] == f'python -c "print({r["exit_code"]})",\n"x"' + "y" * 300 for r in new)
    assert all(float(r["energy_kwh"]) == int(r["node"]) + int(r["exit_code"]) / 100 for r in new)
    text = path.read_text()
    assert text.count("run_id,node,") == 1 and text.startswith(",".join(lg.FIELDS) + "\n")
    if start == "version-1 file":  # both old rows kept, marked version 1, new columns empty
        old = [r for r in rows if r["schema"] == "mlcost.ledger/1"]
        assert [(r["command"], r["energy_kwh"], r["run_id"]) for r in old] == [("python a.py, b", "0.5", ""),
                                                                            ("python c.py", "1.5", "")]
        assert len(rows) == 202 and not list(tmp_path.glob(".*upgrade"))


def test_a_version_1_ledger_reads_and_sums_as_before(tmp_path, cli):
    path = tmp_path / "old.csv"
    path.write_text(V1_HEADER + "\n" + "\n".join(V1_ROWS) + "\n")
    d = cli("track", "--summary", path, "--by", "commit", "--format", "json").json()
    assert [(g["commit"], g["runs"], g["failed"], g["energy_kwh"]) for g in d["groups"]] == [("abc", 2, 1, 2.0)]
    assert path.read_text() == V1_HEADER + "\n" + "\n".join(V1_ROWS) + "\n"  # reading never rewrites


@pytest.mark.parametrize("torn", ["b,0,host,1,2024-01-01", 'b,0,host,1,2024-01-01,,,,,US,"python -c \'x'])
def test_torn_row_is_skipped_and_the_rows_after_it_kept(tmp_path, torn):
    """A writer killed mid-row (an NFS client losing its server); the second tear opened a quote that a
    plain CSV reader would run on through every later row."""
    path = tmp_path / "l.csv"
    lg.append_row(path, {"run_id": "a", "track_id": "1", "ended": "exit 0", "command": 'python -c "1,\n2"'})
    with open(path, "a") as fh:
        fh.write(torn)
    for rid in "cd":
        lg.append_row(path, {"run_id": rid, "track_id": rid, "ended": "exit 0", "command": f"python {rid}.py"})
    assert [(r["run_id"], r["command"]) for r in lg.read_ledger(path)] == [
        ("a", 'python -c "1,\n2"'), ("c", "python c.py"), ("d", "python d.py")]


def test_short_write_on_a_full_disk_is_taken_back(tmp_path, monkeypatch):
    path = tmp_path / "l.csv"
    lg.append_row(path, {"run_id": "a", "track_id": "1", "ended": "exit 0"})
    before = path.read_bytes()
    real_write = os.write
    monkeypatch.setattr(lg.os, "write", lambda fd, data: real_write(fd, data[:7]))  # ENOSPC after 7 bytes
    with pytest.raises(OSError, match="only 7 of"):
        lg.append_row(path, {"run_id": "b", "track_id": "2", "ended": "exit 0"})
    assert path.read_bytes() == before


def test_running_row_without_an_end_says_so(tmp_path):
    path = tmp_path / "l.csv"
    for tid, ended in (("1", lg.RUNNING), ("2", lg.RUNNING), ("1", "exit 0")):
        lg.append_row(path, {"run_id": "r", "node": tid, "track_id": tid, "ended": ended})
    assert [(r["node"], r["ended"]) for r in lg.read_ledger(path)] == [("2", lg.NO_END), ("1", "exit 0")]
    assert len(lg.read_rows(path)) == 3


def test_special_files_are_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        lg.read_ledger(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        lg.check_ledger(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        lg.append_row(fifo, {"run_id": "x"})
    with pytest.raises(InputError, match="not a regular file"):
        lg.check_ledger("/dev/null")


def test_run_identity_sources_in_order():
    tr = ["torchrun", "--nnodes=2", "--node_rank", "1", "--nproc-per-node", "4", "--master-addr", "10.0.0.1",
          "--master_port=1234", "train.py", "--node-rank", "7"]
    i = identify(tr, env={})
    assert (i.run_id, i.node, i.processes) == ("torchrun@10.0.0.1:1234", "1", 4)  # the script's own --node-rank ignored
    i = identify(tr + [], env={"SLURM_JOB_ID": "991", "SLURM_NODEID": "3", "SLURM_NTASKS_PER_NODE": "2(x3)"})
    assert (i.run_id, i.run_id_source, i.node, i.processes) == ("991", "SLURM_JOB_ID", "3", 4)
    i = identify(["python", "-m", "torch.distributed.run", "--rdzv-id", "job7", "--nnodes", "1:4", "t.py"], env={})
    assert (i.run_id, i.run_id_source, i.node_source, i.processes) == ("job7", "torchrun --rdzv-id", "host name", None)
    i = identify(["python", "t.py"], run_id="mine", node="n1",
                 env={"TORCHELASTIC_RUN_ID": "te", "SLURM_NTASKS_PER_NODE": "8"})
    assert (i.run_id, i.node, i.processes, i.processes_source) == ("mine", "n1", 8, "SLURM_NTASKS_PER_NODE")
    assert identify(["python", "t.py"], env={"TORCHELASTIC_RUN_ID": "te"}).run_id == "te"
    single = identify(["torchrun", "--nproc-per-node", "2", "t.py"], env={})  # one node: no shared endpoint id
    assert len(single.run_id) == 12 and single.run_id_source == "fresh" and single.node == socket.gethostname()
    with pytest.raises(UsageError):
        identify(["python"], node="a b")
    assert identify(["torchrun", "--node-rank", "0 1", "--nnodes", "2", "t.py"], env={}).node == "0_1"  # one word
    assert comparable_command("torchrun --node-rank 1 --nnodes 2 t.py") == "torchrun --nnodes 2 t.py"
    assert comparable_command("torchrun --node_rank=0 --nnodes 2 t.py") == "torchrun --nnodes 2 t.py"


def _row(run, node, start, dur, kwh, **kw):
    return {"run_id": run, "node": node, "start_time": start, "duration_s": str(dur), "energy_kwh": str(kwh),
            "co2e_kg": str(kwh / 2), "processes": "2", "exit_code": "0", "ended": "exit 0", "gpus": "8",
            "command": f"torchrun --node-rank {node} t.py", "git_commit": "c1", **kw}


def test_run_totals_split_a_reused_endpoint_and_flag_disagreement():
    ep = "torchrun@10.0.0.1:29500"
    rows = [_row(ep, "0", "2024-01-01T00:00:00+00:00", 100, 1.0), _row(ep, "1", "2024-01-01T00:00:05+00:00", 90, 2.0),
            # the same endpoint an hour later: another job
            _row(ep, "0", "2024-01-01T01:00:00+00:00", 10, 0.5), _row(ep, "1", "2024-01-01T01:00:01+00:00", 10, 0.25,
                                                                     git_commit="c2"),
            _row("j", "0", "2024-01-02T00:00:00+00:00", 10, 1.0, estimate_energy_kwh="4"),
            _row("j", "0", "2024-01-02T00:00:00+00:00", 10, 1.0, estimate_energy_kwh="4", command="python other.py")]
    first, second, j = summarize(rows, "run")
    assert (first["nodes"], first["processes"], first["wall_s"], first["energy_kwh"], first["flags"]) == (
        2, 4, 100.0, 3.0, [])
    assert first["gpu_hours"] == pytest.approx(8 * (100 + 90) / 3600)  # 8 GPUs x node seconds / 3600
    assert second["energy_kwh"] == 0.75 and second["flags"] == ["nodes disagree on the git commit (c1, c2)"]
    assert j["flags"] == ["nodes disagree on the command (2 different)",
                          "node 0 reported more than once (each track measures its whole machine)"]
    assert (j["estimate_energy_kwh"], j["measured_over_estimated"]) == (4.0, 0.5)  # 2 kWh / 4 kWh, counted once
    by_commit = summarize(rows, "commit")
    assert [(g["commit"], g["runs"], g["energy_kwh"], g["measured_over_estimated"]) for g in by_commit] == [
        ("c1", 3, 5.75, 0.5)]


def test_fallback_goes_to_a_private_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = lg.write_fallback({"run_id": "r", "exit_code": 3})
    assert path == tmp_path / "state" / "mlcost" / "unsaved-ledger-rows.csv"
    assert [r["exit_code"] for r in lg.read_ledger(path)] == ["3"]
    assert (path.parent.stat().st_mode & 0o777) == 0o700


def test_carbon_ledger_reads_a_folder_with_typed_new_columns(tmp_path, cli):
    lg.append_row(lg.target(tmp_path), {"run_id": "r", "node": "0", "processes": 2, "gpus": 8, "energy_kwh": 0.5,
                                        "estimate_energy_kwh": 1.5, "exit_code": 0, "ended": "exit 0", "track_id": "t"})
    [m] = cli("carbon", "--energy-kwh", "1", "--ledger", tmp_path, "--format", "json").json()["measured"]
    assert (m["processes"], m["gpus"], m["energy_kwh"], m["estimate_energy_kwh"], m["schema"]) == (
        2, 8, 0.5, 1.5, "mlcost.ledger/2")


def test_gpus_measured_follows_the_gpus_codecarbon_monitors():
    from mlcost.track import gpus_measured

    class GPU:  # codecarbon.external.hardware.GPU's two attributes that say how many it measures
        def __init__(self, ids, n):
            self.gpu_ids, self.num_gpus = ids, n

    class CPU:
        pass

    tracker = type("T", (), {"_hardware": [CPU(), GPU([0, 3], 8)]})()
    assert gpus_measured(tracker) == 2  # CUDA_VISIBLE_DEVICES=0,3 on an 8-GPU host
    tracker._hardware = [GPU(None, 8)]
    assert gpus_measured(tracker) == 8


def test_run_summary_table_fits_80_columns_and_lists_flags(tmp_path):
    from mlcost.render.ledger import render_summary

    ep = "torchrun@127.0.0.1:54437"
    rows = [_row(ep, "0", "2024-01-01T00:00:00+00:00", 30.7, 0.000226311, estimate_energy_kwh="0.002"),
            _row(ep, "1", "2024-01-01T00:00:00+00:00", 30.71, 0.000226330, estimate_energy_kwh="0.002", exit_code="1")]
    # laid out by layout.table like every other table (it was laid out by hand): numbers right-aligned, a rule
    # under the header; at 80 columns the 24-character run id stays whole and 'procs' is the column left out
    text = render_summary(summarize(rows, "run"), "run", "table", width=81)
    assert text.splitlines() == [
        "run                        nodes   procs   wall_s         kWh     kg CO2e   GPU-h",
        "─" * 81,
        "torchrun@127.0.0.1:54437       2       4     30.7   0.0004526   0.0002263   0.136",  # 8 GPUs x 61.41 s / 3600
        "torchrun@127.0.0.1:54437: measured / estimated 0.23 (0.0004526 / 0.002 kWh)",  # 0.0004526 / 0.002
        "torchrun@127.0.0.1:54437: 1 node(s) ended with a non-zero exit code"]
    text = render_summary(summarize(rows, "run"), "run", "table", width=80)
    assert text.splitlines()[:4] == [
        "run                        nodes   wall_s         kWh     kg CO2e   GPU-h",
        "─" * 73,
        "torchrun@127.0.0.1:54437       2     30.7   0.0004526   0.0002263   0.136",
        "not shown: procs (widen the terminal, or -f json)"]
    assert max(map(len, text.splitlines())) <= 80


def test_summary_table_is_layouts_at_every_width():
    """--by command at 80: the table helper's columns; at 60 'failed' and 'duration_s' go first, named; at 40
    (the hand-laid table overflowed there) each group is its command, then its figures."""
    from mlcost.render.ledger import render_summary

    rows = [_row("r1", "0", "2024-01-01T00:00:00+00:00", 30.7, 0.000226311, estimate_energy_kwh="0.002")]
    groups = summarize(rows, "command")
    assert render_summary(groups, "command", "table", width=80).splitlines() == [
        "command         runs   failed   duration_s   energy_kwh     co2e_kg   meas/est",
        "─" * 78,
        "torchrun t.py      1        0         30.7    0.0002263   0.0001132       0.11",  # 0.0002263 / 0.002
        "meas/est: measured kWh / --estimate kWh at the machine (before PUE)"]
    assert "not shown: failed, duration_s" in render_summary(groups, "command", "table", width=60)
    narrow = render_summary(groups, "command", "table", width=40).splitlines()
    assert narrow[:4] == ["torchrun t.py", "  runs 1, failed 0, duration_s 30.7,", "  energy_kwh 0.0002263, co2e_kg",
                          "  0.0001132, meas/est 0.11"]
    assert max(map(len, narrow)) <= 40


def test_summary_keeps_failed_when_a_run_failed():
    """--by command at 60 columns dropped 'failed' with the rest, so a failed run showed nowhere (--by run flags it
    under the table); while a group has a failure the column stays, and duration_s goes alone."""
    from mlcost.render.ledger import render_summary

    rows = [_row("r1", "0", "2024-01-01T00:00:00+00:00", 30.7, 0.000226311, exit_code="1")]
    text = render_summary(summarize(rows, "command"), "command", "table", width=60).splitlines()
    assert text[0].split() == ["command", "runs", "failed", "energy_kwh", "co2e_kg"]
    assert text[2].split()[-4:-2] == ["1", "1"]  # 1 run, 1 failed
    assert "not shown: duration_s (widen the terminal, or -f json)" in text
    assert max(map(len, text)) <= 60


def test_summary_of_a_ledger_with_no_runs_says_so():
    """An empty ledger printed the table's header and rule and nothing under them."""
    from mlcost.render.ledger import render_summary

    assert render_summary([], "command", "table", width=80) == "no runs in this ledger yet\n"
    assert render_summary([], "run", "json", width=80).count('"groups": []') == 1


def test_options_that_do_not_apply_are_usage_errors(tmp_path, cli):
    lg.append_row(tmp_path / "l.csv", {"run_id": "r", "track_id": "t", "ended": "exit 0"})
    res = cli("track", "--summary", tmp_path / "l.csv", "--region", "FR", "--ledger", "x.csv")
    assert res.exit_code == 2 and "--region, --ledger apply to a tracked command, not to --summary" in res.stderr
    res = cli("track", "--by", "run", "--", "true")
    assert res.exit_code == 2 and "--by applies to --summary, not to a tracked command" in res.stderr
    assert cli("track", "--summary", tmp_path / "l.csv", "--by", "run", "-f", "json").json()["groups"][0]["run"] == "r"


@pytest.mark.parametrize("cells, message", [
    # a 1e29 kWh run over a 1e-300 kWh estimate: the table printed 'inf' as measured / estimated and
    # --format json failed on "Out of range float values"
    (("1", "1e29", "1e-300"), "ledger cell: '1e-300' is out of range (non-zero and less than 1e-30 in magnitude)"),
    # negative durations and energies were summed into the totals
    (("-5", "1", ""), "ledger cell '-5' must be zero or positive, got -5"),
    (("1", "-1", ""), "ledger cell '-1' must be zero or positive, got -1"),
])
def test_summary_refuses_cells_that_no_sum_or_ratio_can_take(tmp_path, cli, cells, message):
    duration, energy, estimate = cells
    path = tmp_path / "l.csv"
    path.write_text(",".join(lg.FIELDS) + "\n" + ",".join({
        "run_id": "r1", "node": "n", "host": "h", "processes": "1", "start_time": "2026-12-02T02:39:29+00:00",
        "duration_s": duration, "energy_kwh": energy, "co2e_kg": "1", "intensity_g_per_kwh": "475",
        "region": "world average", "command": "true", "exit_code": "0", "ended": "exit 0", "gpus": "0",
        "measurement": "x", "estimate_energy_kwh": estimate, "estimate_source": "e" if estimate else "",
        "track_id": "t1", "schema": "mlcost.ledger/2"}.get(f, "") for f in lg.FIELDS) + "\n")
    for fmt in ("table", "json"):
        res = cli("track", "--summary", path, "--format", fmt)
        assert (res.exit_code, res.stderr.strip()) == (2, f"mlcost: error: {message}"), res.stderr


def test_an_empty_node_is_refused_like_an_empty_run_id(tmp_path, cli):
    # --node '' was taken as no --node: the row was filed under the host name without a word
    res = cli("track", "--ledger", tmp_path / "l.csv", "--node", "", "--", "true")
    assert (res.exit_code, res.stderr.strip()) == (
        2, "mlcost: error: --node '': use 1-128 letters, digits or . _ : @ + - (no spaces or commas)")
    assert not (tmp_path / "l.csv").exists()
    with pytest.raises(UsageError, match="--node ''"):
        identify(["true"], node="", env={})
