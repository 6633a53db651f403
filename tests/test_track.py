"""mlcost track with real processes: energy > 0, failures and SIGINT keep their row, concurrent appends."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlcost.errors import InputError
from mlcost.track import LEDGER_FIELDS, append_row, read_ledger, summarize

BUSY = "import time\nt = time.time()\nwhile time.time() - t < {s}: pass\nprint('done')"


def _track(ledger: Path, *cmd: str, region: str = "FR", **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlcost", "track", "--region", region, "--ledger", str(ledger), "--",
                             *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_short_workload_writes_row_with_energy_and_streams_output(tmp_path):
    ledger = tmp_path / "ledger.csv"
    p = _track(ledger, sys.executable, "-c", BUSY.format(s=2), cwd=tmp_path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert out == "done\n"  # CMD's output, unchanged
    [row] = read_ledger(ledger)
    assert float(row["energy_kwh"]) > 0 and float(row["co2e_kg"]) > 0
    assert float(row["co2e_kg"]) == pytest.approx(float(row["energy_kwh"]) * 56.039 / 1000, rel=1e-6)  # France 2023
    assert float(row["duration_s"]) >= 2 and row["exit_code"] == "0" and row["region"].startswith("FR (France")
    assert row["measurement"].startswith("codecarbon")
    assert sorted(os.listdir(tmp_path)) == ["ledger.csv"]  # codecarbon wrote nothing into the cwd


def test_failing_command_keeps_row_and_exit_code(tmp_path):
    ledger = tmp_path / "l.csv"
    p = _track(ledger, sys.executable, "-c", "import sys; sys.exit(7)")
    p.communicate(timeout=120)
    assert p.returncode == 7
    assert [r["exit_code"] for r in read_ledger(ledger)] == ["7"]


def test_sigint_reaches_command_and_row_is_kept(tmp_path):
    ledger = tmp_path / "l.csv"
    p = _track(ledger, sys.executable, "-c", "print('ready', flush=True)\n" + BUSY.format(s=30), start_new_session=True)
    assert p.stdout.readline() == "ready\n"  # CMD runs: mlcost's handlers are in place (a fixed sleep races a loaded CPU)
    os.kill(p.pid, signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode == 130  # like the command: killed by SIGINT -> 128 + 2
    [row] = read_ledger(ledger)
    assert row["exit_code"] == "130" and float(row["duration_s"]) < 30


def test_two_concurrent_tracks_append_two_intact_rows(tmp_path):
    ledger = tmp_path / "l.csv"
    procs = [_track(ledger, sys.executable, "-c", f"print({i})") for i in range(2)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    rows = read_ledger(ledger)
    assert sorted(("print(0)" in r["command"], "print(1)" in r["command"]) for r in rows) == [(False, True), (True, False)]
    assert ledger.read_text().count("start_time,") == 1  # header written once


def test_many_concurrent_appends_in_process_are_intact(tmp_path):
    import multiprocessing as mp

    ledger = tmp_path / "l.csv"
    with mp.get_context("fork").Pool(4) as pool:
        pool.starmap(append_row, [(ledger, {"start_time": f"t{i}", "command": "x," * 50, "exit_code": i})
                                  for i in range(40)])
    rows = list(csv.DictReader(ledger.open()))
    assert sorted(int(r["exit_code"]) for r in rows) == list(range(40))
    assert all(list(r) == list(LEDGER_FIELDS) and r["command"] == "x," * 50 for r in rows)


def test_foreign_ledger_is_never_overwritten(tmp_path):
    ledger = tmp_path / "notes.csv"
    ledger.write_text("name,value\na,1\n")
    p = _track(ledger, sys.executable, "-c", "print('should not run')")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "not an mlcost ledger" in err and "should not run" not in out
    assert ledger.read_text() == "name,value\na,1\n"
    with pytest.raises(InputError):
        append_row(ledger, {"start_time": "x"})
    assert ledger.read_text() == "name,value\na,1\n"


def test_summary_totals_by_command_and_commit(tmp_path, cli):
    ledger = tmp_path / "l.csv"
    for cmd, kwh, code in (("a", 1.0, 0), ("a", 2.0, 1), ("b", 0.5, 0)):
        append_row(ledger, {"start_time": "t", "duration_s": 10, "energy_kwh": kwh, "co2e_kg": kwh / 2,
                            "command": cmd, "exit_code": code, "git_commit": "c1"})
    by_cmd = summarize(read_ledger(ledger), "command")
    assert [(g["command"], g["runs"], g["failed"], g["energy_kwh"]) for g in by_cmd] == [("a", 2, 1, 3.0), ("b", 1, 0, 0.5)]
    d = cli("track", "--summary", ledger, "--by", "commit", "--format", "json").json()
    assert d["groups"] == [{"commit": "c1", "runs": 3, "failed": 1, "duration_s": 30.0, "energy_kwh": 3.5,
                            "co2e_kg": 1.75, "estimate_energy_kwh": None, "measured_over_estimated": None}]
    est = cli("carbon", "--energy-kwh", "1", "--ledger", ledger, "--format", "json").json()
    assert [m["command"] for m in est["measured"]] == ["a", "a", "b"]


def test_row_duration_is_the_commands_not_codecarbons_startup(tmp_path, monkeypatch):
    import mlcost.track as tr

    clock = [1000.0]  # a fake monotonic clock: only the tracker's start moves it (by 100 s)

    class FakeTracker:
        _hardware = ()
        final_emissions_data = type("E", (), {"energy_consumed": 0.5})()

        def stop(self):
            pass

    def start(iso3, outdir):
        assert iso3 == "FRA"
        clock[0] += 100
        return FakeTracker()

    monkeypatch.setattr(tr, "start_tracker", start)
    monkeypatch.setattr(tr.time, "monotonic", lambda: clock[0])
    code, row = tr.run([sys.executable, "-c", "pass"], region="FR", ledger=tmp_path / "l.csv")
    assert code == 0 and row["duration_s"] == "0.000"  # was 100.000: the probing time counted as the run
    [r] = read_ledger(tmp_path / "l.csv")
    assert float(r["energy_kwh"]) == 0.5 and float(r["co2e_kg"]) == pytest.approx(0.5 * 56.039 / 1000, rel=1e-8)


def test_summary_of_a_foreign_or_directory_ledger_is_one_line_exit_2(tmp_path, cli):
    foreign = tmp_path / "f.csv"
    foreign.write_text("a,b\n1,2\n")
    res = cli("track", "--summary", foreign)
    assert res.exit_code == 2 and "not an mlcost ledger" in res.stderr and "write" not in res.stderr
    res = cli("track", "--summary", tmp_path)  # a folder ledger: merges its *.csv files, here f.csv
    assert res.exit_code == 2 and "f.csv is not an mlcost ledger" in res.stderr
    assert foreign.read_text() == "a,b\n1,2\n"


COUNT_SIGINTS = """\
import signal, sys, time
seen = []
signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
print("ready", flush=True)
t = time.time()
while not seen and time.time() - t < 30:
    time.sleep(0.02)
