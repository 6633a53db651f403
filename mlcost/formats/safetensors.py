"""safetensors checkpoints: parameters and bytes from the JSON header alone.

A safetensors file is ``<u64 little-endian header length N><N bytes of JSON><tensor payload>``.
Only the first 8 + N bytes are ever read (N is bounded *before* anything is allocated), so a
70B-parameter checkpoint costs a few hundred kilobytes of reading and memory.  Accepted inputs:
one ``.safetensors`` file, a ``*.safetensors.index.json`` (its ``weight_map`` names the shards),
or a folder (its index when it has one, else every ``*.safetensors`` in it).

Counts are elements (parameters) and bytes; there is no graph, so FLOPs stay ``None``.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcost import limits, safeio
from mlcost.errors import InputError
from mlcost.jsonfile import loads as json_loads, read_json_object
from mlcost.results import MemoryStats, ModuleRow, ParamStats, Profile

# Same cap as the safetensors crate (MAX_HEADER_SIZE = 100_000_000 bytes).
MAX_HEADER_BYTES = 100_000_000
MAX_INDEX_BYTES = limits.MAX_JSON_BYTES

# safetensors dtype -> (bits per element, torch-style name used in by_dtype)
DTYPES: dict[str, tuple[int, str]] = {
    "BOOL": (8, "bool"),
    "F4": (4, "float4_e2m1"),
    "F6_E2M3": (6, "float6_e2m3"),
    "F6_E3M2": (6, "float6_e3m2"),
    "U8": (8, "uint8"),
    "I8": (8, "int8"),
    "F8_E5M2": (8, "float8_e5m2"),
    "F8_E4M3": (8, "float8_e4m3fn"),
    "F8_E8M0": (8, "float8_e8m0fnu"),
    "F8_E4M3FNUZ": (8, "float8_e4m3fnuz"),
    "F8_E5M2FNUZ": (8, "float8_e5m2fnuz"),
    "I16": (16, "int16"),
    "U16": (16, "uint16"),
    "F16": (16, "float16"),
    "BF16": (16, "bfloat16"),
    "I32": (32, "int32"),
    "U32": (32, "uint32"),
    "F32": (32, "float32"),
    "C64": (64, "complex64"),
    "F64": (64, "float64"),
    "I64": (64, "int64"),
    "U64": (64, "uint64"),
}

# Tensors saved beside the weights that are not nn.Parameters (rotary tables, batch-norm
# statistics, position-id ranges): listed under details["buffers"], not counted as parameters.
_BUFFER_SUFFIXES = (".inv_freq", ".num_batches_tracked", ".running_mean", ".running_var", ".position_ids", ".masked_bias")


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str  # safetensors name, e.g. "BF16"
    shape: tuple[int, ...]
    numel: int  # elements
    nbytes: int
    file: str


def read_header(path: str | Path) -> tuple[dict[str, Any], int, int]:
    """(header dict, header length in bytes, file size in bytes) of one safetensors file.

    Reads 8 + N bytes and nothing else; N is checked against the cap and the file size first.
    """
    path = Path(path)
    try:
        with safeio.open_regular(path, "safetensors file", None) as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) < 8:
                raise InputError(f"{path}: truncated safetensors file ({size} bytes; the header length needs 8)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise InputError(f"{path}: safetensors header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
            if 8 + n > size:
                raise InputError(f"{path}: safetensors header length {n} runs past the end of the {size}-byte file")
            raw = fh.read(n)
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a safetensors file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) != n:
        raise InputError(f"{path}: truncated safetensors header ({len(raw)} of {n} bytes)")
    try:
        header = json_loads(raw.decode("utf-8"))  # NaN, inf and absurd magnitudes refused as everywhere
    except UnicodeDecodeError:
        raise InputError(f"{path}: safetensors header is not UTF-8") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a non-finite or absurd number
        raise InputError(f"{path}: safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise InputError(f"{path}: safetensors header must be a JSON object, found {type(header).__name__}")
    return header, n, size


def parse_tensors(path: str | Path, header: dict[str, Any], header_len: int, file_size: int) -> tuple[list[TensorEntry], dict[str, str]]:
    """Validate a header against its file; return its tensors (in offset order) and ``__metadata__``.

    Offsets must tile the payload exactly, as the safetensors crate requires: sorted by begin they
    start at 0, each begins where the last ended, and the last ends at the end of the file.
    """
    path = Path(path)
    data_len = file_size - 8 - header_len
    metadata = header.get("__metadata__", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InputError(f"{path}: __metadata__ must map strings to strings")
    spans: list[tuple[int, int, TensorEntry]] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise InputError(f"{where}: entry must be an object")
        dtype = info.get("dtype")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise InputError(f"{where}: unknown dtype {dtype!r}")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise InputError(f"{where}: shape must be a list of non-negative integers, found {shape!r}")
        offsets = info.get("data_offsets")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)):
            raise InputError(f"{where}: data_offsets must be two non-negative integers, found {offsets!r}")
        begin, end = offsets
        if begin > end:
            raise InputError(f"{where}: data_offsets begin {begin} > end {end}")
        if end > data_len:
            raise InputError(f"{where}: data_offsets end {end} is beyond the {data_len}-byte payload")
        numel = 1
        for d in shape:
            numel *= d
        bits = numel * DTYPES[dtype][0]
        if bits % 8:
            raise InputError(f"{where}: {numel} elements of {dtype} do not fill whole bytes")
        if end - begin != bits // 8:
            raise InputError(f"{where}: data_offsets span {end - begin} bytes but shape {shape} of {dtype} needs {bits // 8}")
        spans.append((begin, end, TensorEntry(name, dtype, tuple(shape), numel, bits // 8, path.name)))
    spans.sort(key=lambda s: (s[0], s[1]))
    expected = 0
    for begin, end, entry in spans:
        if begin != expected:
            kind = "overlaps the previous tensor" if begin < expected else f"leaves a gap after byte {expected}"
            raise InputError(f"{path}: tensor {entry.name!r} at offset {begin} {kind}")
        expected = end
    if expected != data_len:
        raise InputError(f"{path}: tensors cover {expected} of the {data_len} payload bytes (file size does not match the header)")
    return [s[2] for s in spans], metadata


def _read_index(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    data = read_json_object(path, "safetensors index", max_bytes=MAX_INDEX_BYTES)
    wm = data.get("weight_map")
    if not isinstance(wm, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wm.items()):
        raise InputError(f"{path}: index needs a 'weight_map' object mapping tensor names to shard files")
    for shard in set(wm.values()):
        # Shards live beside the index; a path that climbs out of the folder is refused.
        if not shard or Path(shard).is_absolute() or ".." in Path(shard).parts:
            raise InputError(f"{path}: shard name {shard!r} must be a file beside the index")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return wm, meta


def _resolve(spec: Path) -> tuple[list[Path], Path | None]:
    """The shard files to read and the index file (if any) for a file, index or folder SPEC."""
    if spec.is_dir():
        indexes = sorted(spec.glob("*.safetensors.index.json"))
        if len(indexes) > 1:
            preferred = [i for i in indexes if i.name == "model.safetensors.index.json"]
            if not preferred:
                raise InputError(f"{spec}: several safetensors index files ({', '.join(i.name for i in indexes)}); name one")
            indexes = preferred
        if indexes:
            return _resolve(indexes[0])
        files = sorted(spec.glob("*.safetensors"))
        if not files:
            raise InputError(f"{spec}: no *.safetensors files in this folder")
        return files, None
    if spec.name.endswith(".index.json"):
        wm, _ = _read_index(spec)
        shards = sorted(set(wm.values()))
        missing = [s for s in shards if not (spec.parent / s).is_file()]
        if missing:
            raise InputError(f"{spec}: shard {missing[0]} named in weight_map does not exist")
        return [spec.parent / s for s in shards], spec
    if not spec.exists():
        raise InputError(f"no such file or directory: {spec}")
    return [spec], None  # a FIFO or a device is refused by read_header


def read_checkpoint(spec: str | Path) -> tuple[list[TensorEntry], dict[str, Any]]:
    """Every tensor of a safetensors file/index/folder (headers only) plus facts for ``details``."""
    spec = Path(spec)
    files, index = _resolve(spec)
    tensors: list[TensorEntry] = []
    seen: dict[str, str] = {}
    metadata: dict[str, dict[str, str]] = {}
    header_bytes = 0
    for f in files:
        header, n, size = read_header(f)
        entries, meta = parse_tensors(f, header, n, size)
        header_bytes += 8 + n
        if meta:
            metadata[f.name] = meta
        for e in entries:
            if e.name in seen:
                raise InputError(f"{f}: tensor {e.name!r} also appears in {seen[e.name]}")
            seen[e.name] = f.name
        tensors.extend(entries)
    notes: list[str] = []
    details: dict[str, Any] = {"files": [f.name for f in files], "header_bytes_read": header_bytes, "metadata": metadata}
    if index is not None:
        wm, imeta = _read_index(index)
        details["index"] = index.name
        for name, shard in wm.items():
            if seen.get(name) != shard:
                where = f"in {seen[name]}" if name in seen else "in no shard"
                raise InputError(f"{index}: weight_map puts {name!r} in {shard}, but it is {where}")
        extra = sorted(set(seen) - set(wm))
        if extra:
            notes.append(f"{len(extra)} tensor(s) in the shards are missing from the index weight_map (counted anyway), e.g. {extra[0]!r}")
        total_size = imeta.get("total_size")
        data_bytes = sum(t.nbytes for t in tensors)
        if isinstance(total_size, int) and total_size != data_bytes:
            notes.append(f"index metadata total_size {total_size} differs from the {data_bytes} tensor bytes in the shard headers; the headers are used")
    details["notes"] = notes
    return tensors, details


def _split_key(name: str) -> list[Any]:
    # 'layers.10' sorts after 'layers.2'
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in name.split(".")]


def module_rows(tensors: list[tuple[str, int]]) -> tuple[ModuleRow, ...]:
    """A per-prefix tree from (tensor name, params): 'a.b.weight' adds to '', 'a' and 'a.b'.

    The root row ('' ) holds the total; every row's params equal the sum over its tensors.  Names are
    bounded (``limits.check_name``) and so is the number of rows (``limits.MAX_TREE_ROWS``).
    """
    sums: dict[str, int] = {"": 0}
    for name, n in tensors:
        parts = limits.check_name(name, f"tensor {name[:40]!r}")  # every prefix is a row: bounded depth and length
        sums[""] += n
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            sums[prefix] = sums.get(prefix, 0) + n
        limits.check_tree_rows(len(sums), "checkpoint")
    order = sorted(sums, key=lambda p: (_split_key(p) if p else []))
    return tuple(
        ModuleRow(name=p, type="prefix" if p else "checkpoint", depth=0 if not p else p.count(".") + 1, params=sums[p], flops=0, macs=0)
        for p in order
    )


def is_buffer(name: str) -> bool:
    """A known buffer name (batch-norm statistics, rotary tables, ...), with or without a module prefix."""
    return ("." + name).endswith(_BUFFER_SUFFIXES)


def profile_file(spec: str | Path, opts: Any = None) -> Profile:
    """Profile a safetensors file, index or folder from its headers (format 'safetensors', backend 'header')."""
    spec = Path(spec)
    tensors, details = read_checkpoint(spec)
    params = [t for t in tensors if not is_buffer(t.name)]
    buffers = [t for t in tensors if is_buffer(t.name)]
    by_dtype: dict[str, int] = {}
    bytes_by_dtype: dict[str, int] = {}
    for t in params:
        key = DTYPES[t.dtype][1]
        by_dtype[key] = by_dtype.get(key, 0) + t.numel
        bytes_by_dtype[key] = bytes_by_dtype.get(key, 0) + t.nbytes
    total = sum(t.numel for t in params)
    weights_bytes = sum(t.nbytes for t in params)
    details = {
        **details,
        "tensors": len(tensors),
        "header_dtypes": sorted({t.dtype for t in tensors}),
        "buffers": {"count": len(buffers), "elements": sum(t.numel for t in buffers), "bytes": sum(t.nbytes for t in buffers), "names": [t.name for t in buffers[:8]]},
    }
    assumptions = [
        "FLOPs need the architecture: a safetensors checkpoint holds tensors only; profile the Hugging Face folder (config.json) or the model's factory to count FLOPs",
        "parameters are the tensors stored in the checkpoint headers (payload not read); all are counted as trainable",
        "by_module rows group tensors by dotted name prefix (params only; flops and macs are 0)",
    ]
    if buffers:
        assumptions.append(
            f"{len(buffers)} stored buffer tensor(s) ({details['buffers']['elements']} elements, e.g. {buffers[0].name!r}) are not parameters: left out of params and weights_bytes"
        )
    assumptions.extend(details.pop("notes"))
    name = spec.resolve().name or str(spec)  # `mlcost profile .` names the folder, not ""
    if spec.is_file():
        name = re.sub(r"(\.safetensors)?(\.index\.json)?$", "", spec.name) or spec.name
        if len(details["files"]) > 1 or name == "model":
            name = spec.resolve().parent.name or name
    return Profile(
        model=name,
        format="safetensors",
        backend="header",
        params=ParamStats(total=total, trainable=total, by_dtype=by_dtype, bytes_by_dtype=bytes_by_dtype),
        memory=MemoryStats(weights_bytes=weights_bytes),
        flops_forward=None,
        macs_forward=None,
        by_module=module_rows([(t.name, t.numel) for t in params]),
        assumptions=tuple(assumptions),
        details=details,
    )
