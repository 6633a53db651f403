"""Reading torch's zip archives as data: bounded members, restricted unpickling, no code.

``check_zip`` bounds an archive before torch's own reader sees it (member count, declared and actual
decompressed sizes: a zip bomb is refused while it is being measured, in chunks).  ``restricted_load``
unpickles one member with torch's weights_only unpickler (tensors, containers, numbers; never a
callable), refusing anything else with UnsafeFileError.  ``load_export`` reads a torch.export archive
(.pt2) without running its pickles: ``torch.export.load`` unpickles the sample inputs, pickled weights
and constants with a fallback to full pickle, and parses shape expressions with ``sympy.sympify`` (an
``eval``); here every pickled member goes through ``restricted_load``, opaque pickled objects are
refused, and every shape expression is checked to be plain arithmetic before torch parses it.
"""
from __future__ import annotations

import ast
import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from mlcost import limits, safeio
from mlcost.errors import InputError, ModelLoadError, UnsafeFileError

_TRUST = "pass --trust-pickle only if you trust where the file came from"


def check_zip(source: str | Path | bytes, what: str) -> list[str]:
    """The member names of the zip archive SOURCE (a path or bytes), after bounding every member."""
    fh: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else safeio.open_regular(source, what, None)
    try:
        with fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if len(infos) > limits.MAX_ZIP_MEMBERS:
                raise InputError(f"{what}: {len(infos)} archive members, over the limit of {limits.MAX_ZIP_MEMBERS}")
            size = fh.seek(0, 2)
            for info in infos:
                if info.compress_type == zipfile.ZIP_STORED and (
                        info.file_size != info.compress_size or info.header_offset + info.compress_size > size):
                    # torch's reader allocates the declared size of a stored member: it must be the bytes present
                    raise InputError(f"{what}: member {info.filename} declares {info.file_size} bytes, but the "
                                     f"{size}-byte archive stores {info.compress_size} for it")
                _check_member(zf, info, what)
            return [i.filename for i in infos]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{what}: corrupt archive ({exc})") from None


def _check_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> None:
    name = info.filename
    pickled = name.endswith((".pkl", ".pt")) or "/sample_inputs/" in name
    kind = "pickled" if pickled else "JSON" if name.endswith(".json") else "compressed"
    cap = limits.MAX_PICKLE_MEMBER_BYTES if pickled else limits.MAX_JSON_MEMBER_BYTES if kind == "JSON" else None
    if info.compress_type != zipfile.ZIP_STORED:
        cap = min(cap or limits.MAX_COMPRESSED_MEMBER_BYTES, limits.MAX_COMPRESSED_MEMBER_BYTES)
    if cap is None:  # a stored payload: torch maps it as is; its size is checked against the file by zipfile
        return
    if info.file_size > cap:
        raise InputError(f"{what}: member {name} declares {info.file_size} bytes, over the "
                         f"{safeio.size_text(cap)} limit for {kind} members")
    if info.compress_type == zipfile.ZIP_STORED:
        return
    total = 0
    with zf.open(info) as member:  # the declared size may lie: measure what it really inflates to
        while chunk := member.read(1 << 20):
            total += len(chunk)
            if total > cap:
                raise InputError(f"{what}: member {name} inflates past the {safeio.size_text(cap)} limit "
                                 "for compressed members")


def restricted_load(data: bytes, what: str, member: str) -> Any:
    """Unpickle DATA (a torch.save payload, member MEMBER) with torch's weights_only unpickler."""
    import torch

    if data[:4] == b"PK\x03\x04":
        check_zip(data, f"{what} ({member})")
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        reason = f"it references {found[1]}" if found else "it is not plain tensors"
        raise UnsafeFileError(f"{what}: refusing to unpickle {member}: loading it could run code ({reason}); {_TRUST}") from None
    except Exception as exc:
        raise ModelLoadError(f"{what}: cannot read {member}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from None


# --- shape expressions ---------------------------------------------------------------------------------------------

_SYMPY_NAMES = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Max", "Min", "Mod", "Abs", "floor", "ceiling", "Eq", "Ne", "Lt", "Le",
    "Gt", "Ge", "And", "Or", "Not", "true", "false", "True", "False", "oo", "Piecewise", "ITE", "sqrt",
    # torch.utils._sympy.functions, as the deserializer names them
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilDiv", "IntTrueDiv", "FloatTrueDiv",
    "LShift", "RShift", "PowByNatural", "FloatPow", "IsNonOverlappingAndDenseIndicator", "TruncToFloat",
    "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "OpaqueUnaryFn_sqrt", "BitwiseFn_bitwise_and",
    "BitwiseFn_bitwise_or", "BitwiseFn_bitwise_xor", "FloorToInt", "CeilToInt",
})
_SYMBOL = re.compile(r"[a-z]{1,8}[0-9]{1,9}")
_OPS = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Call, ast.Name, ast.Constant, ast.keyword,
        ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.USub, ast.UAdd, ast.Not, ast.Invert,
        ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.And, ast.Or, ast.Pow)
