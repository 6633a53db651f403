"""`mlcost compute`: training compute in FLOPs and petaflop/s-days (counting, 6ND, or hardware x time).

Imports only typer and light mlcost modules at top level: torch loads only when a MODEL is profiled.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Optional

import typer

from mlcost.choices import Backend, EstimateFormat, ModelFormat, RunPrecision
from mlcost.cli._options import FORMAT_HELP, distinct_files, explain_option, output_format, quiet_option, terminal_only
from mlcost.errors import UsageError

FORMATS = tuple(f.value for f in EstimateFormat)


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--input-shape: cannot read {text!r} (expected e.g. 1,3,224,224)") from None
    if not dims or any(d <= 0 for d in dims):
        raise UsageError(f"--input-shape: {text!r} needs positive dimensions")
    return dims




def _args(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--arg: expected key=value, got {pair!r}")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out






def compute_command(
    model: Optional[str] = typer.Argument(None, path_type=str, help="A model to profile (file.py:factory, .onnx, .pt2, HF dir, ...)."),
    input_shape: list[str] = typer.Option([], "--input-shape", help="Input shape of the profiled MODEL, e.g. 1,3,224,224 (repeatable)."),
    input_dtype: list[str] = typer.Option([], "--input-dtype", help="Input dtype per --input-shape (default float32)."),
    arg: list[str] = typer.Option([], "--arg", help="key=value passed to the model factory (repeatable)."),
    backend: Backend = typer.Option(Backend.AUTO, "--backend", case_sensitive=False, help="Counting backend for MODEL."),
    device: str = typer.Option("meta", "--device", help="Where to build MODEL (as in `mlcost profile`): meta or cpu."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Sequences per batch of the profiled MODEL (Hugging Face)."),
    dim: list[str] = typer.Option([], "--dim", help="ONNX MODEL: NAME=VALUE for a symbolic input dimension (repeatable)."),
    as_format: Optional[ModelFormat] = typer.Option(None, "--as", case_sensitive=False, help="Read MODEL as this format (as in `mlcost profile`)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Hugging Face MODEL: allow its own Python code to run."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="torch.save MODEL: allow unpickling (only for files you trust)."),
    profile: Optional[Path] = typer.Option(None, "--profile", help="A profile written by `mlcost profile --format json`."),
    flops_per_sample: Optional[str] = typer.Option(None, "--flops-per-sample", help="Forward FLOPs per sample (or per token with --tokens)."),
    samples: Optional[str] = typer.Option(None, "--samples", help="Training examples per epoch (counting)."),
    tokens: Optional[str] = typer.Option(None, "--tokens", help="Training tokens (6ND, or counting per token)."),
    epochs: Optional[str] = typer.Option(None, "--epochs", help="Passes over the data (default 1)."),
    params: Optional[str] = typer.Option(None, "--params", help="Parameters N for C = 6·N·D (e.g. 7B, 1e9)."),
    layers: Optional[str] = typer.Option(None, "--layers", help="n_layer, for Kaplan's attention term."),
    seq_len: Optional[str] = typer.Option(None, "--seq-len", help="Tokens per training sequence: the profiled MODEL's "
                                          "input length (as in `mlcost profile`), or n_ctx of the 6ND attention term."),
    d_model: Optional[str] = typer.Option(None, "--d-model", help="d_model (= d_attn), for the attention term."),
    gpu: Optional[str] = typer.Option(None, "--gpu", "--chip", help="Accelerator (see `mlcost reference hardware`): a100, h100, v100, tpu v3 ... With a --profile made by `profile --training --chip`, its roofline floor is printed beside the estimate."),
    count: Optional[str] = typer.Option(None, "--count", help="Number of accelerators (default 1)."),
    hours: Optional[str] = typer.Option(None, "--hours", help="Training time (hardware x time): hours, or a duration such as 90m, 1h30m."),
    days: Optional[str] = typer.Option(None, "--days", help="Training time (hardware x time): days, or a duration such as 36h."),
    utilization: Optional[str] = typer.Option(None, "--utilization", help="Model-FLOPs utilization, 0.4 or 40% (default 33%, AI and Compute)."),
    precision: Optional[RunPrecision] = typer.Option(None, "--precision", case_sensitive=False, help="The run's precision, timed at that peak of the chip; mixed/amp (as in `mlcost profile`): its 16-bit tensor peak, bf16 else fp16 (default: the chip's 16-bit tensor peak, else fp32)."),
    peak_tflops: Optional[str] = typer.Option(None, "--peak-tflops", help="Dense peak TFLOP/s per chip, overriding the table."),
    fmt: Optional[EstimateFormat] = typer.Option(None, "--format", "-f", case_sensitive=False, help=FORMAT_HELP.format(default="table")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    quiet: bool = quiet_option(),
    explain: bool = explain_option(),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw the AI-and-Compute trend with this run marked: FILE.png or FILE.svg."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output/--plot file that mlcost did not write."),
) -> None:
    """Training compute in FLOPs and petaflop/s-days, with time on an accelerator.

    Methods (one at a time): counting (MODEL / --profile / --flops-per-sample, with --samples or
    --tokens, x3 for forward+backward, x --epochs); parameters x tokens (--params N --tokens D: 6ND,
    plus Kaplan's attention term with --layers/--seq-len/--d-model); hardware x time
    (--gpu NAME --count N --hours H at --utilization, default 33%).
    """
    from mlcost.api import compute
    from mlcost.render import emit

    fmt = output_format(fmt, output, EstimateFormat, EstimateFormat.TABLE)
    terminal_only(fmt, EstimateFormat.TABLE, quiet=quiet, explain=explain)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot: {plot} must end in .png or .svg")
    distinct_files(("--plot", plot), ("--output", output), reads=(("--profile", profile),))
    for path, option in ((output, "--output"), (plot, "--plot")):  # refuse before the work, not after it
        if path is not None:
            from mlcost.safeio import check_output

            check_output(path, force=force, option=option)
    profile_inputs = [n for n, v in (("--input-shape", input_shape), ("--input-dtype", input_dtype), ("--arg", arg),
                                     ("--backend", backend != Backend.AUTO), ("--device", device != "meta"),
                                     ("--batch-size", batch_size is not None), ("--dim", dim), ("--as", as_format),
                                     ("--trust-remote-code", trust_remote_code), ("--trust-pickle", trust_pickle)) if v]
    profile_options: dict = {}
    if model is not None:
        from mlcost.cli.profile import _positive, parse_dims

        profile_options = dict(
            as_format=as_format.value if as_format else None, input_shapes=tuple(_shape(s) for s in input_shape),
            input_dtypes=tuple(input_dtype), factory_args=_args(arg), backend=backend.value, device=device,
            dims=parse_dims(dim), batch_size=_positive(batch_size, "--batch-size"),
            trust_remote_code=trust_remote_code, trust_pickle=trust_pickle)
    elif profile_inputs:
        raise UsageError(f"{', '.join(profile_inputs)} describe{'s' if len(profile_inputs) == 1 else ''} a MODEL to "
                         "profile; none was given")
    est = compute(model, profile=profile, flops_per_sample=flops_per_sample, samples=samples, tokens=tokens,
                  epochs=epochs, params=params, layers=layers, seq_len=seq_len, d_model=d_model, gpu=gpu, count=count,
                  hours=hours, days=days, utilization=utilization, precision=precision.value if precision else None,
                  peak_tflops=peak_tflops, **profile_options)

    from mlcost.render.compute import render

    if plot is not None:
        from mlcost.render.plot import plot_trend

        plot_trend(est, plot, force=force)
    emit(render(est, fmt.value, explain=explain, quiet=quiet), output, force=force)


def register(app: typer.Typer) -> None:
    app.command("compute")(compute_command)
