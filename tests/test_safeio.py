"""mlcost.safeio: bounded reads of regular files only, and outputs that never replace a file mlcost did not write."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mlcost import safeio
from mlcost.errors import InputError, UsageError


def test_new_file_gets_the_mode_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.json"
        safeio.write_output(new, '{"schema": "mlcost.profile/1"}\n')
        assert new.read_text() == '{"schema": "mlcost.profile/1"}\n'  # JSON is marked by its schema key, unchanged
        assert new.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json"]  # no temporary file left behind


@pytest.mark.parametrize(("text", "last_line"), [
    ("mlcost compute\n  pfs-days 1\n", f"# {safeio.MARKER}"),
    ("## Training compute\n\n| a | b |\n", f"<!-- {safeio.MARKER} -->"),
    ('<?xml version="1.0"?>\n<testsuites/>\n', f"<!-- {safeio.MARKER} -->"),
])
def test_text_outputs_carry_the_marker_and_are_replaced_next_run(tmp_path, text, last_line):
    out = tmp_path / "report.out"
    safeio.write_output(out, text)
    assert out.read_text() == text + last_line + "\n"
    out.chmod(0o640)
    safeio.write_output(out, text.upper())  # mlcost's own file: replaced, mode kept
    assert out.read_text().startswith(text.upper()) and out.stat().st_mode & 0o777 == 0o640


def test_profile_csv_and_json_are_recognised_without_a_marker(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("section,name,detail,calls,params,flops,macs,flops_backward,value\nmeta,schema,,,,,,,mlcost.profile/1\n")
    safeio.write_output(csv, "section,name\n")
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"models": {}, "schema": "mlcost.baseline/1"}))  # another key order: parsed whole
    safeio.write_output(js, "{}\n")
    assert js.read_text() == "{}\n"


def test_png_gets_a_text_chunk_and_is_recognised(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    out = tmp_path / "t.png"
    safeio.write_output(out, png)
    data = out.read_bytes()
    assert data.startswith(png[:33]) and b"tEXtComment\x00written by mlcost" in data and data.endswith(png[33:])
    safeio.write_output(out, png)  # recognised: replaced
    foreign = tmp_path / "photo.png"
    foreign.write_bytes(png)
    with pytest.raises(UsageError, match="refusing to replace"):
        safeio.write_output(foreign, png)


@pytest.mark.parametrize(("name", "content"), [
    ("README.md", "# my project\n"),
    ("config.json", '{"model_type": "llama"}'),
    ("data.json", '{"schema": "someone.else/1"}'),
    ("model.py", "print('mine')\n"),
    ("empty.txt", ""),
    ("notes.csv", "a,b\n1,2\n"),
])
def test_user_files_are_never_replaced_without_force(tmp_path, name, content):
    target = tmp_path / name
    target.write_text(content)
    with pytest.raises(UsageError, match=f"--output: refusing to replace .*{name}: it is not a file mlcost wrote "
                                         r"\(pass --force"):
        safeio.write_output(target, "{}\n")
    assert target.read_text() == content and sorted(p.name for p in tmp_path.iterdir()) == [name]
    safeio.write_output(target, "{}\n", force=True)
    assert target.read_text() == "{}\n"


def test_special_files_are_written_to_never_replaced(tmp_path):
    safeio.write_output("/dev/null", "x\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="a FIFO with no reader"):  # an error, not a hang
        safeio.write_output(fifo, "x\n")
    got = []
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is present
    try:
        safeio.write_output(fifo, "hello\n")
        got.append(os.read(fd, 100))
    finally:
        os.close(fd)
    assert got[0].startswith(b"hello\n") and stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(UsageError, match="is a folder"):
        safeio.write_output(tmp_path, "x")


def test_a_regular_file_under_dev_is_not_a_stream(tmp_path):
    """Only the process's own stream paths (/dev/stdout, /dev/fd/N, /proc/self/fd/N) are appended to in place."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    target = shm / f"mlcost-test-{os.getpid()}.md"
    try:
        safeio.write_output(target, "## one\n")
        safeio.write_output(target, "## two\n")  # replaced, not appended
        assert target.read_text() == f"## two\n<!-- {safeio.MARKER} -->\n"
    finally:
        target.unlink(missing_ok=True)


def test_stream_paths_get_the_data_appended(tmp_path):
    out = tmp_path / "redirected.txt"
    with open(out, "w") as fh:  # as a shell's `> redirected.txt` leaves it for the child's stdout
        fh.write("")
        fh.flush()
        safeio.write_output(f"/proc/self/fd/{fh.fileno()}", "x\n")
    assert out.read_text() == f"x\n# {safeio.MARKER}\n" and not out.is_symlink()


def test_a_symlink_to_an_output_keeps_the_link(tmp_path):
    real = tmp_path / "real.md"
    safeio.write_output(real, "## a\n")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    safeio.write_output(link, "## b\n")
    assert link.is_symlink() and real.read_text().startswith("## b\n")


def test_disk_full_is_one_input_error():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with pytest.raises(InputError, match="cannot write /dev/full"):
        safeio.write_output("/dev/full", "x\n")


def test_readers_refuse_fifos_devices_folders_and_oversized_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.json"
    with open(sparse, "wb") as fh:
        fh.truncate(1 << 30)  # 1 GiB of holes: no disk used, refused from its size alone
    cases = [(fifo, "is a FIFO"), ("/dev/zero", "is a character device"), (tmp_path, "is a folder"),
             (sparse, "is 1073741824 bytes, over the 1 MiB limit for --config"),
             (tmp_path / "missing", "does not exist")]
    for path, message in cases:
        with pytest.raises(InputError, match=f"--config: .*{message}"):
            safeio.read_bytes(path, "--config", 1 << 20)


def test_append_text_refuses_a_fifo_without_reader_and_appends_to_files(tmp_path):
    f = tmp_path / "summary.md"
    safeio.append_text(f, "a\n", "$GITHUB_STEP_SUMMARY")
    safeio.append_text(f, "b\n", "$GITHUB_STEP_SUMMARY")
    assert f.read_text() == "a\nb\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"\$GITHUB_STEP_SUMMARY: cannot write .* \(a FIFO with no reader\)"):
        safeio.append_text(fifo, "x", "$GITHUB_STEP_SUMMARY")
