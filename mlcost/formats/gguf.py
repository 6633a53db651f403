"""GGUF files (llama.cpp): tensor count, quantization types, bytes by type, parameters and
architecture metadata, from the header alone.

The header is parsed here with a bounded reader instead of ``gguf.GGUFReader``: the reader maps the
whole file and builds a numpy view per metadata item (slow on 150k-token vocabularies) and fails
with assorted exceptions on damaged files.  The ``gguf`` package still supplies the type tables
(value types, quantization block sizes).  Every length or count is checked against the bytes left
in the file before anything is read or allocated; the tensor payload is never touched.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

from mlcost import safeio
from mlcost.errors import InputError, import_optional
from mlcost.formats.safetensors import module_rows
from mlcost.results import MemoryStats, ParamStats, Profile

_MAX_INLINE_STR = 256  # longer strings (chat templates, licences) are summarized in details
_MAX_READ_STR = 1 << 16  # strings above 64 KiB are skipped, never read into memory
_MAX_INLINE_ARRAY = 16
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NESTING = 4
_TORCH_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64"}
# value type id -> (struct code, bytes); 8 = STRING, 9 = ARRAY handled apart
_SCALARS = {0: ("B", 1), 1: ("b", 1), 2: ("H", 2), 3: ("h", 2), 4: ("I", 4), 5: ("i", 4), 6: ("f", 4), 7: ("?", 1), 10: ("Q", 8), 11: ("q", 8), 12: ("d", 8)}
_ARCH_KEYS = (
    "context_length", "block_count", "embedding_length", "feed_forward_length", "attention.head_count",
    "attention.head_count_kv", "attention.key_length", "attention.value_length", "rope.dimension_count",
    "expert_count", "expert_used_count", "vocab_size",
)


class _Reader:
    """Sequential reads that never go past the end of the file (or allocate more than is left)."""

    def __init__(self, fh: BinaryIO, size: int, path: Path) -> None:
        self.fh, self.size, self.pos, self.path = fh, size, 0, path
        self.endian = "<"

    def left(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.left():
            raise InputError(f"{self.path}: truncated GGUF header: {what} needs {n} bytes, {self.left()} left at offset {self.pos}")

    def read(self, n: int, what: str) -> bytes:
        self.need(n, what)
        data = self.fh.read(n)
        if len(data) != n:
            raise InputError(f"{self.path}: truncated GGUF header at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.fh.seek(n, os.SEEK_CUR)
        self.pos += n

    def scalar(self, code: str, n: int, what: str) -> Any:
        return struct.unpack(self.endian + code, self.read(n, what))[0]

    def u32(self, what: str) -> int:
        return self.scalar("I", 4, what)

    def u64(self, what: str) -> int:
        return self.scalar("Q", 8, what)

    def string(self, what: str) -> str:
        n = self.u64(f"{what} length")
        self.need(n, what)
        if n > _MAX_READ_STR:
            self.skip(n, what)
            return f"<string of {n} bytes>"
        raw = self.read(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{self.path}: {what} is not UTF-8 (offset {self.pos - n})") from None


def _value(r: _Reader, vtype: int, what: str, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        code, n = _SCALARS[vtype]
        return r.scalar(code, n, what)
    if vtype == 8:
        s = r.string(what)
        return s if len(s) <= _MAX_INLINE_STR else f"<string of {len(s)} chars>"
    if vtype == 9:
        if depth >= _MAX_NESTING:
            raise InputError(f"{r.path}: {what}: arrays nested deeper than {_MAX_NESTING}")
        itype = r.u32(f"{what} item type")
        count = r.u64(f"{what} count")
        if itype in _SCALARS:
            size = _SCALARS[itype][1]
            r.need(count * size, f"{what} ({count} items)")
            if count <= _MAX_INLINE_ARRAY:
                return [_value(r, itype, what) for _ in range(count)]
            r.skip(count * size, what)
        elif itype in (8, 9):
            r.need(count * (8 if itype == 8 else 12), f"{what} ({count} items)")  # minimum item size
            items = [_value(r, itype, what, depth + 1) for _ in range(min(count, _MAX_INLINE_ARRAY))]
            if count <= _MAX_INLINE_ARRAY:
                return items
            for _ in range(count - len(items)):
                if itype == 8:
                    r.skip(r.u64(f"{what} item length"), what)
                else:
                    _value(r, itype, what, depth + 1)
        else:
            raise InputError(f"{r.path}: {what}: unknown array item type {itype}")
        return {"array_of": _type_name(itype), "count": count}
    raise InputError(f"{r.path}: {what}: unknown value type {vtype}")


def _type_name(vtype: int) -> str:
    gguf = import_optional("gguf", "gguf", "reading GGUF files")
    try:
        return gguf.GGUFValueType(vtype).name
    except ValueError:
        return str(vtype)


def read_gguf(path: str | Path) -> dict[str, Any]:
    """Parse the GGUF header of PATH: {"version", "metadata", "tensors": [(name, type, dims, offset, nbytes)], ...}."""
    gguf = import_optional("gguf", "gguf", "reading GGUF files")
    quant_sizes = gguf.GGML_QUANT_SIZES
    path = Path(path)
    with safeio.open_regular(path, "GGUF file", None) as fh:
        size = os.fstat(fh.fileno()).st_size
        r = _Reader(fh, size, path)
        if r.read(4, "magic") != b"GGUF":
            raise InputError(f"{path}: not a GGUF file (magic bytes are not 'GGUF')")
        raw_version = r.read(4, "version")
        version = struct.unpack("<I", raw_version)[0]
        if version > 0xFFFF and struct.unpack(">I", raw_version)[0] in (2, 3):
            r.endian, version = ">", struct.unpack(">I", raw_version)[0]  # a big-endian file
        if version not in (2, 3):
            raise InputError(f"{path}: GGUF version {version} is not supported (2 and 3 are)")
        n_tensors = r.u64("tensor count")
        n_kv = r.u64("metadata count")
        r.need(n_tensors * 24 + n_kv * 13, f"{n_tensors} tensor infos and {n_kv} metadata entries")
        metadata: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"metadata key #{i}")
            vtype = r.u32(f"metadata {key!r} type")
            metadata[key] = _value(r, vtype, f"metadata {key!r}")
        tensors = []
        for i in range(n_tensors):
            name = r.string(f"tensor #{i} name")
            n_dims = r.u32(f"tensor {name!r} dims")
            if not 0 < n_dims <= _MAX_DIMS:
                raise InputError(f"{path}: tensor {name!r} has {n_dims} dimensions (1 to {_MAX_DIMS} allowed)")
            dims = [r.u64(f"tensor {name!r} shape") for _ in range(n_dims)]
            ttype = r.u32(f"tensor {name!r} type")
            offset = r.u64(f"tensor {name!r} offset")
            try:
                qtype = gguf.GGMLQuantizationType(ttype)
                block, type_size = quant_sizes[qtype]
            except (ValueError, KeyError):
                raise InputError(f"{path}: tensor {name!r} has unknown type id {ttype}") from None
            if dims[0] % block:
                raise InputError(f"{path}: tensor {name!r} row length {dims[0]} is not a multiple of the {qtype.name} block size {block}")
            numel = 1
            for d in dims:
                numel *= d
            tensors.append((name, qtype.name, dims, offset, numel, numel // block * type_size))
        alignment = metadata.get("general.alignment", 32)
        if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
            raise InputError(f"{path}: general.alignment {alignment!r} must be a positive power of two")
        data_start = -(-r.pos // alignment) * alignment
        data_len = size - data_start
        if data_len < 0:
            raise InputError(f"{path}: truncated GGUF file: tensor data would start at {data_start}, past the {size}-byte end")
        names: set[str] = set()
        end_prev, prev = 0, None
        for name, _, _, offset, _, nbytes in sorted(tensors, key=lambda t: t[3]):
            if name in names:
                raise InputError(f"{path}: tensor {name!r} appears twice")
            names.add(name)
            if offset % alignment:
                raise InputError(f"{path}: tensor {name!r} offset {offset} is not aligned to {alignment}")
            if offset < end_prev:
                raise InputError(f"{path}: tensor {name!r} at offset {offset} overlaps tensor {prev!r}")
            if offset + nbytes > data_len:
                raise InputError(f"{path}: tensor {name!r} ({nbytes} bytes at offset {offset}) runs past the end of the file")
            end_prev, prev = offset + nbytes, name
    return {"version": version, "endian": "big" if r.endian == ">" else "little", "metadata": metadata, "tensors": tensors,
            "alignment": alignment, "header_bytes": r.pos, "file_bytes": size}


def profile_file(spec: str | Path, opts: Any = None) -> Profile:
    """Profile a GGUF file from its header (format 'gguf', backend 'header'; params in elements, bytes as stored)."""
    path = Path(spec)
    info = read_gguf(path)
    md = info["metadata"]
    by_dtype: dict[str, int] = {}
    bytes_by_dtype: dict[str, int] = {}
    for _, tname, _, _, numel, nbytes in info["tensors"]:
        key = _TORCH_NAMES.get(tname, tname)
        by_dtype[key] = by_dtype.get(key, 0) + numel
        bytes_by_dtype[key] = bytes_by_dtype.get(key, 0) + nbytes
    total = sum(t[4] for t in info["tensors"])
    weights_bytes = sum(t[5] for t in info["tensors"])
    arch = md.get("general.architecture")
    architecture: dict[str, Any] = {"architecture": arch}
    if isinstance(arch, str):
        for k in _ARCH_KEYS:
            if f"{arch}.{k}" in md:
                architecture[k.replace("attention.", "").replace(".", "_")] = md[f"{arch}.{k}"]
    for k in ("general.name", "general.size_label", "general.file_type", "general.quantization_version"):
        if k in md:
            architecture[k.split(".", 1)[1]] = md[k]
    assumptions = [
        "FLOPs need the architecture: a GGUF header gives tensors and metadata only, so flops stay empty",
        "parameters are tensor elements from the GGUF header (payload not read); bytes are as stored, quantization blocks included",
        "by_module rows group tensors by dotted name prefix (params only; flops and macs are 0)",
    ]
    split_count = md.get("split.count")
    if isinstance(split_count, int) and split_count > 1:
        assumptions.append(f"this file is split {md.get('split.no', '?')} of {split_count} (0-based); counts cover this file's tensors only")
    active = None
    experts, used = architecture.get("expert_count"), architecture.get("expert_used_count")
    if isinstance(experts, int) and isinstance(used, int) and 0 < used <= experts:
        exp_params = sum(t[4] for t in info["tensors"] if "_exps." in t[0])
        if exp_params:
            active = total - exp_params * (experts - used) // experts
            assumptions.append(
                f"mixture of experts: {used} of {experts} experts per token; active params = total - expert tensors ('*_exps.*') x (1 - {used}/{experts})"
            )
    details = {
        "gguf_version": info["version"],
        "endian": info["endian"],
        "alignment": info["alignment"],
        "header_bytes_read": info["header_bytes"],
        "tensors": len(info["tensors"]),
        "quantization_types": sorted({t[1] for t in info["tensors"]}),
        "bytes_by_type": {t: sum(x[5] for x in info["tensors"] if x[1] == t) for t in sorted({t[1] for t in info["tensors"]})},
        "architecture": architecture,
        "metadata": md,
    }
    return Profile(
        model=str(md.get("general.name") or path.stem),
        format="gguf",
        backend="header",
        params=ParamStats(total=total, trainable=total, by_dtype=by_dtype, bytes_by_dtype=bytes_by_dtype, active=active),
        memory=MemoryStats(weights_bytes=weights_bytes),
        by_module=module_rows([(t[0], t[4]) for t in info["tensors"]]),
        assumptions=tuple(assumptions),
        details=details,
    )
