"""The `mlcost track` ledger: one CSV file, or a folder of them (one file per host), merged on read.

Schema ``mlcost.ledger/2`` (the header line names every column; the last column of every row is the
schema name, so a row torn by a killed writer or a full disk is recognisable and skipped).  Version 1
ledgers (the ten-column header of earlier mlcost releases) still read; a version-1 *file* is upgraded in
place (same rows, new columns empty) the first time a new row is appended to it.

Writing is safe for concurrent writers on one machine: an exclusive ``fcntl.flock`` on the file, then the
row in one ``os.write`` on an O_APPEND descriptor (a short write, e.g. on a full disk, is truncated away
under the same lock).  A shared folder (NFS, Lustre) gets one file per host, named after it: writers on
different machines never share a file, so no lock has to work across machines (NFS does not promise
``flock`` or O_APPEND atomicity between clients); readers merge the files.

Each `mlcost track` writes two rows with one ``track_id``: ``ended=running`` before CMD starts (this
also proves the ledger is writable) and the final row after.  Readers keep the final row; a ``running``
row without one is a track that never finished writing (still running, or mlcost itself was killed).
"""
from __future__ import annotations

import csv
import io
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

from mlcost import limits, safeio
from mlcost.errors import InputError

SCHEMA = "mlcost.ledger/2"
FIELDS_V1 = ("start_time", "duration_s", "energy_kwh", "co2e_kg", "intensity_g_per_kwh", "region",
             "command", "exit_code", "git_commit", "measurement")
FIELDS = ("run_id", "node", "host", "processes", "start_time", "duration_s", "energy_kwh", "co2e_kg",
          "intensity_g_per_kwh", "region", "command", "exit_code", "ended", "git_commit", "gpus", "measurement",
          "estimate_energy_kwh", "estimate_source", "track_id", "schema")
_HEADERS = {",".join(FIELDS_V1): 1, ",".join(FIELDS): 2}
_SCHEMAS = ("mlcost.ledger/1", SCHEMA)
_ROW_END = re.compile(r",mlcost\.ledger/[12]\r?\n")  # the last cell of every whole version-2 row
RUNNING = "running"
NO_END = "no end recorded (still running, or mlcost was killed)"
MAX_FOLDER_FILES = 10_000


def host_file(folder: Path, host: str | None = None) -> Path:
    """The file this machine writes in a ledger folder: ``<hostname>.csv`` (unsafe characters -> '_')."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", host or socket.gethostname())[:100].lstrip(".") or "host"
    return Path(folder) / f"{name}.csv"


def folder_or_file(ledger: str | Path) -> Path:
    """LEDGER as given: a path ending in '/' names a folder, created here (its parent must exist)."""
    text = os.fspath(ledger)
    path = Path(text)
    if text.endswith(("/", os.sep)) and not path.is_dir():
        try:
            path.mkdir()
        except OSError as exc:
            raise InputError(f"cannot create ledger folder {path}: {exc.strerror or exc}") from None
    return path


def target(ledger: Path) -> Path:
    """The file a row for LEDGER goes to: the ledger itself, or this host's file in a ledger folder."""
    ledger = Path(ledger)
    return host_file(ledger) if ledger.is_dir() else ledger


def _version(first_line: str, path: Path, writing: bool) -> int:
    version = _HEADERS.get(first_line.strip().lstrip("\ufeff"))
    if version is None:
        tail = "refusing to write to it — pass another --ledger" if writing else "expected a file `mlcost track` wrote"
        raise InputError(f"{path} is not an mlcost ledger (its first line is not the ledger header); {tail}")
    return version


def check_ledger(ledger: Path) -> Path:
    """The file rows will go to; InputError (exit 2) when it is foreign, not a regular file, or its folder
    is missing.  Writability itself is proved by writing (the ``running`` row), not guessed here."""
    path = target(ledger)
    if path.is_dir():
        raise InputError(f"ledger {path} is a directory")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"cannot create ledger {path}: folder {parent} does not exist")
        return path
    with safeio.open_regular(path, "ledger", limits.MAX_LEDGER_BYTES) as fh:
        first = fh.readline(4096).decode("utf-8", "replace")
    if first:
        _version(first, path, writing=True)
    return path


