"""`mlcost track -- CMD`: run CMD under codecarbon's offline tracker and record it in a ledger.

The ledger (mlcost/ledger.py) gets a ``running`` row before CMD starts -- the proof that it is writable;
a ledger that is not is refused (exit 2) and CMD never runs -- and the final row after CMD ends: run id,
node and processes (mlcost/runinfo.py), start time, duration in s, energy in kWh, CO2e in kg, region,
command, exit code, how it ended, git commit, GPUs measured and an optional pre-run estimate.  The final
row is written when CMD fails or is interrupted; when the ledger cannot take it any more (disk full,
permissions changed), it goes to a fallback file (``ledger.fallback_paths``) and mlcost still exits with
CMD's code.  codecarbon is imported only inside ``run`` (it pulls in pandas).
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from mlcost import ledger as ledger_mod
from mlcost.errors import InputError, UsageError
from mlcost.ledger import FIELDS as LEDGER_FIELDS  # noqa: F401  (the public names of earlier releases)
from mlcost.ledger import append_row, check_ledger, read_ledger  # noqa: F401
from mlcost.ledger_summary import summarize  # noqa: F401

DEFAULT_LEDGER = "mlcost-ledger.csv"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


class _Signals:
    """SIGINT/SIGTERM/SIGHUP sent to mlcost while it tracks: recorded, and forwarded to CMD's process group."""

    def __init__(self) -> None:
        self.child: subprocess.Popen | None = None
        self.seen: list[int] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        self._old = {s: signal.signal(s, self._handle) for s in _FORWARDED}
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.seen.append(signum)
        # CMD runs in its own process group, so a signal sent to mlcost's group (kill -INT -PGID, timeout,
        # a batch scheduler, a closed terminal) never reached it directly: forward it exactly once, to the
        # whole group, so CMD's own children (torchrun's workers) are not left running.
        if self.child is not None and self.child.poll() is None:
            try:
                os.killpg(self.child.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


def _proc_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group PGID, from /proc; [] where there is no /proc."""
    pids = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return pids
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()  # after "(comm)", which may hold spaces
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            pids.append(int(name))
    return pids


def _end_group(pgid: int, grace_s: float = 2.0) -> None:
    """After a forwarded termination signal: what is left of CMD's group gets SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _proc_group(pgid):
            return
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace_s
        while _proc_group(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)


class _RankCounter(threading.Thread):
    """Counts the distinct RANK (else LOCAL_RANK) values in the environments of CMD's process group while
    it runs: the processes a launcher started, when neither CMD nor the environment says how many."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.ranks, self.done = pgid, set(), threading.Event()

    def run(self) -> None:
        interval, t0 = 0.25, time.monotonic()
        while not self.done.wait(interval):
            if time.monotonic() - t0 > 20:  # launchers start their ranks early: no scanning /proc 4x a second for days
                interval = min(interval * 1.5, 10.0)
            for pid in _proc_group(self.pgid):
                try:
                    with open(f"/proc/{pid}/environ", "rb") as fh:
                        env = dict(v.split(b"=", 1) for v in fh.read(1 << 20).split(b"\0") if b"=" in v)
                except OSError:
                    continue
                rank = env.get(b"RANK", env.get(b"LOCAL_RANK"))
                if rank is not None:
                    self.ranks.add(rank)

    def count(self) -> int:
        self.done.set()
        self.join(timeout=2)
        return max(1, len(self.ranks))


def _hand_terminal_to(pgid: int) -> Callable[[], None] | None:
    """When mlcost owns the terminal's foreground, give it to CMD's process group, so that Ctrl-C (and
    reads from the terminal) go to CMD alone, as if the shell had started it.  Returns the undo, or None."""
    try:
        if not os.isatty(0) or os.tcgetpgrp(0) != os.getpgrp():
            return None
        _tcsetpgrp_quietly(pgid)
    except OSError:
        return None
    mine = os.getpgrp()

    def undo() -> None:
        try:
            _tcsetpgrp_quietly(mine)
        except OSError:
            pass

    return undo


def _tcsetpgrp_quietly(pgid: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set it otherwise
    try:
        os.tcsetpgrp(0, pgid)
    finally:
        signal.signal(signal.SIGTTOU, old)


def start_tracker(country_iso3: str, outdir: str, quiet_loggers: bool = True) -> Any:
    """A started codecarbon OfflineEmissionsTracker measuring the whole machine, writing only to OUTDIR."""
    import logging

    from mlcost.errors import import_optional

    import_optional("codecarbon", "all", "mlcost track")
    if quiet_loggers:  # the CLI owns its process; the Python API leaves the caller's loggers alone
        for name in ("codecarbon", "codecarbon.core", "apscheduler"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(country_iso_code=country_iso3, output_dir=outdir, save_to_file=False,
                                      log_level="critical", measure_power_secs=1, tracking_mode="machine")
    if quiet_loggers:
        logging.getLogger("codecarbon").setLevel(logging.CRITICAL)  # codecarbon resets its logger in __init__
    tracker.start()
    return tracker


def measurement(tracker: Any) -> str:
    parts = []
    for hw in getattr(tracker, "_hardware", []) or []:
        mode = getattr(hw, "_mode", None)
        parts.append(f"{type(hw).__name__}" + (f"({mode})" if mode else ""))
    return "codecarbon " + (" + ".join(parts) if parts else "offline")


def gpus_measured(tracker: Any) -> int:
    """How many GPUs codecarbon measured: those it monitors (its gpu_ids, which follow CUDA_VISIBLE_DEVICES),
    else every GPU it found; 0 on a machine without any it can read."""
    n = 0
    for hw in getattr(tracker, "_hardware", []) or []:
        if type(hw).__name__ == "GPU":
            ids = getattr(hw, "gpu_ids", None)
            n += len(ids) if ids is not None else int(getattr(hw, "num_gpus", 0) or 0)
    return n


def stop_tracker(tracker: Any) -> tuple[float | None, int, str]:
    """(energy in kWh or None, GPUs measured, the row's measurement note) of a started tracker."""
    try:
        tracker.stop()
        return float(tracker.final_emissions_data.energy_consumed), gpus_measured(tracker), measurement(tracker)
    except Exception as exc:  # a failed measurement is recorded in the row, never fatal to the run
        return None, 0, f"not measured: codecarbon failed ({type(exc).__name__}: {exc})"


def load_estimate(path: Path, region: str | None) -> tuple[float, str]:
    """(kWh at the machine, its source) of a pre-run estimate: `mlcost carbon --format json` output, or
    `mlcost compute --format json` output with an accelerator (turned into energy the way carbon does).
    The energy before PUE is kept: codecarbon meters at the machine, so measured / estimated compares like."""
    import math

    from mlcost.jsonfile import read_json_object
    from mlcost.results import CARBON_SCHEMA, COMPUTE_SCHEMA, ComputeEstimate

    data = read_json_object(path, "--estimate")
    schema = data.get("schema")
    if schema == CARBON_SCHEMA:
        energy = data.get("energy") if isinstance(data.get("energy"), dict) else {}
        kwh, how = energy.get("it_energy_kwh"), f"mlcost carbon ({data.get('method')})"
    elif schema == COMPUTE_SCHEMA:
        from mlcost.costs import carbon

        ce = ComputeEstimate.from_dict(data)
        if ce.accelerator is None:
            raise InputError(f"--estimate: {path} names no accelerator; run `mlcost compute` with --gpu, or give "
                             "`mlcost carbon ... --format json` output")
        est = carbon.from_compute(ce, region=region)  # the energy `mlcost carbon --compute-json` gives
        acc = ce.accelerator
        kwh, how = est.energy.it_energy_kwh, f"mlcost compute ({ce.method}) on {acc.count} x {acc.name}"
    else:
        raise InputError(f"--estimate: {path} is not mlcost carbon or compute JSON (schema {schema!r})")
    if isinstance(kwh, bool) or not isinstance(kwh, (int, float)) or not math.isfinite(kwh) or kwh < 0:
        raise InputError(f"--estimate: {path} has no finite, non-negative energy (found {kwh!r})")
    return float(kwh), f"{how}, {Path(path).name}"


def ended_text(code: int, seen: list[int], started: bool = True) -> str:
    """How a run ended, for the row: 'exit 0', 'killed by SIGKILL', '... after mlcost got SIGHUP'."""
    names = ", ".join(signal.Signals(s).name for s in dict.fromkeys(seen))
    if not started:
        return f"not started: mlcost got {names} before CMD started"
    text = f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit {code}"
    return text + (f" after mlcost got {names} (forwarded to CMD's process group)" if seen else "")


def finish(path: Path, row: dict[str, Any]) -> dict[str, Any]:
    """Append the final ROW to PATH, else to a fallback file; ROW plus ``written_to`` (None: nowhere)
    and ``write_error`` (why the ledger refused it, or None)."""
    try:
        append_row(path, row)
        return {**row, "written_to": str(path), "write_error": None}
    except (OSError, InputError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fallback = ledger_mod.write_fallback(row)
        return {**row, "written_to": None if fallback is None else str(fallback), "write_error": why}


def start_row(path: Path, base: dict[str, Any]) -> None:
    """The ``running`` row: InputError (exit 2) when the ledger cannot be written."""
    existed = path.exists()
    try:
        append_row(path, {**base, "start_time": _now(), "ended": ledger_mod.RUNNING})
    except OSError as exc:
        try:
            if not existed and path.stat().st_size == 0:  # leave no empty file of ours behind
                path.unlink()
        except OSError:
            pass
        raise InputError(f"cannot write ledger {path}: {exc.strerror or exc}; nothing was run") from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(cmd: list[str], *, region: str | None = None, ledger: Path = Path(DEFAULT_LEDGER), run_id: str | None = None,
        node: str | None = None, estimate: Path | None = None) -> tuple[int, dict[str, Any]]:
    """Run CMD (output streamed unchanged), measure it, write its ledger rows; (exit code, final row).
    The row carries ``written_to`` (the file it went to: the ledger, a fallback, or None) and ``write_error``."""
    from mlcost import refdata, runinfo

    if not cmd:
        raise UsageError("nothing to run: mlcost track [--region R] [--ledger FILE|DIR] -- CMD ARGS...")
    ident = runinfo.identify(cmd, run_id, node)
    path = check_ledger(Path(ledger))
    grid = refdata.grid_intensity(region)  # unknown regions fail before CMD runs
    est_kwh, est_src = load_estimate(estimate, region) if estimate is not None else (None, None)
    iso3 = _iso3_for(region) or "USA"  # codecarbon's own country; CO2e is recomputed from `grid` below
    base = {"run_id": ident.run_id, "node": ident.node, "host": socket.gethostname(), "processes": ident.processes,
            "intensity_g_per_kwh": f"{grid.g_per_kwh:.6g}", "command": shlex.join(cmd), "git_commit": git_commit(),
            "region": grid.resolved if region is None else f"{region} ({grid.resolved})",
            "estimate_energy_kwh": None if est_kwh is None else f"{est_kwh:.9g}", "estimate_source": est_src,
            "track_id": uuid.uuid4().hex}
    tracker, note, counter, energy, gpus = None, "", None, None, 0
    with _Signals() as sigs, tempfile.TemporaryDirectory(prefix="mlcost-track-") as outdir:
        start_row(path, base)  # before CMD: a ledger that cannot be written is refused now, not after the run
        try:
            tracker = start_tracker(iso3, outdir)
        except Exception as exc:  # measuring must never stop the user's command from running
            note = f"not measured: codecarbon failed to start ({type(exc).__name__}: {exc})"
        # The run's start and duration are CMD's own: codecarbon's hardware probing (about 1-2 s) is not the run.
        start = datetime.now(timezone.utc)
        t0 = time.monotonic()
        started = not sigs.seen
        if not started:  # interrupted while the tracker started: CMD never runs, the row still lands
            code = -sigs.seen[0]
        else:
            try:
                sigs.child = subprocess.Popen(cmd, process_group=0)
            except OSError as exc:
                if tracker is not None:
                    stop_tracker(tracker)
                finish(path, {**base, "start_time": start.isoformat(timespec="seconds"), "duration_s": "0.000",
                              "exit_code": 127, "ended": f"not started: {exc.strerror or exc}", "measurement": note})
                raise UsageError(f"cannot run {cmd[0]!r}: {exc.strerror or exc}") from None
            if ident.processes is None:
                counter = _RankCounter(sigs.child.pid)
                counter.start()
            give_back = _hand_terminal_to(sigs.child.pid)
            try:
                code = sigs.child.wait()
            finally:
                if give_back is not None:
                    give_back()
            if sigs.seen:  # a forwarded termination: none of CMD's group outlives it
                _end_group(sigs.child.pid)
        duration = time.monotonic() - t0
        processes = ident.processes if ident.processes is not None else (counter.count() if counter else 1)
        if tracker is not None:
            energy, gpus, note = stop_tracker(tracker)
        exit_code = 128 - code if code < 0 else code  # killed by signal N -> 128 + N, like a shell
        row = {
            **base,
            "processes": processes,
            "start_time": start.isoformat(timespec="seconds"),
            "duration_s": f"{duration:.3f}",
            "energy_kwh": None if energy is None else f"{energy:.9g}",
            "co2e_kg": None if energy is None else f"{energy * grid.g_per_kwh / 1000:.9g}",
            "exit_code": exit_code,
            "ended": ended_text(code, sigs.seen, started),
            "gpus": gpus,
            "measurement": note,
        }
        # still under the handlers: a second SIGHUP/SIGTERM while the row is written does not lose it
        return exit_code, finish(path, row)


def _iso3_for(region: str | None) -> str | None:
    from mlcost import refdata

    if region is None:
        return None
    text = region.strip()
    provider, sep, rest = text.lower().partition(":")
    if sep and provider in ("aws", "azure"):
        row = refdata._cloud_regions().get(text.lower())
        return row["country_iso3"] if row else None
    if sep and provider == "gcp":
        row = refdata._gcp_regions().get(rest)
        return row.get("countryIsoCode") if row else None
    if sep or text.lower().startswith("us-"):
        return "USA"
    if len(text) == 2:
        return refdata._iso2_to_iso3().get(text.upper())
    return text.upper() if len(text) == 3 else None


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: mlcost track -- CMD")
