"""Helpers for the hostile-input tests: build malicious files, run mlcost on them in a bounded subprocess."""
from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

# Bounds each hostile run must stay under (a subprocess: its own interpreter, torch imported where needed).
TIME_LIMIT_S = 60  # a hang is killed here; the tests assert far less (HOSTILE_SECONDS)
HOSTILE_SECONDS = 30  # per run, torch import included on a loaded machine
MEMORY_LIMIT_BYTES = 2 << 30  # address space (torch imports within it); a runaway allocation fails, not swaps
PEAK_RSS_BYTES = 1 << 30  # what a hostile run may really use


class Payload:
    """Pickles as a call that creates MARKER: proof, if the file appears, that unpickling ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def payload_pickle(marker: Path, wrap=lambda p: p) -> bytes:
    """torch.save bytes of WRAP(Payload(MARKER)) (a zip archive, as torch.save writes)."""
    import torch

    buf = io.BytesIO()
    torch.save(wrap(Payload(marker)), buf)
    return buf.getvalue()


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> Path:
    """Copy the zip SRC to DST with members (matched by the name after the archive's top folder) replaced,
    dropped (None) or ADDed."""
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        top = infos[0].filename.split("/", 1)[0] + "/"
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
            for info in infos:
                rel = info.filename[len(top):]
                data = replace.get(rel, zin.read(info)) if rel in replace else zin.read(info)
                if data is not None:
                    zout.writestr(top + rel, data)
            for rel, data in (add or {}).items():
                zout.writestr(top + rel, data)
    return dst


def edit_json_member(src: Path, rel: str, edit) -> bytes:
    with zipfile.ZipFile(src) as z:
        name = next(n for n in z.namelist() if n.endswith(rel))
        data = json.loads(z.read(name))
    edit(data)
    return json.dumps(data).encode()


def run_bounded(args: list[str], cwd: Path, env: dict | None = None, timeout: float = TIME_LIMIT_S):
    """`python -m mlcost ARGS` in CWD under an address-space cap (RLIMIT_AS) and a timeout.

    Returns (exit code, stdout, stderr, seconds, peak RSS in bytes of that child alone, from wait4)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))

    full_env = {**os.environ, "MLCOST_DEBUG": "", "HOME": str(cwd), **(env or {})}
    full_env.pop("GITHUB_STEP_SUMMARY", None) if "GITHUB_STEP_SUMMARY" not in (env or {}) else None
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "mlcost", *args], cwd=cwd, env=full_env, preexec_fn=limit,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        out, err = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out.decode(), err.decode(), time.monotonic() - start, usage.ru_maxrss * 1024


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under FOLDER: to prove a run touched nothing."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out
