"""safetensors headers: exact counts, sharded Llama-2-7B from sparse files, strict validation."""
from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import pytest

from mlcost.errors import InputError
from mlcost.formats import ProfileOptions, detect_format
from mlcost.formats.safetensors import DTYPES, profile_file

BITS = {k: v[0] for k, v in DTYPES.items()}


def write_st(path: Path, tensors: dict[str, tuple[str, tuple[int, ...]]], metadata: dict | None = None) -> int:
    """Write a safetensors header for TENSORS (name -> (dtype, shape)) and extend the file sparsely."""
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        nbytes = n * BITS[dtype] // 8
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    raw = json.dumps(header).encode()
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(8 + len(raw) + off)  # sparse: the payload is never written
    return off


def llama2_7b_tensors(dtype: str = "BF16") -> dict[str, tuple[str, tuple[int, ...]]]:
    h, f, v, layers = 4096, 11008, 32000, 32
    t = {"model.embed_tokens.weight": (dtype, (v, h))}
    for i in range(layers):
        p = f"model.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t[f"{p}.self_attn.{proj}.weight"] = (dtype, (h, h))
        t[f"{p}.mlp.gate_proj.weight"] = (dtype, (f, h))
        t[f"{p}.mlp.up_proj.weight"] = (dtype, (f, h))
        t[f"{p}.mlp.down_proj.weight"] = (dtype, (h, f))
        t[f"{p}.input_layernorm.weight"] = (dtype, (h,))
        t[f"{p}.post_attention_layernorm.weight"] = (dtype, (h,))
    t["model.norm.weight"] = (dtype, (h,))
    t["lm_head.weight"] = (dtype, (v, h))
    return t


def write_sharded(folder: Path, tensors: dict, shards: int = 3) -> None:
    names = list(tensors)
    per = -(-len(names) // shards)
    weight_map, total = {}, 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        total += write_st(folder / fname, part)
        weight_map.update({n: fname for n in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))


LLAMA2_7B_PARAMS = 6_738_415_616  # 2*32000*4096 + 32*(4*4096*4096 + 3*11008*4096 + 2*4096) + 4096


def test_single_file_counts(tmp_path):
    p = tmp_path / "tiny.safetensors"
    write_st(p, {
        "enc.0.weight": ("F32", (8, 4)),  # 32 elements, 128 bytes
        "enc.0.bias": ("F32", (8,)),  # 8 elements, 32 bytes
        "enc.1.weight": ("F16", (2, 8)),  # 16 elements, 32 bytes
        "head.weight": ("F8_E4M3", (3, 8)),  # 24 elements, 24 bytes
        "flag": ("BOOL", (5,)),  # 5 elements, 5 bytes
    }, metadata={"format": "pt"})
    prof = profile_file(p, ProfileOptions())
    assert detect_format(p) == "safetensors"
    assert prof.format == "safetensors" and prof.backend == "header" and prof.flops_forward is None
    assert prof.params.total == 32 + 8 + 16 + 24 + 5 == prof.params.trainable
    assert prof.params.by_dtype == {"float32": 40, "float16": 16, "float8_e4m3fn": 24, "bool": 5}
    assert prof.params.bytes_by_dtype == {"float32": 160, "float16": 32, "float8_e4m3fn": 24, "bool": 5}
    assert prof.memory.weights_bytes == 160 + 32 + 24 + 5
    rows = {r.name: r for r in prof.by_module}
    assert rows[""].params == 85 and rows["enc"].params == 56 and rows["enc.0"].params == 40
    assert rows["enc.1"].params == 16 and rows["head"].params == 24 and rows["enc.0"].depth == 2
    assert all(r.flops == 0 and r.macs == 0 for r in prof.by_module)
    assert prof.details["metadata"] == {"tiny.safetensors": {"format": "pt"}}
    assert any("FLOPs need the architecture" in a for a in prof.assumptions)


def test_llama2_7b_sharded_sparse(tmp_path):
    write_sharded(tmp_path, llama2_7b_tensors(), shards=3)
    assert sum(f.stat().st_size for f in tmp_path.glob("*.safetensors")) > 13_476_831_232  # + headers
    tracemalloc.start()
    prof = profile_file(tmp_path, ProfileOptions())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20_000_000  # headers only: a few hundred KB of JSON, never the 13 GB payload
    assert prof.params.total == LLAMA2_7B_PARAMS
    assert prof.memory.weights_bytes == 13_476_831_232 == 2 * LLAMA2_7B_PARAMS
    assert prof.params.bytes_by_dtype == {"bfloat16": 13_476_831_232}
    assert prof.details["tensors"] == 2 + 32 * 9 + 1
    rows = {r.name: r for r in prof.by_module}
    assert rows["model.layers.0"].params == 4 * 4096 * 4096 + 3 * 11008 * 4096 + 2 * 4096
    assert rows["model.layers"].params == 32 * rows["model.layers.31"].params
    assert rows["lm_head"].params == 32000 * 4096
    # children sum to parents (rows that hold no tensor directly)
    depth1 = [r for r in prof.by_module if r.depth == 1]
    assert sum(r.params for r in depth1) == rows[""].params == LLAMA2_7B_PARAMS
    layers = [r for r in prof.by_module if r.depth == 3 and r.name.startswith("model.layers.")]
    assert len(layers) == 32 and sum(r.params for r in layers) == rows["model.layers"].params
    assert rows["model"].params == rows["model.layers"].params + rows["model.embed_tokens"].params + rows["model.norm"].params
    # layer prefixes sort numerically
    layer_rows = [r.name for r in prof.by_module if r.depth == 3 and r.name.startswith("model.layers.")]
    assert layer_rows[:3] == ["model.layers.0", "model.layers.1", "model.layers.2"]
    # the index file itself and a single shard are accepted too
    assert profile_file(tmp_path / "model.safetensors.index.json").params.total == LLAMA2_7B_PARAMS
    one = profile_file(tmp_path / "model-00001-of-00003.safetensors")
    assert 0 < one.params.total < LLAMA2_7B_PARAMS


def test_buffers_are_not_params(tmp_path):
    p = tmp_path / "m.safetensors"
    write_st(p, {"layers.0.rotary_emb.inv_freq": ("F32", (64,)), "layers.0.w.weight": ("F32", (4, 4))})
    prof = profile_file(p)
    assert prof.params.total == 16 and prof.memory.weights_bytes == 64
    assert prof.details["buffers"]["elements"] == 64


def test_folder_without_index(tmp_path):
    write_st(tmp_path / "a.safetensors", {"x.weight": ("F32", (3, 3))})
    write_st(tmp_path / "b.safetensors", {"y.weight": ("BF16", (2,))})
    prof = profile_file(tmp_path)
    assert prof.params.total == 9 + 2 and prof.memory.weights_bytes == 36 + 4


def _raw(path: Path, header: bytes, payload: int, length: int | None = None) -> Path:
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header + b"\0" * payload)
    return path


