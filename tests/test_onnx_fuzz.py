"""Random and mutated bytes named .onnx: only an InputError/UsageError (one line), never a crash."""
from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from mlcost.errors import MlcostError  # noqa: E402
from mlcost.formats import ProfileOptions  # noqa: E402
from mlcost.formats.onnx import profile_file  # noqa: E402


def _seed_model() -> bytes:
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [0.5] * 12)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
             helper.make_node("Relu", ["h"], ["y"], name="/act/Relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString()


SEED = _seed_model()
OPTS = ProfileOptions(dims={"n": 2})


def _run(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fz") / "m.onnx"
    path.write_bytes(data)
    try:
        profile_file(path, OPTS)
    except MlcostError as exc:
        assert "\n" not in str(exc)


def test_seed_counts(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(SEED)
    p = profile_file(path, OPTS)
    assert (p.params.total, p.macs_forward, p.flops_forward) == (12, 2 * 4 * 3, 2 * 2 * 4 * 3 + 2 * 3)


def test_initializer_whose_data_does_not_fill_its_dims(tmp_path):
    """An initializer declaring 3 elements with 12 floats of data (a mutation hypothesis found): numpy's
    reshape raised ValueError out of the shape folding; now one line naming the initializer."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [0.5] * 12)
    del w.dims[:]
    w.dims.append(3)
    graph = helper.make_graph([helper.make_node("Relu", ["w"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], [w])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString())
    with pytest.raises(MlcostError, match=r"initializer 'w' does not match its dims \[3\]"):
        profile_file(path, ProfileOptions())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_random_bytes(tmp_path_factory, data):
    _run(tmp_path_factory, data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, len(SEED)))
def test_mutated_model(tmp_path_factory, edits, cut):
    data = bytearray(SEED)
    for pos, value in edits:
        data[pos] = value
    _run(tmp_path_factory, bytes(data[:cut] if cut < 40 else data))