_MAX_EXPR_CHARS = 2000


def check_expression(expr: str, what: str) -> None:
    """Refuse a shape expression that is not plain arithmetic on symbols and integers.

    torch parses these with ``sympy.sympify``, which evaluates Python: a name such as ``__import__``, an
    attribute, a subscript or a huge power would run code or take unbounded time."""
    bad = None
    try:
        tree = ast.parse(expr, mode="eval") if len(expr) <= _MAX_EXPR_CHARS else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    if tree is None:
        bad = "not a short arithmetic expression"
    else:
        for node in ast.walk(tree):
            if not isinstance(node, _OPS):
                bad = f"{type(node).__name__} is not allowed"
            elif isinstance(node, ast.Name) and node.id not in _SYMPY_NAMES and not _SYMBOL.fullmatch(node.id):
                bad = f"name {node.id!r} is not a shape symbol"
            elif isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _SYMPY_NAMES):
                bad = "only sympy's shape functions may be called"
            elif isinstance(node, ast.keyword) and (node.arg is None or node.arg.startswith("_")):
                bad = "odd keyword argument"
            elif isinstance(node, ast.Constant) and not (
                    isinstance(node.value, (bool, float)) or node.value is None
                    or (isinstance(node.value, int) and abs(node.value) < 10**30)
                    or (isinstance(node.value, str) and _SYMBOL.fullmatch(node.value))):
                bad = f"constant {str(node.value)[:20]!r} is not allowed"
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not (
                    isinstance(node.right, ast.Constant) and type(node.right.value) is int and 0 <= node.right.value <= 8):
                bad = "only small constant powers are allowed"
            if bad:
                break
    if bad:
        raise UnsafeFileError(f"{what}: refusing a shape expression that is not plain arithmetic ({bad}): "
                              f"{expr[:60]!r}; torch would evaluate it as Python")


def _check_expressions(obj: Any, what: str, depth: int = 0) -> None:
    """Every ``expr_str`` in the graph JSON (a tree: no shared references, so each node is visited once)."""
    stack = [(obj, 0)]
    while stack:
        node, level = stack.pop()
        if level > 10_000:
            raise InputError(f"{what}: the graph JSON nests deeper than 10000 levels")
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr_str" and isinstance(value, str):
                    check_expression(value, what)
                elif isinstance(value, (dict, list)):
                    stack.append((value, level + 1))
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node if isinstance(v, (dict, list)))


# --- torch.export archives -----------------------------------------------------------------------------------------

