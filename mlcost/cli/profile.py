"""``mlcost profile MODEL``: FLOPs, MACs, parameters and memory of a model, without its weights.

Imports only typer/rich/mlcost-light modules at top level; torch is loaded by the format module.
"""
from __future__ import annotations

import ast
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from mlcost.choices import Attention, Backend, EnergyModel, ModelFormat, Optimizer, ProfileFormat, Shard, TrainingPrecision, Workspace
from mlcost.cli._options import FORMAT_HELP, explain_option, output_format, quiet_option, terminal_only
from mlcost.errors import UsageError
from mlcost.units import require_size

_HELP = """Profile MODEL: parameters, forward (and with --training, backward) FLOPs and MACs, memory,
per-module and per-operator rows, and every operator that could not be counted.

MODEL is path/to/file.py:factory, package.module:factory, a TorchScript archive, a torch.export
.pt2 archive, a torch.save file, an ONNX file, safetensors, a Hugging Face folder or a GGUF file.
One multiply-add (MAC) = 2 FLOPs.
"""


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' (or '1x3x224x224') -> (1, 3, 224, 224)."""
    parts = [p.strip() for p in text.replace("x", ",").replace("(", "").replace(")", "").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: expected comma-separated positive integers such as 1,3,224,224") from None
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(f"--input-shape {text!r}: expected comma-separated positive integers such as 1,3,224,224")
    for d in shape:
        require_size(d, f"--input-shape {text!r}: each dimension")
    return shape


def parse_kv(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE")
    return key.strip(), value.strip()


def parse_literal(value: str) -> object:
    """--arg values are Python literals (3, 0.1, True, (1, 2), 'x'); anything else stays a string."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def parse_dims(pairs: list[str]) -> dict[str, int]:
    """--dim NAME=VALUE pairs -> {NAME: VALUE} (positive integers)."""
    dims: dict[str, int] = {}
    for d in pairs:
        k, v = parse_kv(d, "--dim")
        try:
            dims[k] = int(v)
        except ValueError:
            raise UsageError(f"--dim {d!r}: the value must be an integer") from None
        _positive(dims[k], f"--dim {k}")
    return dims


def _positive(value: Optional[int], option: str) -> Optional[int]:
    return None if value is None else require_size(value, option)


@contextmanager
def progress(message: str, delay_s: float = 0.6) -> Iterator[None]:
    """A spinner on stderr, only when stderr is a terminal and the work takes more than DELAY_S."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    status = Console(stderr=True).status(message)
    lock = threading.Lock()
    state = {"started": False, "done": False}

    def start() -> None:
        with lock:
            if not state["done"]:
                status.start()
                state["started"] = True

    timer = threading.Timer(delay_s, start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["done"] = True
            if state["started"]:
                status.stop()


def profile_command(
    model: str = typer.Argument(..., path_type=str, help="file.py:factory, package.module:factory, or a model file/folder."),
    input_shape: list[str] = typer.Option([], "--input-shape", help="Shape of one positional input, e.g. 1,3,224,224 (repeatable, in order)."),
    input_dtype: list[str] = typer.Option([], "--input-dtype", help="Dtype of each input (repeatable, same order; default float32; int64 makes token ids)."),
    arg: list[str] = typer.Option([], "--arg", help="key=value keyword argument for the factory (a Python literal, else a string); repeatable."),
    device: str = typer.Option("meta", "--device", help="Where to build the model: meta (no weights allocated) or cpu (real tensors)."),
    backend: Backend = typer.Option(Backend.AUTO, "--backend", case_sensitive=False, help="Counting backend."),
    training: bool = typer.Option(False, "--training", help="Also measure the backward pass and the training step's memory."),
    optimizer: Optimizer = typer.Option(Optimizer.ADAM, "--optimizer", case_sensitive=False, help="Optimizer for training memory."),
    precision: TrainingPrecision = typer.Option(TrainingPrecision.FP32, "--precision", case_sensitive=False, help="Training precision: fp32, bf16, mixed (bf16 weights + fp32 master, Megatron/DeepSpeed) or amp (torch.autocast, fp32 weights)."),
    depth: Optional[int] = typer.Option(None, "--depth", help="Depth of the per-module tree in the table and markdown (default 2; JSON and CSV always have every module)."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if any operator could not be counted."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow unpickling arbitrary objects (runs code in the file: only for files you trust)."),
    fmt: Optional[ProfileFormat] = typer.Option(None, "--format", "-f", case_sensitive=False, help=FORMAT_HELP.format(default="table")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the output to FILE instead of stdout."),
    quiet: bool = quiet_option(),
    explain: bool = explain_option(),
    as_format: Optional[ModelFormat] = typer.Option(None, "--as", case_sensitive=False, help="Read MODEL as this format."),
    dim: list[str] = typer.Option([], "--dim", help="ONNX: NAME=VALUE for a symbolic input dimension (repeatable)."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Tokens per sequence (Hugging Face, safetensors, GGUF)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Sequences per batch (Hugging Face, safetensors, GGUF)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Hugging Face: allow the model folder's own Python code to run."),
    chip: Optional[str] = typer.Option(None, "--chip", help="Accelerator to judge the model on (see `mlcost reference hardware`): adds the roofline (time floor per operator)."),
    energy_model: Optional[EnergyModel] = typer.Option(None, "--energy-model", case_sensitive=False, help="horowitz: energy split into arithmetic and data movement from Horowitz's 45 nm energy per operation (ISSCC 2014)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="With --chip: draw the chip's roofline with the operators on it (FILE.png or FILE.svg)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file that mlcost did not write."),
    kv_tokens: Optional[int] = typer.Option(None, "--kv-tokens", help="Decoders (Hugging Face): size the KV cache at N tokens of context per sequence."),
    gpus: int = typer.Option(1, "--gpus", help="With --training: data-parallel GPUs for per-GPU memory."),
    shard: Shard = typer.Option(Shard.NONE, "--shard", case_sensitive=False, help="With --training: how states are sharded over --gpus."),
    checkpointing: bool = typer.Option(False, "--checkpointing", help="With --training: recompute each repeated block in backward (activation checkpointing)."),
    workspace: Workspace = typer.Option(Workspace.NONE, "--workspace", case_sensitive=False, help="Kernel workspaces in the memory peaks: none (the tensors' own, device-neutral) or cpu (PyTorch's CPU kernels: oneDNN blocked-layout reorders, scratchpads, LSTM workspaces, on this CPU's ISA)."),
    attn: Optional[Attention] = typer.Option(None, "--attn", case_sensitive=False, help="Hugging Face: attention implementation (default: what transformers picks)."),
) -> None:
    from mlcost.formats import ProfileOptions
    from mlcost.render import emit
    from mlcost.render.profile import render

    fmt = output_format(fmt, output, ProfileFormat, ProfileFormat.TABLE)
    terminal_only(fmt, ProfileFormat.TABLE, quiet=quiet, explain=explain)
    if depth is not None and fmt in (ProfileFormat.JSON, ProfileFormat.CSV):
        raise UsageError(f"--depth limits the tree of the table and markdown views; --format {fmt.value} always "
                         "has every module")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be zero or positive, got {depth}")
    if plot is not None and chip is None:
        raise UsageError("--plot draws the roofline of a chip: give --chip NAME")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot: {plot} must end in .png or .svg")
    if chip is not None:
        from mlcost.refdata import find_accelerator

        chip = find_accelerator(chip).name  # an unknown name fails before the model is built
    dims = parse_dims(dim)
    opts = ProfileOptions(
        input_shapes=tuple(parse_shape(s) for s in input_shape),
        input_dtypes=tuple(input_dtype),
        factory_args={k: parse_literal(v) for k, v in (parse_kv(a, "--arg") for a in arg)},
        device=device, backend=backend.value, training=training, optimizer=optimizer.value, precision=precision.value,
        strict=strict, trust_pickle=trust_pickle, dims=dims, seq_len=_positive(seq_len, "--seq-len"),
        batch_size=_positive(batch_size, "--batch-size"), trust_remote_code=trust_remote_code, chip=chip,
        energy_model=energy_model.value if energy_model else None,
        kv_tokens=_positive(kv_tokens, "--kv-tokens"), gpus=_positive(gpus, "--gpus"), shard=shard.value,
        attn=attn.value if attn else None, workspace=workspace.value,
        checkpointing=checkpointing,
    )
    from mlcost.profiling import profile_path
    from mlcost.safeio import check_output

    for path, option in ((output, "--output"), (plot, "--plot")):  # refuse before the work, not after it
        if path is not None:
            check_output(path, force=force, option=option)
    with progress(f"profiling {model} …"):
        result = profile_path(model, opts, as_format.value if as_format else None)
    if plot is not None:
        if result.roofline is None:
            raise UsageError(f"--plot: no roofline for this {result.format} profile (it has no operator graph)")
        from mlcost.render.roofline_plot import plot_roofline

        plot_roofline(result.roofline, plot, title=result.model, force=force)
    color = output is None and fmt == ProfileFormat.TABLE and sys.stdout.isatty()
    emit(render(result, fmt.value, depth=2 if depth is None else depth, color=color, explain=explain, quiet=quiet),
         output, force=force)
    if output is not None:
        typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("profile", help=_HELP)(profile_command)
