"""Property test: a damaged config.json gives a profile or an MlcostError, never another exception."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("transformers")

from mlcost.errors import MlcostError  # noqa: E402
from mlcost.formats import ProfileOptions  # noqa: E402
from mlcost.formats.hf import profile_file  # noqa: E402

_BASE = dict(model_type="llama", vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
             num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
_values = st.one_of(st.integers(-3, 40), st.just(0), st.text(max_size=3), st.none(), st.floats(allow_nan=False, width=16), st.lists(st.integers(0, 3), max_size=2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(sorted(_BASE)), _values, max_size=3), drop=st.sets(st.sampled_from(sorted(_BASE)), max_size=1))
def test_damaged_llama_configs(changes, drop):
    cfg = {k: v for k, v in {**_BASE, **changes}.items() if k not in drop}
    with tempfile.TemporaryDirectory() as d:
        Path(d, "config.json").write_text(json.dumps(cfg))
        try:
            prof = profile_file(d, ProfileOptions(seq_len=4))
        except MlcostError:
            return
        assert prof.params.total > 0
