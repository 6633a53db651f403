"""Every file mlcost reads or writes goes through here.

Reading: ``open_regular`` opens with O_NONBLOCK (a FIFO or a device cannot block the open), then checks
with fstat that it holds a regular file no larger than the cap for its kind (``mlcost.limits``), so a
FIFO, ``/dev/zero``, a folder or a sparse 1 GB file is refused in one line before anything is read.

Writing: ``write_output`` is the one place that decides whether a file may be replaced.  A new path is
created; an existing regular file is replaced (atomically: a temporary file renamed over it) only when
mlcost wrote it, recognised by its content (``is_mlcost_output``), or with ``force``; anything else is
refused naming the file.  Special files (/dev/null, /dev/stdout, a FIFO, a terminal) are written to,
never renamed over; a folder or a block device is an error.  Files mlcost writes carry a marker:
JSON its ``"schema": "mlcost.*"`` key, the profile CSV its ``meta,schema`` row, PNG a text chunk, and
every other text a last comment line (``MARKER``).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

from mlcost import limits
from mlcost.errors import InputError, UsageError

MARKER = "written by mlcost (mlcost may replace this file on its next run)"
_MARK_BYTES = b"written by mlcost"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JSON_HEAD = re.compile(rb'\{\s*"schema"\s*:\s*"mlcost\.')
# Paths that name the process's own streams: written in place (appended), never replaced, even when the
# stream is a regular file (`mlcost ... -o /dev/stdout > out.json`).
_STREAM_PATH = re.compile(r"/dev/(stdout|stderr|fd/\d+)|/proc/(self|thread-self|\d+)/fd/\d+")


def size_text(n: int) -> str:
    """1073741824 -> '1 GiB', 100 -> '100-byte' (a limit as named in errors: 'over the 1 GiB limit')."""
    for unit, scale in (("GiB", limits.GiB), ("MiB", limits.MiB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n}-byte"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _os_error(what: str, path: Path, exc: OSError, verb: str = "read") -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{what}: {path} does not exist")
    return InputError(f"{what}: cannot {verb} {path} ({exc.strerror or exc})")


# --- reading -----------------------------------------------------------------------------------------------------

def open_regular(path: str | Path, what: str, max_bytes: int | None) -> BinaryIO:
    """PATH opened for binary reading, after checking it is a regular file of at most MAX_BYTES (None: any size).

    WHAT names the file in errors ('--profile', 'model config', ...)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_error(what, path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{what}: {path} is {_kind(st.st_mode)}, not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise InputError(f"{what}: {path} is {st.st_size} bytes, over the {size_text(max_bytes)} limit for {what}")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | Path, what: str, max_bytes: int | None = None) -> int:
    """The size of PATH after the checks of ``open_regular``: for files handed by name to another reader
    (torch.load, onnx's checker), which would otherwise block on a FIFO or read a device forever."""
    with open_regular(path, what, max_bytes) as fh:
        return os.fstat(fh.fileno()).st_size


def read_bytes(path: str | Path, what: str, max_bytes: int) -> bytes:
    """The whole of PATH (a regular file of at most MAX_BYTES); a file that grows past the cap while read
    (procfs, a file being written) is refused too."""
    path = Path(path)
    with open_regular(path, what, max_bytes) as fh:
        try:  # read what fstat announced, then in chunks: read(n) would allocate all n bytes up front
            parts = [fh.read(os.fstat(fh.fileno()).st_size + 1)]
            got = len(parts[0])
            while got <= max_bytes and (chunk := fh.read(min(1 << 20, max_bytes + 1 - got))):
                parts.append(chunk)
                got += len(chunk)
        except OSError as exc:
            raise _os_error(what, path, exc) from None
    data = b"".join(parts) if len(parts) > 1 else parts[0]
    if len(data) > max_bytes:
        raise InputError(f"{what}: {path} is over the {size_text(max_bytes)} limit for {what}")
    return data