def _row_bytes(row: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    full = {**row, "schema": row.get("schema") or SCHEMA}  # an upgraded version-1 row keeps its version
    csv.writer(buf, lineterminator="\n").writerow(["" if full.get(f) is None else full[f] for f in FIELDS])
    return buf.getvalue().encode("utf-8")


def _open_locked(path: Path) -> int:
    """An O_APPEND descriptor on PATH (a regular file), holding its exclusive lock, that still names PATH
    (a writer that upgraded the file replaced it while we waited: reopen)."""
    import fcntl

    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"ledger {path} is not a regular file")
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = os.stat(path)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(f"ledger {path} kept being replaced while waiting for its lock")


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append ROW (missing fields empty) to the ledger file PATH under its lock; the header goes in first
    when the file is empty.  OSError when it cannot be written (the file is left as it was)."""
    path = Path(path)
    data = _row_bytes(row)
    fd = _open_locked(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            data = (",".join(FIELDS) + "\n").encode() + data
        else:
            first = os.pread(fd, 4096, 0).split(b"\n", 1)[0].decode("utf-8", "replace")
            if _version(first, path, writing=True) == 1:
                _upgrade_v1(fd, path)
                os.close(fd)
                fd = -1
                return append_row(path, row)
            if os.pread(fd, 1, size - 1) != b"\n":  # a torn last line (a writer killed mid-row): new line
                data = b"\n" + data
        written = os.write(fd, data)  # one write on O_APPEND: the row lands whole, after every other row
        if written != len(data):  # a full disk writes part of it: take the part back, report the failure
            os.ftruncate(fd, size)
            raise OSError(28, f"disk full or file size limit: only {written} of {len(data)} bytes written")
    finally:
        if fd >= 0:
            os.close(fd)  # closing releases the lock


def _upgrade_v1(fd: int, path: Path) -> None:
    """Rewrite a version-1 ledger file as version 2 (every row kept, new columns empty), atomically:
    the new file replaces the old by rename while we hold the old one's lock."""
    rows = _parse(_read_fd(fd, path), path)
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    tmp_fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".upgrade", dir=path.parent or ".")
    try:
        with os.fdopen(tmp_fd, "wb") as out:
            out.write((",".join(FIELDS) + "\n").encode())
            for r in rows:
                out.write(_row_bytes(r))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_fd(fd: int, path: Path) -> str:
    size = os.fstat(fd).st_size
    if size > limits.MAX_LEDGER_BYTES:
        raise InputError(f"ledger: {path} is {size} bytes, over the {safeio.size_text(limits.MAX_LEDGER_BYTES)} limit")
    data = os.pread(fd, size, 0)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read ledger {path}: {exc}") from None


def _parse(text: str, path: Path) -> list[dict[str, str]]:
    """The complete rows of one ledger file's text, as version-2 dicts (a version-1 row gets
    ``schema = mlcost.ledger/1`` and empty new columns); torn rows are dropped."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return []
    head, _, body = text.partition("\n")
    if _version(head, path, writing=False) == 2:
        return _v2_rows(body)
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        if None not in r and all(v is not None for v in r.values()) and r.get("start_time"):
            out.append({**dict.fromkeys(FIELDS, ""), **r, "schema": "mlcost.ledger/1"})
    return out


def _v2_rows(body: str) -> list[dict[str, str]]:
    """Rows of a version-2 body.  Every whole row ends with its schema cell and a newline, so the body is
    cut there first: a torn row (even one that opened a quote) can only spoil the piece it is in, and
    within that piece the row after it is found by dropping leading lines until one whole row parses."""
    out, pos = [], 0
    for m in _ROW_END.finditer(body):
        lines = body[pos:m.end()].split("\n")[:-1]
        pos = m.end()
        for k in range(len(lines)):
            rows = list(csv.reader(io.StringIO("\n".join(lines[k:]) + "\n")))
            if len(rows) == 1 and len(rows[0]) == len(FIELDS) and rows[0][-1] in _SCHEMAS:
                out.append(dict(zip(FIELDS, rows[0])))
                break
    return out


def files(ledger: Path) -> list[Path]:
    """The ledger files of LEDGER: itself, or the ``*.csv`` files directly in a ledger folder."""
    ledger = Path(ledger)
    if not ledger.is_dir():
        if not ledger.exists():
            raise InputError(f"ledger {ledger} does not exist")
        return [ledger]
    found = []
    with os.scandir(ledger) as it:
        for entry in it:
            if entry.name.endswith(".csv") and not entry.name.startswith("."):
                found.append(Path(entry.path))
                if len(found) > MAX_FOLDER_FILES:
                    raise InputError(f"ledger folder {ledger} has over {MAX_FOLDER_FILES} .csv files")
    return sorted(found)


def read_rows(ledger: Path) -> list[dict[str, str]]:
    """Every complete row of LEDGER (a file or a folder), ``running`` rows included, in file order."""
    rows: list[dict[str, str]] = []
    for f in files(ledger):
        rows += _parse(safeio.read_text(f, "ledger", limits.MAX_LEDGER_BYTES), f)
    return rows


def read_ledger(ledger: Path) -> list[dict[str, str]]:
    """The runs of LEDGER (file or folder), one row per track: a final row replaces its ``running`` row;
    a ``running`` row left alone says it has no end (InputError when missing, unreadable or foreign)."""
    rows = read_rows(ledger)
    finals = {r["track_id"] for r in rows if r.get("track_id") and r.get("ended") != RUNNING}
    out = []
    for r in rows:
        if r.get("ended") == RUNNING:
            if r.get("track_id") in finals:
                continue
            r = {**r, "ended": NO_END}
        out.append(r)
    return out


def fallback_paths() -> list[Path]:
    """Where a row goes when its ledger cannot take it: the user's state folder, then a private temp folder."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    private = Path(tempfile.gettempdir()) / f"mlcost-{os.getuid()}"
    return [Path(state) / "mlcost" / "unsaved-ledger-rows.csv", private / "unsaved-ledger-rows.csv"]


def write_fallback(row: dict[str, Any]) -> Path | None:
    """Append ROW to the first fallback ledger that takes it; its path, or None when none does."""
    for path in fallback_paths():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.lstat(path.parent)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():  # a planted folder or link in /tmp
                continue
            append_row(path, row)
            return path
        except (OSError, InputError):
            continue
    return None


def row_line(row: dict[str, Any]) -> str:
    """ROW as one CSV line (the ledger's columns), for a message when no file could take it."""
    return _row_bytes(row).decode("utf-8").rstrip("\n")
