"""Files written by ``torch.save``: read as data (``weights_only=True``), never as code.

A state dict (or any nesting of dicts/lists of tensors, such as ``{"model": ..., "optimizer": ...}``)
reports its parameters, dtypes and bytes; FLOPs need the architecture, so they stay None.  Anything
that would unpickle arbitrary objects is refused with UnsafeFileError unless ``--trust-pickle``.
Tensors are mapped to the meta device: the payload is not read into memory.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from mlcost.errors import ModelLoadError, UnsafeFileError, UsageError
from mlcost.formats import ProfileOptions
from mlcost.formats.torch_entry import _first_line, _torch, count, dtype_name, make_inputs, specs_of
from mlcost.results import MemoryStats, ParamStats, Profile

_SCAN_BYTES = 1 << 20  # how much of a non-zip file to scan when telling a pickle from random bytes


def _parses_as_pickle(path: Path) -> bool:
    """True when the file starts with a well-formed pickle stream (so refusing it was about code, not corruption)."""
    with path.open("rb") as fh:
        head = fh.read(_SCAN_BYTES)
    try:
        for _op, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            pass
    except Exception:  # ValueError for a bad opcode, or truncated data inside the scanned window
        return False
    return True


def _refusal(path: Path, exc: Exception) -> Exception:
    """Turn torch's weights_only failure into UnsafeFileError (code inside) or ModelLoadError (corrupt)."""
    msg = str(exc)
    is_zip = zipfile.is_zipfile(path)
    if "GLOBAL" in msg or is_zip or _parses_as_pickle(path):
        found = re.search(r"GLOBAL ([\w.]+)", msg)
        reason = f"it references {found[1]}" if found else "it is not a plain tensor file"
        return UnsafeFileError(
            f"{path}: refusing to unpickle: loading it could run code ({reason}); "
            "pass --trust-pickle only if you trust where the file came from"
        )
    return ModelLoadError(f"{path}: not a readable torch.save file (corrupt, truncated or random bytes)")


def load(path: str | Path, trust_pickle: bool = False) -> Any:
    path = Path(path)
    from mlcost import limits, safeio
    from mlcost.formats.torch_archive import check_zip

    size = safeio.check_regular(path, "torch.save file", None)
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        check_zip(path, str(path))  # member count and sizes bounded before torch's reader inflates anything
    elif size > limits.MAX_LEGACY_PICKLE_BYTES:
        raise ModelLoadError(f"{path}: a {size}-byte non-zip torch.save file, over the "
                             f"{safeio.size_text(limits.MAX_LEGACY_PICKLE_BYTES)} limit for legacy pickles")
    # A zip-format file is memory-mapped (its payload stays on disk and tied tensors keep sharing
    # one storage); a legacy file maps onto meta so its payload is never read into memory.
    where = {"mmap": True, "map_location": "cpu"} if is_zip else {"map_location": "meta"}
    torch = _torch()  # after the checks: a refused file costs no torch import
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; the outcome is reported below
            warnings.simplefilter("ignore")
            return torch.load(str(path), weights_only=True, **where)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            raise _refusal(path, exc) from exc
    except Exception as exc:  # RuntimeError from the zip reader, EOFError for truncated legacy files
        raise ModelLoadError(f"{path}: not a readable torch.save file (corrupt, truncated or random bytes): "
                             f"{type(exc).__name__}: {_first_line(exc)}") from exc
    try:  # --trust-pickle: the user vouched for the file
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load even with --trust-pickle: {type(exc).__name__}: {_first_line(exc)}") from exc


def _tensors(obj: Any) -> list[tuple[str, Any]]:
    """Every tensor in nested dicts/lists/tuples, with a dotted name (the first path that reaches it).

    Files are data: a pickle can share one container many times over (a 2 KB "billion laughs" file that
    expands to 2**60 paths), so each object is visited once (by id) and the walk is bounded in depth and
    in objects visited."""
    torch = _torch()
    from mlcost import limits

    out: list[tuple[str, Any]] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", obj, 0)]
    while stack:
        prefix, node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > limits.MAX_OBJECTS_WALKED:
            raise ModelLoadError(f"holds more than {limits.MAX_OBJECTS_WALKED} containers and tensors "
                                 "(the limit on objects walked in a torch.save file)")
        if isinstance(node, torch.Tensor):
            out.append((prefix, node))
            continue
        if depth > 32:
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
        children = [(f"{prefix}.{k}" if prefix else str(k), v, depth + 1) for k, v in items
                    if isinstance(v, (dict, list, tuple, torch.Tensor))]
        stack.extend(reversed(children))  # pre-order, in the file's order
    return out


