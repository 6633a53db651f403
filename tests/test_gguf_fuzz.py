"""Property tests: damaged GGUF headers give a Profile or an InputError, never a crash or a big allocation."""
from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("gguf")

from mlcost.formats.gguf import profile_file  # noqa: E402

from test_gguf import write_gguf  # noqa: E402
from _fuzz import assert_rejects_cleanly

_VALID: bytes | None = None


def _valid() -> bytes:
    global _VALID
    if _VALID is None:
        with tempfile.TemporaryDirectory() as d:
            _VALID = write_gguf(Path(d) / "v.gguf", moe=True).read_bytes()
    return _VALID



def _check(data: bytes) -> None:
    assert_rejects_cleanly(profile_file, data, '.gguf')


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=4000),
    edits=st.lists(st.tuples(st.integers(0, 1200), st.sampled_from([0, 1, 0x7F, 0xFF, 0x80])), max_size=4),
    big=st.lists(st.tuples(st.integers(0, 1200), st.sampled_from([2**63, 2**40, 2**32 - 1, 5])), max_size=2),
)
def test_mutated_valid_file(cut, edits, big):
    data = bytearray(_valid()[: len(_valid()) - cut])
    for i, b in edits:
        if i < len(data):
            data[i] = b
    for i, v in big:  # plant a lying u64 length/count
        if i + 8 <= len(data):
            data[i:i + 8] = struct.pack("<Q", v)
    _check(bytes(data))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_after_magic(tail):
    _check(b"GGUF" + tail)