def read_text(path: str | Path, what: str, max_bytes: int) -> str:
    """PATH as UTF-8 text (a byte-order mark is dropped), bounded like ``read_bytes``."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: {path} is not UTF-8 text (byte {exc.start})") from None


# --- recognising mlcost's own files ------------------------------------------------------------------------------

def is_mlcost_output(head: bytes, tail: bytes) -> bool:
    """True when a file whose first bytes are HEAD and last bytes TAIL was written by mlcost."""
    if head.startswith(_PNG_MAGIC):
        return _png_marked(head)
    if _MARK_BYTES in tail:
        return True
    text = head.lstrip()
    if text.startswith(b"{"):
        if _JSON_HEAD.match(text):  # mlcost's JSON puts its schema key first: recognisable from the head alone
            return True
        try:  # another key order (a file rewritten by a tool) is recognised when the whole file was read
            data = json.loads(head.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return False
        return isinstance(data, dict) and isinstance(data.get("schema"), str) and data["schema"].startswith("mlcost.")
    first = text.split(b"\n", 2)
    # The profile CSV: its header, then the meta,schema row naming an mlcost schema.
    return len(first) >= 2 and first[0].startswith(b"section,name,") and first[1].startswith(b"meta,schema,") \
        and b",mlcost." in first[1]


def _png_marked(data: bytes) -> bool:
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt" and _MARK_BYTES in data[pos + 8:pos + 8 + length]:
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        pos += 12 + length
    return False


def mark(data: str | bytes) -> bytes:
    """DATA as bytes carrying mlcost's marker (see the module docstring), so a later run may replace it."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if raw.startswith(_PNG_MAGIC):
        text = b"Comment\x00" + MARKER.encode()
        chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
        ihdr_end = 8 + 12 + struct.unpack(">I", raw[8:12])[0]
        return raw[:ihdr_end] + chunk + raw[ihdr_end:]
    stripped = raw.lstrip()
    if stripped.startswith(b"{") or is_mlcost_output(raw[:4096], b""):  # JSON takes no comment: its schema key
        return raw  # marks it (as the meta,schema row marks the profile CSV)
    body = raw if raw.endswith(b"\n") or not raw else raw + b"\n"
    if stripped.startswith((b"<", b"#", b"|", b"**")):  # XML/SVG/HTML and markdown: a comment renders as nothing
        return body + f"<!-- {MARKER} -->\n".encode()
    return body + f"# {MARKER}\n".encode()


def _written_by_mlcost(path: Path) -> bool:
    try:
        with open_regular(path, "output", None) as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(limits.MAX_OUTPUT_SNIFF_BYTES)
            fh.seek(max(0, size - 512))
            tail = fh.read(512)
    except InputError:
        return False
    return is_mlcost_output(head, tail)


# --- writing -----------------------------------------------------------------------------------------------------

def write_output(path: str | Path, data: str | bytes, *, force: bool = False, option: str = "--output") -> None:
    """Write DATA (marked, see ``mark``) to PATH without ever destroying a file mlcost did not write.

    OPTION names the option in errors ('--output', '--save-baseline', '--plot')."""
    path = Path(path)
    if _may_write(path, force, option):
        special = not stat.S_ISREG(os.stat(path).st_mode)
        _write_in_place(path, data.encode("utf-8") if special and isinstance(data, str) else data if special
                        else mark(data), option)  # a terminal or a pipe gets the data alone
    else:
        _replace(path.resolve() if path.is_symlink() else path, mark(data), option)


def check_output(path: str | Path, *, force: bool = False, option: str = "--output") -> None:
    """Raise now what ``write_output`` would raise for PATH: lets a command refuse before doing its work."""
    _may_write(Path(path), force, option)


def _may_write(path: Path, force: bool, option: str) -> bool:
    """Whether PATH may be written (else UsageError/InputError): True to write it in place (a special file),
    False to replace it with a new file."""
    try:
        st = os.stat(path)  # follows symlinks: a link to an output replaces the output, keeps the link
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _os_error(option, path, exc, "write") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{option}: {path} is a folder; name a file")
    if st is not None and stat.S_ISBLK(st.st_mode):
        raise UsageError(f"{option}: {path} is a block device; mlcost never writes to one")
    if (st is not None and not stat.S_ISREG(st.st_mode)) or (st is not None and _STREAM_PATH.fullmatch(str(path.absolute()))):
        return True
    if st is not None and not force and not _written_by_mlcost(path):
        raise UsageError(f"{option}: refusing to replace {path}: it is not a file mlcost wrote "
                         "(pass --force to replace it anyway)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option}: cannot write {path}: folder {parent} does not exist")
    return False


def _write_in_place(path: Path, raw: bytes, what: str, create: bool = False) -> None:
    """Append RAW to PATH, opened for writing, never replaced: a FIFO, a terminal, /dev/null, /dev/stdout,
    or (CREATE) a file such as $GITHUB_STEP_SUMMARY.  O_NONBLOCK makes a FIFO with no reader an error
    instead of a hang; a block device is refused."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        why = "a FIFO with no reader" if exc.errno == errno.ENXIO else (exc.strerror or str(exc))
        raise InputError(f"{what}: cannot write {path} ({why})") from None
    try:
        if stat.S_ISBLK(os.fstat(fd).st_mode):
            raise UsageError(f"{what}: {path} is a block device; mlcost never writes to one")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise InputError(f"{what}: cannot write {path} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _replace(path: Path, raw: bytes, option: str) -> None:
    """A temporary file beside PATH, renamed over it: never a half-written file."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        st: os.stat_result | None = os.stat(path)
    except OSError:
        st = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    except OSError as exc:
        raise _os_error(option, path, exc, "write") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, st.st_mode & 0o777 if st is not None else _default_mode())  # mkstemp makes 0600
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _os_error(option, path, exc, "write") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _default_mode() -> int:
    """0666 less the umask, as a plain open() would create the file (read without changing it for long)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def append_text(path: str | Path, text: str, what: str) -> None:
    """Append TEXT to PATH (created when missing), e.g. $GITHUB_STEP_SUMMARY (see ``_write_in_place``)."""
    _write_in_place(Path(path), text.encode("utf-8"), what, create=True)