def tensor_profile(name: str, tensors: list[tuple[str, Any]], fmt: str = "state_dict") -> Profile:
    """Params, dtypes and bytes of a bag of tensors; no graph, so no FLOPs.  Tensors with a known buffer
    name (running_mean, running_var, num_batches_tracked, inv_freq, ...) are buffers, as the module path
    counts them: listed under details["buffers"], not in params or weights_bytes (as for safetensors)."""
    from mlcost.formats.safetensors import is_buffer

    by_dtype: dict[str, int] = {}
    bytes_by_dtype: dict[str, int] = {}
    seen: set = set()
    buffers = [(n, t) for n, t in tensors if is_buffer(n)]
    for _n, t in tensors:
        if is_buffer(_n):
            continue
        # Tied weights appear twice in a state dict, as two views of one storage: count them once.
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride())) if t.device.type != "meta" else id(t)
        if key in seen:
            continue
        seen.add(key)
        d = dtype_name(t.dtype)
        by_dtype[d] = by_dtype.get(d, 0) + t.numel()
        bytes_by_dtype[d] = bytes_by_dtype.get(d, 0) + t.numel() * t.element_size()
    total = sum(by_dtype.values())
    return Profile(
        model=name, format=fmt, backend="header",
        params=ParamStats(total=total, trainable=total, by_dtype=by_dtype, bytes_by_dtype=bytes_by_dtype),
        memory=MemoryStats(weights_bytes=sum(bytes_by_dtype.values())),
        assumptions=(
            "FLOPs need the architecture: a torch.save file holds tensors only (profile the model's factory for FLOPs)",
            "every tensor in the file but known buffers is counted as a parameter (optimizer state included if saved)",
        ) + ((f"{len(buffers)} tensor(s) with buffer names ({sum(t.numel() for _, t in buffers)} elements, e.g. "
              f"{buffers[0][0]!r}) are buffers, not parameters: left out of params and weights_bytes",) if buffers else ()),
        details={"tensors": len(seen), "buffers": {
            "count": len(buffers), "elements": sum(t.numel() for _, t in buffers),
            "bytes": sum(t.numel() * t.element_size() for _, t in buffers), "names": [n for n, _ in buffers[:8]]}},
    )


_FORWARD_OPTIONS = (("--input-shape", "input_shapes"), ("--training", "training"), ("--backend", "backend"))


def profile_file(spec: str | Path, opts: ProfileOptions) -> Profile:
    obj = load(spec, opts.trust_pickle)
    torch = _torch()
    if isinstance(obj, torch.nn.Module):  # a whole pickled module (only reachable with --trust-pickle)
        if opts.input_shapes:
            args, specs = make_inputs(opts, "cpu")
            return count(obj, args, {}, opts, model_name=str(spec), model_format="state_dict", inputs=specs,
                         assumptions=("a pickled nn.Module loaded with --trust-pickle",))
        if opts.training or opts.backend != "auto":
            raise UsageError(f"{spec}: a pickled nn.Module needs --input-shape to run its forward "
                             f"({'--training' if opts.training else '--backend'} measures that run)")
        prof = tensor_profile(str(spec), [(n, p) for n, p in obj.state_dict(keep_vars=True).items()])
        return _with(prof, assumptions=("a pickled nn.Module: pass --input-shape to count its FLOPs",) + prof.assumptions[1:])
    asked = [flag for flag, field in _FORWARD_OPTIONS if getattr(opts, field) != getattr(ProfileOptions(), field)]
    if asked:  # refused rather than a profile that silently lacks what was asked for
        raise UsageError(f"{' and '.join(asked)} need{'s' if len(asked) == 1 else ''} a forward to run, and {spec} "
                         "holds tensors only (state_dict format): profile the model's factory (file.py:build) instead")
    try:
        tensors = _tensors(obj)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{spec}: {exc}") from None
    if not tensors:
        raise ModelLoadError(f"{spec}: holds no tensors (a {type(obj).__name__}); nothing to profile")
    return tensor_profile(str(spec), tensors)


def _with(prof: Profile, **changes: Any) -> Profile:
    from dataclasses import replace

    return replace(prof, **changes)


__all__ = ["load", "profile_file", "tensor_profile", "specs_of"]