@pytest.mark.parametrize(
    "header,payload,length,message",
    [
        (b"", 0, 2**63, "exceeds"),
        (b"{}", 0, 50, "runs past the end"),
        (b"{not json", 0, None, "not valid JSON"),
        (b"[1, 2]", 0, None, "must be a JSON object"),
        (b'{"a": {"dtype": "F17", "shape": [1], "data_offsets": [0, 4]}}', 4, None, "unknown dtype"),
        (b'{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', 4, None, "shape"),
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', 4, None, "needs 8"),
        (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}', 4, None, "begin 4 > end 0"),
        (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', 2, None, "beyond"),
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', 8, None, "overlaps"),
        (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', 8, None, "gap"),
        (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', 9, None, "cover 4 of the 9"),
        (b'{"__metadata__": {"a": 1}}', 0, None, "__metadata__"),
        (b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}', 4, None, "not valid JSON.*NaN"),
        (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 1e999]}}', 4, None, "not valid JSON.*1e999"),
    ],
)
def test_malformed_headers(tmp_path, header, payload, length, message):
    p = _raw(tmp_path / "bad.safetensors", header, payload, length)
    with pytest.raises(InputError, match=message):
        profile_file(p)


def test_truncated_and_index_errors(tmp_path):
    (tmp_path / "t.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(InputError, match="truncated"):
        profile_file(tmp_path / "t.safetensors")
    write_st(tmp_path / "s.safetensors", {"a.weight": ("F32", (2,))})
    idx = tmp_path / "model.safetensors.index.json"
    idx.write_text(json.dumps({"weight_map": {"a.weight": "../s.safetensors"}}))
    with pytest.raises(InputError, match="beside the index"):
        profile_file(idx)
    idx.write_text(json.dumps({"weight_map": {"a.weight": "s.safetensors", "b.weight": "s.safetensors"}}))
    with pytest.raises(InputError, match="in no shard"):
        profile_file(idx)
    idx.write_text(json.dumps({"weight_map": {"a.weight": "missing.safetensors"}}))
    with pytest.raises(InputError, match="does not exist"):
        profile_file(idx)


def test_llama2_7b_with_rotary_buffers(tmp_path):
    """Older HF Llama-2-7B checkpoints also store 32 x 64 rotary inv_freq buffers (HF total 6,738,417,664)."""
    t = llama2_7b_tensors()
    for i in range(32):
        t[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = ("F32", (64,))
    write_sharded(tmp_path, t, shards=2)
    prof = profile_file(tmp_path)
    assert prof.params.total == LLAMA2_7B_PARAMS and prof.memory.weights_bytes == 13_476_831_232
    assert prof.details["buffers"]["elements"] == 32 * 64 == 6_738_417_664 - LLAMA2_7B_PARAMS


def test_seq_len_is_refused_naming_the_format(tmp_path):
    import mlcost
    from mlcost.errors import UsageError

    p = tmp_path / "x.safetensors"
    write_st(p, {"w": ("F32", (2,))})
    with pytest.raises(UsageError, match=r"--seq-len does not apply to a safetensors checkpoint \(safetensors format\)"):
        mlcost.profile(p, seq_len=128)
