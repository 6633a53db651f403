"""`mlcost track -- CMD`: run CMD under codecarbon's offline tracker and append one row to a CSV ledger.

The row (start time, duration in s, energy in kWh, CO2e in kg, region, command, exit code, git commit)
is written even when CMD fails or is interrupted.  Appends take an exclusive ``fcntl.flock`` on the
ledger and write the row with one ``os.write`` on an O_APPEND descriptor, so concurrent tracks never
interleave.  A file that is not an mlcost ledger is never written to.  codecarbon is imported only
inside ``run`` (it pulls in pandas); reading and summarising a ledger stays light.
"""
from __future__ import annotations

import csv
import io
import os
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from mlcost import limits, safeio
from mlcost.errors import InputError, UsageError

DEFAULT_LEDGER = "mlcost-ledger.csv"
LEDGER_FIELDS = ("start_time", "duration_s", "energy_kwh", "co2e_kg", "intensity_g_per_kwh", "region",
                 "command", "exit_code", "git_commit", "measurement")
_HEADER = ",".join(LEDGER_FIELDS)


def _check_header(first_line: str, path: Path, writing: bool = True) -> None:
    if first_line.strip().lstrip("\ufeff") != _HEADER:
        tail = "refusing to write to it — pass another --ledger" if writing else "expected a file `mlcost track` wrote"
        raise InputError(f"{path} is not an mlcost ledger (its first line is not the ledger header); {tail}")


def check_ledger(path: Path) -> None:
    """Fail early (exit 2) when PATH exists but is unreadable or foreign, or its folder is missing."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"ledger {path} is a directory")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"cannot create ledger {path}: folder {parent} does not exist")
        return
    try:
        with safeio.open_regular(path, "ledger", limits.MAX_LEDGER_BYTES) as fh:
            first = fh.readline(4096).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ledger {path}: {exc}") from None
    if first:
        _check_header(first, path)


def _row_bytes(row: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if row.get(f) is None else row[f] for f in LEDGER_FIELDS])
    return buf.getvalue().encode("utf-8")


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append ROW under an exclusive lock; the header goes in first when the file is empty."""
    import fcntl

    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)  # a FIFO cannot block
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"ledger {path} is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        data = _row_bytes(row)
        if size == 0:
            data = (_HEADER + "\n").encode() + data
        else:
            first = os.pread(fd, 4096, 0).split(b"\n", 1)[0].decode("utf-8", "replace")
            _check_header(first, path)
            if os.pread(fd, 1, size - 1) != b"\n":  # a torn last line (killed writer): start a fresh line
                data = b"\n" + data
        os.write(fd, data)  # one write on O_APPEND: the row lands whole, after every other row
    finally:
        os.close(fd)  # closing releases the lock


