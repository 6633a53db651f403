"""Model formats.  Every format module exposes ``profile_file(spec, opts) -> Profile``.

``detect_format`` picks the module from the suffix and the first bytes (``--as`` overrides);
``mlcost.profiling.profile`` dispatches to it.  Format modules import their heavy
dependencies (torch, onnx, transformers, gguf) inside their functions.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mlcost.choices import ModelFormat, values
from mlcost.errors import InputError, UsageError

# --as value -> module in this package
FORMAT_MODULES = {
    "torch": "torch_entry",  # file.py:factory or package.module:factory
    "torchscript": "torchscript",
    "export": "export",  # torch.export archive (.pt2)
    "state_dict": "torch_save",  # a file written by torch.save
    "onnx": "onnx",
    "safetensors": "safetensors",
    "hf": "hf",
    "gguf": "gguf",
}
AS_CHOICES = values(ModelFormat)


@dataclass(frozen=True)
class ProfileOptions:
    """Everything `mlcost profile` can be told, passed to the format module unchanged."""

    input_shapes: tuple[tuple[int, ...], ...] = ()
    input_dtypes: tuple[str, ...] = ()
    factory_args: dict[str, object] = field(default_factory=dict)  # --arg key=value (values parsed as literals)
    device: str = "meta"
    backend: str = "auto"  # auto | fvcore | torch
    training: bool = False
    optimizer: str = "adam"  # sgd | adam | adamw
    precision: str = "fp32"  # fp32 | bf16 | mixed
    strict: bool = False
    trust_pickle: bool = False
    dims: dict[str, int] = field(default_factory=dict)  # ONNX: --dim NAME=VALUE
    seq_len: int | None = None  # Hugging Face: tokens per sequence
    batch_size: int | None = None
    trust_remote_code: bool = False
    # --chip NAME: the accelerator the profile is judged on (roofline time floors, memory fits), resolved
    # with refdata.find_accelerator; None: no chip
    chip: str | None = None
    energy_model: str | None = None  # "horowitz": a first-principles energy split (costs.horowitz); None: none
    kv_tokens: int | None = None  # --kv-tokens N: a decoder's KV cache at N tokens of context (per sequence)
    gpus: int = 1  # --gpus N: data-parallel GPUs for per-GPU training memory
    shard: str = "none"  # none | zero1 | zero2 | zero3 | fsdp
    workspace: str = "none"  # kernel workspaces in the memory peaks: none (tensors only) | cpu (oneDNN's)
    attn: str | None = None  # Hugging Face attention: eager | sdpa (None: as transformers picks it)
    checkpointing: bool = False  # --checkpointing: recompute each repeated block in backward (training)


_ENTRY = re.compile(r"^(?P<target>.+?):(?P<factory>[A-Za-z_][A-Za-z0-9_.]*)$")


def split_entry_point(spec: str) -> tuple[str, str] | None:
    """'models/net.py:build' or 'pkg.mod:build' -> (target, factory); None when SPEC is no entry point."""
    m = _ENTRY.match(spec)
    if not m:
        return None
    target = m["target"]
    if target.endswith(".py") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", target):
        return target, m["factory"]
    return None


def detect_format(spec: str | Path, as_format: str | None = None) -> str:
    """The ``--as`` name for SPEC, from the override, the entry-point form, the suffix, then the magic bytes."""
    if as_format is not None:
        if as_format not in FORMAT_MODULES:
            raise UsageError(f"unknown format {as_format!r} for --as; choose one of {', '.join(AS_CHOICES)}")
        return as_format
    text = str(spec)
    path = Path(text)
    if not path.exists():
        if split_entry_point(text):
            return "torch"
        # a name with blanks at an end ('model ', ' ') is quoted: printed bare, it reads as no name at all
        raise InputError(f"no such file or directory: {text if text.strip() == text else repr(text)}")
    if path.is_dir():
        if (path / "config.json").is_file():
            return "hf"
        if (path / "model.safetensors.index.json").is_file() or any(path.glob("*.safetensors")):
            return "safetensors"
        raise InputError(f"{text} is a folder without config.json or *.safetensors files")
    name, suffix = path.name.lower(), path.suffix.lower()
    if name == "config.json":
        return "hf"
    if suffix == ".safetensors" or name.endswith(".safetensors.index.json"):
        return "safetensors"
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".gguf":
        return "gguf"
    from mlcost import safeio

    with safeio.open_regular(path, "model file", None) as fh:  # a FIFO or a device is refused, not read
        head = fh.read(8)
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"PK\x03\x04":
        return _zip_kind(path)
    if suffix in (".pt", ".pth", ".bin", ".ckpt", ".pt2", ".pkl"):
        return "state_dict"  # a legacy (non-zip) torch.save file; read with weights_only unless trusted
    if suffix == ".py":
        raise InputError(f"{text}: name the factory to call, as {text}:build")
    raise InputError(f"{text}: unknown model format (suffix {suffix or 'none'!r}); pass --as with one of {', '.join(AS_CHOICES)}")


def _zip_kind(path: Path) -> str:
    """torch.export, TorchScript and torch.save all write zip archives; their member names tell them apart."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()[:10_000]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: corrupt archive ({exc})") from None
    parts = [n.split("/", 1)[1] if "/" in n else n for n in names]
    if any(p.startswith("models/") or p == "archive_format" or p.startswith("serialized_exported_program") for p in parts) or path.suffix.lower() == ".pt2":
        return "export"
    if any(p.startswith("code/") for p in parts) and any(p == "constants.pkl" for p in parts):
        return "torchscript"
    if any(p == "data.pkl" for p in parts):
        return "state_dict"
    raise InputError(f"{path}: a zip archive that is no TorchScript, torch.export or torch.save file")
