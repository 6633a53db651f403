"""Which ``mlcost profile`` options each model format applies: one table, checked before a file is read.

An option a format cannot apply is a usage error that names the format, never silently dropped.
``ACCEPTS`` is the table (README "Options by format" shows it); a ProfileOptions field missing from
``FLAGS`` fails a test, so a new option must say where it applies.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from mlcost.errors import UsageError

# ProfileOptions field -> the option's name on the command line
FLAGS = {
    "input_shapes": "--input-shape", "input_dtypes": "--input-dtype", "factory_args": "--arg",
    "device": "--device", "backend": "--backend", "training": "--training", "optimizer": "--optimizer",
    "precision": "--precision", "strict": "--strict", "trust_pickle": "--trust-pickle", "dims": "--dim",
    "seq_len": "--seq-len", "batch_size": "--batch-size", "trust_remote_code": "--trust-remote-code",
    "chip": "--chip", "energy_model": "--energy-model", "kv_tokens": "--kv-tokens", "gpus": "--gpus",
    "shard": "--shard", "attn": "--attn", "checkpointing": "--checkpointing", "workspace": "--workspace",
}

# how an error names each format
FORMAT_NAMES = {
    "torch": "a PyTorch factory", "torchscript": "a TorchScript archive", "export": "a torch.export archive",
    "state_dict": "a torch.save file", "onnx": "an ONNX model", "safetensors": "a safetensors checkpoint",
    "hf": "a Hugging Face model", "gguf": "a GGUF file", "module": "an nn.Module passed to mlcost.profile",
}

# every format: --strict holds trivially where no operator is counted; --chip and --energy-model state
# "no roofline" / "no estimate" there
_ANY = {"strict", "chip", "energy_model"}
_STEP = {"training", "optimizer", "precision", "gpus", "shard", "checkpointing"}  # the measured training step
_RUN = {"input_shapes", "input_dtypes", "backend", "workspace"} | _STEP | _ANY  # a forward to run
ACCEPTS: dict[str, frozenset[str]] = {
    "torch": frozenset(_RUN | {"factory_args", "device"}),
    "torchscript": frozenset(_RUN | {"device"}),
    # weights and train/eval mode come from the archive; --trust-pickle reads it with torch.export.load
    "export": frozenset(_RUN | {"trust_pickle"}),
    # a pickled nn.Module (read with --trust-pickle) has a forward; a file of tensors has none (checked on load)
    "state_dict": frozenset(_RUN | {"trust_pickle"}),
    "onnx": frozenset({"input_shapes", "dims"} | _ANY),
    "safetensors": frozenset(_ANY),  # header readers (and gguf): tensors only
    "hf": frozenset({"input_shapes", "seq_len", "batch_size", "backend", "trust_remote_code", "kv_tokens", "attn", "workspace"}
                    | _STEP | _ANY),
    "gguf": frozenset(_ANY),
    "module": frozenset(_RUN),  # mlcost.profile(nn.Module, ...): already built, on its own device
}

# the most useful next step when an option does not apply to a format
_HINTS = {
    ("seq_len", "torch"): "a factory takes its own arguments: pass --arg seq_len=N, or --input-shape",
    ("batch_size", "torch"): "a factory takes its own arguments: pass --arg, or --input-shape",
    ("factory_args", "hf"): "the model is built from config.json; edit the config to change its size",
    ("input_dtypes", "hf"): "inputs take the dtypes the model expects (token ids int64, pixels in the weights' dtype)",
}


def given(opts: Any) -> list[str]:
    """The ProfileOptions fields set to something other than their default (what the user asked for)."""
    out = []
    for f in dataclasses.fields(opts):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if getattr(opts, f.name) != default:
            out.append(f.name)
    return out


def check(fmt: str, opts: Any) -> None:
    """UsageError for the first option FMT cannot apply, or a combination that would leave one unused."""
    asked = given(opts)
    accepts = ACCEPTS.get(fmt)
    if accepts is not None:
        for name in asked:
            if name in FLAGS and name not in accepts:
                where = [k for k, v in ACCEPTS.items() if name in v and k != "module"]
                hint = _HINTS.get((name, fmt)) or ("it applies to " + ", ".join(where) if where else "")
                raise UsageError(f"{FLAGS[name]} does not apply to {FORMAT_NAMES.get(fmt, fmt)} ({fmt} format)"
                                 + (f": {hint}" if hint else ""))
    unused = [FLAGS[n] for n in ("optimizer", "precision", "gpus", "shard", "checkpointing") if n in asked]
    if unused and not opts.training:
        raise UsageError(f"{' and '.join(unused)} describe{'s' if len(unused) == 1 else ''} the training step: "
                         "add --training (an inference profile uses the model's own dtypes)")
    if "input_dtypes" in asked and not opts.input_shapes:
        raise UsageError("--input-dtype gives the dtype of each --input-shape: give --input-shape too")


def table() -> list[tuple[str, list[str]]]:
    """(format, options it accepts) in --as order, for the README and --help."""
    return [(fmt, [FLAGS[n] for n in FLAGS if n in accepts]) for fmt, accepts in ACCEPTS.items() if fmt != "module"]