def load_export(path: str | Path, what: str):
    """The ExportedProgram in the .pt2 archive PATH, read without running any pickle or Python expression."""
    import torch
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass
    from torch.export.pt2_archive import _package as pkg
    from torch.export.pt2_archive import constants as c

    names = check_zip(path, what)
    prefix = names[0].split("/", 1)[0] + "/" if names and "/" in names[0] else ""
    members = {n[len(prefix):] for n in names if n.startswith(prefix)}
    if c.ARCHIVE_VERSION_PATH not in members and "serialized_exported_program.json" not in members:
        raise ModelLoadError(f"{what}: cannot load torch.export archive: no {c.ARCHIVE_VERSION_PATH} member")
    if c.ARCHIVE_VERSION_PATH not in members:
        raise UnsafeFileError(f"{what}: a torch.export archive in the format before torch 2.7, whose members are "
                              f"read by unpickling; re-export it with a current torch, or {_TRUST}")
    reader = pkg.PT2ArchiveReader(str(path))
    version = reader.read_string(c.ARCHIVE_VERSION_PATH)
    if version != c.ARCHIVE_VERSION_VALUE:
        raise ModelLoadError(f"{what}: cannot load torch.export archive: archive version {version} (this torch reads {c.ARCHIVE_VERSION_VALUE})")
    files = reader.get_file_names()
    models = sorted(f for f in files if f.startswith(c.MODELS_DIR) and f.endswith(".json"))
    if not models:
        raise ModelLoadError(f"{what}: cannot load torch.export archive: it holds no exported program ({c.MODELS_DIR}*.json)")
    name = "model" if f"{c.MODELS_DIR}model.json" in models else models[0][len(c.MODELS_DIR):-len(".json")]
    graph_bytes = reader.read_bytes(c.MODELS_FILENAME_FORMAT.format(name))
    try:
        graph_json = json.loads(graph_bytes)
    except (ValueError, RecursionError) as exc:
        raise ModelLoadError(f"{what}: the exported graph is not valid JSON ({str(exc)[:100]})") from None
    _check_expressions(graph_json, what)
    program = _dict_to_dataclass(schema.ExportedProgram, graph_json)
    sample = reader.read_bytes(c.SAMPLE_INPUTS_FILENAME_FORMAT.format(name)) if \
        c.SAMPLE_INPUTS_FILENAME_FORMAT.format(name) in files else b""
    example_inputs = restricted_load(sample, what, "sample inputs") if sample else None
    state_dict = _payloads(torch, pkg, c, reader, files, what, name, weights=True)
    constants = _payloads(torch, pkg, c, reader, files, what, name, weights=False)
    return ExportedProgramDeserializer(None).deserialize(program, state_dict, constants, example_inputs)


def _payloads(torch: Any, pkg: Any, c: Any, reader: Any, files: list[str], what: str, name: str, *, weights: bool) -> dict:
    """Weights or constants of model NAME: raw tensors as torch maps them, pickled ones restricted."""
    base = c.WEIGHTS_DIR if weights else c.CONSTANTS_DIR
    legacy = f"{base}{name}.pt"
    if legacy in files:
        loaded = restricted_load(reader.read_bytes(legacy), what, legacy)
        if not isinstance(loaded, dict):
            raise ModelLoadError(f"{what}: {legacy} holds a {type(loaded).__name__}, not a dict of tensors")
        return loaded
    config_file = (c.WEIGHTS_CONFIG_FILENAME_FORMAT if weights else c.CONSTANTS_CONFIG_FILENAME_FORMAT).format(name)
    if config_file not in files:
        raise ModelLoadError(f"{what}: {config_file} is missing from the archive")
    config = pkg._load_payload_config(reader, config_file)
    file_map = pkg._build_file_map(reader, config, base)
    out: dict[str, Any] = {}
    for fqn, meta in config.config.items():
        member = f"{base}{meta.path_name}"
        if not weights and meta.path_name.startswith((c.CUSTOM_OBJ_FILENAME_PREFIX, c.OPAQUE_OBJ_FILENAME_PREFIX)):
            raise UnsafeFileError(f"{what}: refusing to unpickle {member}: constant {fqn!r} is a pickled Python "
                                  f"object, and loading it could run code; {_TRUST}")
        if not weights and not meta.path_name.startswith(c.TENSOR_CONSTANT_FILENAME_PREFIX):
            raise ModelLoadError(f"{what}: constant {fqn!r} has an unknown kind ({meta.path_name})")
        if meta.use_pickle:
            out[fqn] = restricted_load(reader.read_bytes(member), what, member)
            continue
        tm = meta.tensor_meta
        if tm is None:
            raise ModelLoadError(f"{what}: {member} has no tensor metadata")
        tensor = torch.as_strided(file_map[meta.path_name], size=pkg.deserialize_size(tm.sizes),
                                  stride=pkg.deserialize_stride(tm.strides),
                                  storage_offset=pkg.deserialize_storage_offset(tm.storage_offset))
        out[fqn] = torch.nn.Parameter(tensor, requires_grad=tm.requires_grad) if weights and meta.is_param else tensor
    return out