time.sleep(0.5)  # a second delivery would land here
print("sigints", len(seen), flush=True)
sys.exit(3)
"""


def test_sigint_to_the_whole_process_group_reaches_the_command_once(tmp_path):
    """kill -INT -PGID (timeout, batch schedulers): CMD runs in its own group, so it gets the signal
    once, forwarded by mlcost, not twice (a checkpointing handler would be interrupted mid-save)."""
    ledger = tmp_path / "l.csv"
    p = _track(ledger, sys.executable, "-c", COUNT_SIGINTS, start_new_session=True)
    assert p.stdout.readline() == "ready\n"
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert out == "sigints 1\n", err
    assert p.returncode == 3 and [r["exit_code"] for r in read_ledger(ledger)] == ["3"]


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path):
    """A real terminal: mlcost hands the foreground to CMD's group, so the typed ^C reaches CMD once,
    and mlcost still records the row and exits like CMD."""
    import pty
    import select

    ledger = tmp_path / "l.csv"
    pid, fd = pty.fork()
    if pid == 0:  # the child: mlcost on the new terminal
        os.execv(sys.executable, [sys.executable, "-m", "mlcost", "track", "--region", "FR", "--ledger", str(ledger),
                                  "--", sys.executable, "-c", COUNT_SIGINTS])
    seen = b""

    def read_until(token: bytes) -> None:
        nonlocal seen
        deadline = time.time() + 60
        while token not in seen and time.time() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 1024)
                except OSError:  # the terminal closed: mlcost is gone
                    return

    read_until(b"ready")
    os.write(fd, b"\x03")
    read_until(b"kg CO2e")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"sigints 1" in seen, seen
    assert os.waitstatus_to_exitcode(status) == 3 and [r["exit_code"] for r in read_ledger(ledger)] == ["3"]


SPAWNS_RANKS = """\
import os, signal, subprocess, sys, time
child = "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN) if {ignore} else None; time.sleep(60)"
kids = [subprocess.Popen([sys.executable, "-c", child.format(ignore=r)], env={**os.environ, "RANK": str(r)})
        for r in (0, 1)]  # rank 1 ignores SIGHUP: only mlcost's clean-up of the group can end it
