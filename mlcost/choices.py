"""Every closed set of choices mlcost accepts, as one Enum each: the CLI's options and the library's checks
both read them from here, so a value is added in one place and shows up in ``--help``, shell completion and
the library's error message at once.

Members are ``str`` Enums whose value is the spelling users type.  The library keeps plain strings in its
results and options: :func:`choose` turns a string or a member into the plain value (one line on a bad one).

A new choice option follows the same pattern: an Enum here, ``typer.Option(Enum.DEFAULT, ...)`` in the
command, ``choose(Enum, value, "--option")`` (or ``.value``) where the library receives it.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from mlcost.errors import UsageError


class Choice(str, Enum):
    """Base of every choice: ``str(member)`` and f-strings give the value, not 'Class.MEMBER'."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Backend(Choice):
    """``--backend``: which counter runs the model."""

    AUTO = "auto"
    FVCORE = "fvcore"
    TORCH = "torch"


class Optimizer(Choice):
    """``--optimizer``: whose states the training-memory estimate holds."""

    SGD = "sgd"
    ADAM = "adam"
    ADAMW = "adamw"


class TrainingPrecision(Choice):
    """``mlcost profile --precision``: the dtypes of a training step's weights, gradients and activations.

    ``--precision`` is the run's precision in every command; profile models these four training steps (the
    values of RunPrecision that name a chip's peak only, tf32/fp16/fp8/int8, are refused there by name)."""

    FP32 = "fp32"
    BF16 = "bf16"
    MIXED = "mixed"
    AMP = "amp"


class Workspace(Choice):
    """``mlcost profile --workspace``: whose kernel workspaces the memory peaks include (counting.workspace)."""

    NONE = "none"
    CPU = "cpu"


class Shard(Choice):
    """``mlcost profile --shard``: which training states are partitioned over ``--gpus`` (costs.sharding)."""

    NONE = "none"
    ZERO1 = "zero1"
    ZERO2 = "zero2"
    ZERO3 = "zero3"
    FSDP = "fsdp"


class Attention(Choice):
    """``mlcost profile --attn``: a Hugging Face model's attention implementation."""

    EAGER = "eager"
    SDPA = "sdpa"


class EnergyModel(Choice):
    """``mlcost profile --energy-model``: the per-operation energy model of the roofline."""

    HOROWITZ = "horowitz"


class ChipPrecision(Choice):
    """The dense-peak columns of reference_data/hardware.csv (``*_tflops``); a compute JSON's "precision" key."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"


# Built from ChipPrecision, so that a new peak column of hardware.csv is a precision of the run at once.
RunPrecision = Choice("RunPrecision", [(m.name, m.value) for m in ChipPrecision] + [("MIXED", "mixed"), ("AMP", "amp")],
                      module=__name__)
RunPrecision.__doc__ = """``mlcost compute/carbon --precision``: the run's precision, as in ``profile --precision``.
A chip peak column (ChipPrecision) times the run at that peak; mixed and amp (mixed precision: 16-bit matmuls,
fp32 master weights or autocast) time it at the chip's 16-bit tensor peak, bf16 where published, else fp16
(refdata.Accelerator.peak_column)."""


class WeightPrecision(Choice):
    """``mlcost infer --precision``: the dtype the served weights are held in."""

    FP32 = "fp32"
    BF16 = "bf16"


class ModelFormat(Choice):
    """``--as``: read MODEL as this format (see ``mlcost.formats.FORMAT_MODULES``)."""

    TORCH = "torch"
    TORCHSCRIPT = "torchscript"
    EXPORT = "export"
    STATE_DICT = "state_dict"
    ONNX = "onnx"
    SAFETENSORS = "safetensors"
    HF = "hf"
    GGUF = "gguf"


class CarbonMethod(Choice):
    """``mlcost carbon --method``."""

    DEFAULT = "default"
    STRUBELL2019 = "strubell2019"


class ProfileFormat(Choice):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


class EstimateFormat(Choice):
    """Output of ``compute``, ``carbon`` and ``track --summary``."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class CheckFormat(Choice):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    GITHUB = "github"
    JUNIT = "junit"


class ReferenceFormat(Choice):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class LedgerGroup(Choice):
    """``mlcost track --summary --by``."""

    COMMAND = "command"
    COMMIT = "commit"
    RUN = "run"


E = TypeVar("E", bound=Choice)


def values(enum: type[Choice]) -> tuple[str, ...]:
    """The accepted spellings, in declaration order: ('auto', 'fvcore', 'torch')."""
    return tuple(m.value for m in enum)


def choose(enum: type[Choice], value: Any, what: str, *, case_sensitive: bool = True) -> str:
    """VALUE (a member or its spelling) as the plain string value; a one-line UsageError otherwise."""
    if isinstance(value, enum):
        return value.value
    if isinstance(value, str):
        probe = value if case_sensitive else value.lower()
        for member in enum:
            if member.value == probe:
                return member.value
    peak = peak_only(enum, value)
    raise UsageError(peak or f"unknown {what} {value!r}; choose one of {', '.join(values(enum))}")


def peak_only(enum: type[Choice], value: Any) -> str | None:
    """The line refusing VALUE where ENUM (profile's or infer's --precision) is asked for, when VALUE is a chip
    peak precision (ChipPrecision: valid in compute and carbon) that ENUM does not have; None otherwise."""
    whose = {TrainingPrecision: "profile's training precisions", WeightPrecision: "infer's weight precisions"}
    v = str(value.value if isinstance(value, Choice) else value).strip("'\"").lower()
    if enum not in whose or v in values(enum) or v not in values(ChipPrecision):
        return None
    return f"--precision {v} is a chip peak precision (compute, carbon); {whose[enum]} are {', '.join(values(enum))}"


def by_suffix(path: Any, enum: type[E], default: E) -> E:
    """The output format a file name implies (.json, .csv, .md/.markdown) when ENUM has it; else DEFAULT."""
    from pathlib import Path

    name = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown",
            ".xml": "junit"}.get(Path(str(path)).suffix.lower())
    for member in enum:
        if member.value == name:
            return member
    return default
