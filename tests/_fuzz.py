"""Shared check for the property tests that throw malformed files at a header parser."""
from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path
from typing import Callable

from mlcost.errors import InputError


def assert_rejects_cleanly(profile_file: Callable[[Path], object], data: bytes, suffix: str,
                           max_traced_bytes: int = 5_000_000) -> None:
    """PROFILE_FILE on DATA either works or raises InputError, and never allocates in proportion to a
    lying length or shape field (traced Python allocations stay under MAX_TRACED_BYTES)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"x{suffix}"
        p.write_bytes(data)
        tracemalloc.start()
        try:
            profile_file(p)
        except InputError:
            pass
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < max_traced_bytes
