"""Property tests: any bytes thrown at the safetensors reader give a Profile or an InputError, never a crash."""
from __future__ import annotations

import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcost.formats.safetensors import profile_file
from _fuzz import assert_rejects_cleanly

_dtypes = st.sampled_from(["F32", "BF16", "F16", "I8", "BOOL", "F8_E5M2", "F4", "F64", "F17", "", 3])
_entry = st.fixed_dictionaries(
    {
        "dtype": _dtypes,
        "shape": st.lists(st.integers(min_value=-2, max_value=2**40), max_size=3) | st.just("x"),
        "data_offsets": st.lists(st.integers(min_value=-1, max_value=2**62), min_size=0, max_size=3),
    }
)
_header = st.dictionaries(st.text(max_size=6), _entry | st.integers() | st.none(), max_size=4)



def _check(data: bytes) -> None:
    assert_rejects_cleanly(profile_file, data, '.safetensors')


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=_header, length_delta=st.integers(min_value=-3, max_value=3) | st.just(2**63), payload=st.integers(0, 64))
def test_structured_headers(header, length_delta, payload):
    raw = json.dumps(header).encode()
    n = len(raw) + length_delta if length_delta != 2**63 else 2**63
    _check(struct.pack("<Q", max(n, 0)) + raw + b"\0" * payload)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes(data):
    _check(data)