def read_ledger(path: Path) -> list[dict[str, str]]:
    """Rows of an mlcost ledger (InputError when missing, unreadable or foreign)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"ledger {path} is a directory, not a ledger file")
    if not path.exists():
        raise InputError(f"ledger {path} does not exist")
    text = safeio.read_text(path, "ledger", limits.MAX_LEDGER_BYTES)
    if not text.strip():
        return []
    _check_header(text.split("\n", 1)[0], path, writing=False)
    return [r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))) if r.get("start_time")]


def _num(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else 0.0
    except ValueError:
        return 0.0


def summarize(rows: list[dict[str, str]], by: str = "command") -> list[dict[str, Any]]:
    """Totals per command (or per git commit): runs, failures, duration_s, energy_kwh, co2e_kg."""
    if by not in ("command", "commit"):
        raise UsageError(f"--by must be 'command' or 'commit', got {by!r}")
    key = "command" if by == "command" else "git_commit"
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(r.get(key) or "(none)", {by: r.get(key) or "(none)", "runs": 0, "failed": 0,
                                                        "duration_s": 0.0, "energy_kwh": 0.0, "co2e_kg": 0.0})
        g["runs"] += 1
        g["failed"] += (r.get("exit_code") or "0") != "0"
        for f in ("duration_s", "energy_kwh", "co2e_kg"):
            g[f] += _num(r.get(f))
    return sorted(groups.values(), key=lambda g: -g["co2e_kg"])


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


class _Signals:
    """SIGINT/SIGTERM sent to mlcost while it tracks: recorded, and forwarded to CMD once it runs."""

    def __init__(self) -> None:
        self.child: subprocess.Popen | None = None
        self.seen: list[int] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.seen.append(signum)
        # CMD runs in its own process group, so a signal sent to mlcost's group (kill -INT -PGID, timeout,
        # a batch scheduler) never reached it directly: forward it exactly once.
        if self.child is not None and self.child.poll() is None:
            try:
                self.child.send_signal(signum)
            except ProcessLookupError:
                pass


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


def _start_tracker(country_iso3: str, outdir: str) -> Any:
    import logging

    from mlcost.errors import import_optional

    import_optional("codecarbon", "all", "mlcost track")
    for name in ("codecarbon", "codecarbon.core", "apscheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(country_iso_code=country_iso3, output_dir=outdir, save_to_file=False,
                                      log_level="critical", measure_power_secs=1, tracking_mode="machine")
    logging.getLogger("codecarbon").setLevel(logging.CRITICAL)  # codecarbon resets its logger in __init__
    tracker.start()
    return tracker


def _measurement(tracker: Any) -> str:
    parts = []
    for hw in getattr(tracker, "_hardware", []) or []:
        mode = getattr(hw, "_mode", None)
        parts.append(f"{type(hw).__name__}" + (f"({mode})" if mode else ""))
    return "codecarbon " + (" + ".join(parts) if parts else "offline")


def run(cmd: list[str], *, region: str | None = None, ledger: Path = Path(DEFAULT_LEDGER)) -> tuple[int, dict[str, Any]]:
    """Run CMD (output streamed unchanged), measure it, append the ledger row; (exit code, row)."""
    from mlcost import refdata

    if not cmd:
        raise UsageError("nothing to run: mlcost track [--region R] [--ledger FILE] -- CMD ARGS...")
    ledger = Path(ledger)
    check_ledger(ledger)
    grid = refdata.grid_intensity(region)  # unknown regions fail before CMD runs
    iso3 = _iso3_for(region) or "USA"  # codecarbon's own country; CO2e is recomputed from `grid` below
    tracker = None
    measurement = ""
    with _Signals() as sigs, tempfile.TemporaryDirectory(prefix="mlcost-track-") as outdir:
        try:
            tracker = _start_tracker(iso3, outdir)
        except Exception as exc:  # measuring must never stop the user's command from running
            measurement = f"not measured: codecarbon failed to start ({type(exc).__name__}: {exc})"
        # The run's start and duration are CMD's own: codecarbon's hardware probing (about 1-2 s) is not the run.
        start = datetime.now(timezone.utc)
        t0 = time.monotonic()
        if sigs.seen:  # interrupted while the tracker started: CMD never runs, the row still lands
            code = -sigs.seen[0]
        else:
            try:
                sigs.child = subprocess.Popen(cmd, process_group=0)
            except OSError as exc:
                if tracker is not None:
                    _stop_quietly(tracker)
                raise UsageError(f"cannot run {cmd[0]!r}: {exc.strerror or exc}") from None
            give_back = _hand_terminal_to(sigs.child.pid)
            try:
                code = sigs.child.wait()
            finally:
                if give_back is not None:
                    give_back()
        duration = time.monotonic() - t0
        energy = None
        if tracker is not None:
            try:
                tracker.stop()
                energy = float(tracker.final_emissions_data.energy_consumed)
                measurement = _measurement(tracker)
            except Exception as exc:
                measurement = f"not measured: codecarbon failed ({type(exc).__name__}: {exc})"
    exit_code = 128 - code if code < 0 else code  # killed by signal N -> 128 + N, like a shell
    row = {
        "start_time": start.isoformat(timespec="seconds"),
        "duration_s": f"{duration:.3f}",
        "energy_kwh": None if energy is None else f"{energy:.9g}",
        "co2e_kg": None if energy is None else f"{energy * grid.g_per_kwh / 1000:.9g}",
        "intensity_g_per_kwh": f"{grid.g_per_kwh:.6g}",
        "region": grid.resolved if region is None else f"{region} ({grid.resolved})",
        "command": shlex.join(cmd),
        "exit_code": exit_code,
        "git_commit": git_commit(),
        "measurement": measurement,
    }
    append_row(ledger, row)
    return exit_code, row


def _stop_quietly(tracker: Any) -> None:
    try:
        tracker.stop()
    except Exception:
        pass


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