time.sleep(0.8)  # let mlcost count the ranks
print(os.getpid(), *[k.pid for k in kids], "ready", flush=True)
time.sleep(60)
"""
SLEEPER = "import os, time; print(os.getpid(), 'ready', flush=True); time.sleep(60)"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_killed_nodes_keep_rows_that_say_how_they_ended(tmp_path, cli):
    """Four nodes of run `job1` into one ledger folder: `a` gets SIGHUP (a closed terminal, a scheduler),
    `b`'s command is SIGKILLed, `c`'s mlcost itself is SIGKILLed, `d` ends normally."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    cmds = {"a": SPAWNS_RANKS, "b": SLEEPER, "c": SLEEPER, "d": "print('ready', flush=True)"}
    procs = {n: subprocess.Popen([sys.executable, "-m", "mlcost", "track", "--region", "FR", "--ledger", str(ledger),
                                  "--run-id", "job1", "--node", n, "--", sys.executable, "-c", c],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
             for n, c in cmds.items()}
    pids: dict[str, list[int]] = {}
    try:
        for n in "abc":
            line = procs[n].stdout.readline().split()
            assert line[-1:] == ["ready"], (n, line, procs[n].stderr.read() if procs[n].poll() is not None else "")
            pids[n] = [int(x) for x in line[:-1]]
        os.kill(procs["a"].pid, signal.SIGHUP)
        os.kill(pids["b"][0], signal.SIGKILL)
        os.kill(procs["c"].pid, signal.SIGKILL)
        codes = {n: p.wait(timeout=60) for n, p in procs.items()}
    finally:
        for p in procs.values():  # a failed test leaves nothing running: mlcost ends its CMD's group
            if p.poll() is None:
                p.terminate()
        for pid in [q for v in pids.values() for q in v]:  # c's CMD outlived its SIGKILLed mlcost, as orphans do
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for p in procs.values():
            p.communicate(timeout=30)
    assert codes == {"a": 129, "b": 137, "c": -9, "d": 0}
    assert not any(_alive(p) for p in pids["a"])  # CMD and both ranks gone (rank 1 by mlcost's SIGTERM)
    rows = {r["node"]: r for r in read_ledger(ledger)}
    assert {n: (r["exit_code"], r["ended"]) for n, r in rows.items()} == {
        "a": ("129", "killed by SIGHUP after mlcost got SIGHUP (forwarded to CMD's process group)"),
        "b": ("137", "killed by SIGKILL"),
        "c": ("", "no end recorded (still running, or mlcost was killed)"),
        "d": ("0", "exit 0")}
    assert rows["a"]["processes"] == "2"  # the RANK values counted in CMD's process group
    assert rows["d"]["processes"] == "1" and float(rows["a"]["energy_kwh"]) > 0
    [run] = cli("track", "--summary", ledger, "--by", "run", "--format", "json").json()["groups"]
    assert (run["run"], run["nodes"], run["failed"]) == ("job1", 4, 2)
    assert run["flags"] == ["nodes disagree on the command (3 different)",  # a, b = c, d: this test's own doing
                            "2 node(s) ended with a non-zero exit code",
                            "1 node(s) with no end recorded (still running, or mlcost was killed)"]
    assert run["energy_kwh"] == pytest.approx(sum(float(r["energy_kwh"] or 0) for r in rows.values()), rel=1e-12)


def test_unwritable_ledger_is_refused_before_the_command_runs(tmp_path):
    """A full disk before the run (RLIMIT_FSIZE: writes past 50 bytes fail): exit 2, one line, CMD never runs."""
    import resource

    ledger, marker = tmp_path / "l.csv", tmp_path / "ran"
    p = subprocess.Popen([sys.executable, "-m", "mlcost", "track", "--ledger", str(ledger), "--", sys.executable, "-c",
                          f"open({str(marker)!r}, 'w')"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (50, 50)))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"cannot write ledger {ledger}: disk full or file size limit" in err and "nothing was run" in err
    assert not marker.exists() and not ledger.exists()  # no empty ledger left behind


def test_ledger_lost_during_the_run_goes_to_the_named_fallback(tmp_path):
    """The ledger stops taking rows while CMD runs (here CMD puts a folder where the file was): the row goes
    to the fallback file, the message names it, and mlcost exits with CMD's own code."""
    ledger = tmp_path / "l.csv"
    breaks = f"import os, sys; os.remove({str(ledger)!r}); os.mkdir({str(ledger)!r}); sys.exit(5)"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    p = _track(ledger, sys.executable, "-c", breaks, env=env)
    out, err = p.communicate(timeout=120)
    fallback = tmp_path / "state" / "mlcost" / "unsaved-ledger-rows.csv"
    assert p.returncode == 5, err
    assert err.strip().splitlines()[-1].endswith(f"the row went to {fallback}") and str(ledger) in err
    [row] = read_ledger(fallback)
    assert row["exit_code"] == "5" and "sys.exit(5)" in row["command"] and float(row["energy_kwh"]) > 0
