"""Helpers for the hostile-input tests: build malicious files, run mlcost on them in a bounded subprocess."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
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


# Runs `python -m mlcost ARGS` as a grandchild forked from this small launcher, so its peak RSS (wait4) starts
# from the launcher's few MiB: a child forked straight from pytest inherits pytest's high-water mark (Linux carries
# the old address space's peak across exec), and the bound would then measure whichever tests ran before.
_LAUNCHER = """
import os, resource, sys
limit, report, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "mlcost", *args])
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    fh.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss * 1024}")
"""


def run_bounded(args: list[str], cwd: Path, env: dict | None = None, timeout: float = TIME_LIMIT_S):
    """`python -m mlcost ARGS` in CWD under an address-space cap (RLIMIT_AS) and a timeout.

    Returns (exit code, stdout, stderr, seconds, peak RSS in bytes of that run alone, from wait4)."""
    import signal
    import tempfile

    full_env = {**os.environ, "MLCOST_DEBUG": "", "HOME": str(cwd), **(env or {})}
    full_env.pop("GITHUB_STEP_SUMMARY", None) if "GITHUB_STEP_SUMMARY" not in (env or {}) else None
    with tempfile.TemporaryDirectory(prefix="mlcost-hostile-") as tmp:
        report = Path(tmp) / "report"
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(MEMORY_LIMIT_BYTES), str(report), *args],
                                cwd=cwd, env=full_env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the run it forked
            out, err = proc.communicate()
        seconds = time.monotonic() - start
        code, rss = (int(x) for x in report.read_text().split()) if report.exists() else (-signal.SIGKILL, 0)
    return code, out.decode(), err.decode(), seconds, rss


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under FOLDER: to prove a run touched nothing."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out
