"""GGUF headers: files written with gguf.GGUFWriter in the test, exact counts and bytes."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from mlcost.errors import InputError  # noqa: E402
from mlcost.formats import detect_format  # noqa: E402
from mlcost.formats.gguf import profile_file, read_gguf  # noqa: E402

Q = gguf.GGMLQuantizationType


def write_gguf(path: Path, moe: bool = False) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-test")
    w.add_context_length(256)
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(7)
    w.add_token_list([f"tok{i}" for i in range(40)])  # 40 strings: summarized, not inlined
    w.add_token_scores([0.5] * 3)
    if moe:
        w.add_expert_count(4)
        w.add_expert_used_count(2)
    w.add_tensor("token_embd.weight", np.zeros((40, 64), dtype=np.float32))  # 2560 elems, 10240 bytes
    w.add_tensor("blk.0.attn_norm.weight", np.zeros(64, dtype=np.float32))  # 64 elems, 256 bytes
    w.add_tensor("blk.0.attn_q.weight", np.zeros((64, 64), dtype=np.float16))  # 4096 elems, 8192 bytes
    q8 = gguf.quants.quantize(np.zeros((128, 64), dtype=np.float32), Q.Q8_0)
    w.add_tensor("blk.0.ffn_up.weight", q8, raw_dtype=Q.Q8_0)  # 8192 elems = 256 blocks x 34 bytes = 8704
    if moe:
        w.add_tensor("blk.0.ffn_up_exps.weight", np.zeros((4, 32, 64), dtype=np.float16))  # 8192 elems, 16384 bytes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_counts_and_bytes(tmp_path):
    p = write_gguf(tmp_path / "tiny.gguf")
    prof = profile_file(p)
    assert detect_format(p) == "gguf"
    assert prof.format == "gguf" and prof.backend == "header" and prof.flops_forward is None
    assert prof.params.total == 2560 + 64 + 4096 + 8192 == 14912
    assert prof.params.by_dtype == {"float32": 2560 + 64, "float16": 4096, "Q8_0": 8192}
    assert prof.params.bytes_by_dtype == {"float32": 4 * 2624, "float16": 2 * 4096, "Q8_0": 8192 // 32 * 34}
    assert prof.memory.weights_bytes == 10496 + 8192 + 8704
    d = prof.details
    assert d["tensors"] == 4 and d["quantization_types"] == ["F16", "F32", "Q8_0"]
    assert d["bytes_by_type"] == {"F16": 8192, "F32": 10496, "Q8_0": 8704}
    arch = d["architecture"]
    assert arch["architecture"] == "llama" and arch["context_length"] == 256 and arch["block_count"] == 1
    assert arch["embedding_length"] == 64 and arch["head_count"] == 4 and arch["head_count_kv"] == 2
    assert d["metadata"]["tokenizer.ggml.tokens"] == {"array_of": "STRING", "count": 40}
    assert d["metadata"]["tokenizer.ggml.scores"] == pytest.approx([0.5, 0.5, 0.5])
    assert prof.model == "tiny-test" and prof.params.active is None
    rows = {r.name: r.params for r in prof.by_module}
    assert rows[""] == 14912 and rows["blk"] == rows["blk.0"] == 64 + 4096 + 8192
    # the gguf package's own reader agrees on every tensor's size
    reader = gguf.GGUFReader(str(p))
    assert sorted((t.name, int(t.n_elements), int(t.n_bytes)) for t in reader.tensors) == sorted(
        (t[0], t[4], t[5]) for t in read_gguf(p)["tensors"]
    )


def test_moe_active_params(tmp_path):
    prof = profile_file(write_gguf(tmp_path / "moe.gguf", moe=True))
    assert prof.params.total == 14912 + 8192
    assert prof.params.active == 14912 + 8192 * 2 // 4  # 2 of 4 experts per token


def _header(n_tensors: int = 0, n_kv: int = 1, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _kv_str(key: bytes, n: int | None = None, val: bytes = b"x") -> bytes:
    return struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(val) if n is None else n) + val


@pytest.mark.parametrize(
    "data,message",
    [
        (b"GGU", "truncated"),
        (b"GGML" + b"\0" * 20, "not a GGUF file"),
        (_header(version=1), "version 1"),
        (_header(n_tensors=2**60), "needs"),
        (_header() + _kv_str(b"a", n=2**62), "needs"),
        (_header() + struct.pack("<Q", 1) + b"a" + struct.pack("<I", 99), "unknown value type 99"),
        (_header() + struct.pack("<Q", 1) + b"a" + struct.pack("<IIQ", 9, 4, 2**61), "needs"),
        (_header() + struct.pack("<Q", 1) + b"a" + struct.pack("<IIQ", 9, 8, 2**40), "needs"),
    ],
)
def test_malformed(tmp_path, data, message):
    p = tmp_path / "bad.gguf"
    p.write_bytes(data)
    with pytest.raises(InputError, match=message):
        profile_file(p)


def test_truncated_payload_and_bad_tensor_type(tmp_path):
    p = write_gguf(tmp_path / "t.gguf")
    raw = p.read_bytes()
    (tmp_path / "cut.gguf").write_bytes(raw[:-100])
    with pytest.raises(InputError, match="runs past the end"):
        profile_file(tmp_path / "cut.gguf")
    info = read_gguf(p)
    # corrupt the type id of the first tensor (F32 = 0) to an unknown one
    name = b"token_embd.weight"
    i = raw.index(struct.pack("<Q", len(name)) + name) + 8 + len(name) + 4 + 2 * 8
    assert struct.unpack("<I", raw[i:i + 4])[0] == 0 and info["tensors"][0][1] == "F32"
    (tmp_path / "ty.gguf").write_bytes(raw[:i] + struct.pack("<I", 250) + raw[i + 4:])
    with pytest.raises(InputError, match="unknown type id 250"):
        profile_file(tmp_path / "ty.gguf")
