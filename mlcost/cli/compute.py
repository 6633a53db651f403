"""`mlcost compute`: training compute in FLOPs and petaflop/s-days (counting, 6ND, or hardware x time).

Imports only typer and light mlcost modules at top level: torch loads only when a MODEL is profiled.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Optional

import typer

from mlcost.errors import UsageError
from mlcost.jsonfile import read_json_object
from mlcost.units import parse_number

FORMATS = ("table", "json", "markdown")


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--input-shape: cannot read {text!r} (expected e.g. 1,3,224,224)") from None
    if not dims or any(d <= 0 for d in dims):
        raise UsageError(f"--input-shape: {text!r} needs positive dimensions")
    return dims


def _number(text: Optional[str], what: str) -> Optional[float]:
    """A finite number from an option ('8', '1.5e3', '2_000'); None passes through.  Signs, zero and
    whole-number checks are the cost model's (one line each); units.parse_number refuses NaN, inf and the
    absurd (1e308) and keeps typer's multi-line usage error away from a typo such as `--hours abc`."""
    if text is None:
        return None
    value = parse_number(text, what)
    return int(value) if value.is_integer() else value


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


def _load_profile(path: Path):
    from mlcost.results import Profile

    return Profile.from_dict(read_json_object(path, "--profile"))


def _choose_method(model, profile, flops_per_sample, params, hours, days) -> str:
    given = {
        "counting": [n for n, v in (("MODEL", model), ("--profile", profile), ("--flops-per-sample", flops_per_sample)) if v is not None],
        "params_tokens": ["--params"] if params is not None else [],
        "hardware_time": [n for n, v in (("--hours", hours), ("--days", days)) if v is not None],
    }
    chosen = [m for m, names in given.items() if names]
    if len(chosen) > 1:
        parts = "; ".join(f"{m} ({', '.join(given[m])})" for m in chosen)
        raise UsageError(f"inputs for two methods at once: {parts}; choose one")
    if not chosen:
        raise UsageError(
            "nothing to estimate: give MODEL, --profile or --flops-per-sample with --samples/--tokens (counting), "
            "--params with --tokens (6ND), or --gpu with --hours/--days (hardware x time)"
        )
    names = given[chosen[0]]
    if len(names) > 1:
        raise UsageError(f"give only one of {', '.join(names)}")
    return chosen[0]


def compute_command(
    model: Optional[str] = typer.Argument(None, help="A model to profile (file.py:factory, .onnx, .pt2, HF dir, ...)."),
    input_shape: list[str] = typer.Option([], "--input-shape", help="Input shape of the profiled MODEL, e.g. 1,3,224,224 (repeatable)."),
    input_dtype: list[str] = typer.Option([], "--input-dtype", help="Input dtype per --input-shape (default float32)."),
    arg: list[str] = typer.Option([], "--arg", help="key=value passed to the model factory (repeatable)."),
    backend: str = typer.Option("auto", "--backend", help="Counting backend for MODEL: auto|fvcore|torch."),
    device: str = typer.Option("meta", "--device", help="Where to build MODEL (as in `mlcost profile`): meta or cpu."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Sequences per batch of the profiled MODEL (Hugging Face)."),
    dim: list[str] = typer.Option([], "--dim", help="ONNX MODEL: NAME=VALUE for a symbolic input dimension (repeatable)."),
    as_format: Optional[str] = typer.Option(None, "--as", help="Read MODEL as this format (as in `mlcost profile`)."),
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
    hours: Optional[str] = typer.Option(None, "--hours", help="Training time in hours (hardware x time)."),
    days: Optional[str] = typer.Option(None, "--days", help="Training time in days (hardware x time)."),
    utilization: Optional[str] = typer.Option(None, "--utilization", help="Model-FLOPs utilization, 0.4 or 40% (default 33%, AI and Compute)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32|tf32|bf16|fp16|fp8 (default: the chip's 16-bit tensor peak, else fp32)."),
    peak_tflops: Optional[str] = typer.Option(None, "--peak-tflops", help="Dense peak TFLOP/s per chip, overriding the table."),
    fmt: str = typer.Option("table", "--format", "-f", help="table|json|markdown."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw the AI-and-Compute trend with this run marked: FILE.png or FILE.svg."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output/--plot file that mlcost did not write."),
) -> None:
    """Training compute in FLOPs and petaflop/s-days, with time on an accelerator.

    Methods (one at a time): counting (MODEL / --profile / --flops-per-sample, with --samples or
    --tokens, x3 for forward+backward, x --epochs); parameters x tokens (--params N --tokens D: 6ND,
    plus Kaplan's attention term with --layers/--seq-len/--d-model); hardware x time
    (--gpu NAME --count N --hours H at --utilization, default 33%).
    """
    from mlcost.costs import compute as cm
    from mlcost.render import emit
    from mlcost.units import parse_count, parse_flops, parse_fraction

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot: {plot} must end in .png or .svg")
    method = _choose_method(model, profile, flops_per_sample, params, hours, days)
    profile_inputs = [n for n, v in (("--input-shape", input_shape), ("--input-dtype", input_dtype), ("--arg", arg),
                                     ("--backend", backend != "auto"), ("--device", device != "meta"),
                                     ("--batch-size", batch_size is not None), ("--dim", dim), ("--as", as_format),
                                     ("--trust-remote-code", trust_remote_code), ("--trust-pickle", trust_pickle)) if v]
    if model is None and profile_inputs:
        raise UsageError(f"{', '.join(profile_inputs)} describe{'s' if len(profile_inputs) == 1 else ''} a MODEL to "
                         "profile; none was given")
    if params is None and any(v is not None for v in (layers, d_model)):
        raise UsageError("--layers and --d-model add the attention term to --params/--tokens (6ND)")
    if seq_len is not None and model is None and params is None:
        raise UsageError("--seq-len is tokens per training sequence: of a MODEL to profile, or n_ctx of the "
                         "--params/--tokens attention term; neither was given")
    n_samples = parse_count(samples, "--samples") if samples is not None else None
    n_tokens = parse_count(tokens, "--tokens") if tokens is not None else None
    util = parse_fraction(utilization, "--utilization") if utilization is not None else None
    n_epochs = _number(epochs, "--epochs")
    n_count, peak = _number(count, "--count"), _number(peak_tflops, "--peak-tflops")
    shape = {k: _number(v, f"--{k.replace('_', '-')}") for k, v in (("layers", layers), ("seq_len", seq_len), ("d_model", d_model))}
    if method != "hardware_time" and gpu is None and peak is None:
        # these only time the estimate on an accelerator; without one they would be silently ignored
        # (a bad value still gets its own message first)
        cm.resolve_accelerator(None, 1 if n_count is None else n_count, utilization=util, precision=precision)
        unused = [n for n, v in (("--count", count), ("--utilization", utilization), ("--precision", precision)) if v is not None]
        if unused:
            raise UsageError(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} for timing on an accelerator: "
                             "give --gpu NAME (or --peak-tflops)")
    hw = {"gpu": gpu, "count": 1 if n_count is None else n_count, "utilization": util, "precision": precision,
          "peak_tflops": peak}
    n_epochs = 1 if n_epochs is None else n_epochs

    if method == "counting":
        if n_samples is None and n_tokens is None:
            raise UsageError("counting needs the data size: --samples N or --tokens N")
        if n_samples is not None and n_tokens is not None:
            raise UsageError("give --samples or --tokens, not both")
        if model is not None or profile is not None:
            if model is not None:
                from mlcost.cli.profile import _positive, parse_dims
                from mlcost.profiling import profile as run_profile

                if shape["seq_len"] is not None and not isinstance(shape["seq_len"], int):
                    raise UsageError(f"--seq-len must be a whole number of tokens, got {seq_len}")

                prof = run_profile(
                    model, as_format=as_format, input_shapes=tuple(_shape(s) for s in input_shape),
                    input_dtypes=tuple(input_dtype), factory_args=_args(arg), backend=backend, device=device,
                    dims=parse_dims(dim), seq_len=_positive(shape["seq_len"], "--seq-len"),
                    batch_size=_positive(batch_size, "--batch-size"),
                    trust_remote_code=trust_remote_code, trust_pickle=trust_pickle,
                )
            else:
                prof = _load_profile(profile)
            est = cm.from_profile(prof, samples=n_samples, tokens=n_tokens, epochs=n_epochs, **hw)
        else:
            unit = "token" if n_tokens is not None else "sample"
            est = cm.from_flops_per_sample(
                parse_flops(flops_per_sample, "--flops-per-sample"), samples=n_tokens or n_samples, epochs=n_epochs,
                unit=unit, **hw,
            )
    elif method == "params_tokens":
        if n_tokens is None:
            raise UsageError("--params needs --tokens (C = 6·N·D)")
        if n_samples is not None:
            raise UsageError("--samples belongs to the counting method; 6ND takes --tokens")
        est = cm.from_params_tokens(parse_count(params, "--params"), n_tokens, **shape, epochs=n_epochs, **hw)
    else:
        if hours is not None and days is not None:
            raise UsageError("give --hours or --days, not both")
        if n_samples is not None or n_tokens is not None or epochs is not None:
            raise UsageError("--samples/--tokens/--epochs belong to counting or 6ND, not to hardware x time")
        if gpu is None and peak is None:
            raise UsageError("hardware x time needs --gpu NAME (or --peak-tflops)")
        h, d = _number(hours, "--hours"), _number(days, "--days")
        seconds = h * 3600 if h is not None else d * 86_400
        est = cm.from_hardware(gpu, hw["count"], seconds, utilization=util, precision=precision, peak_tflops=peak)

    from mlcost.render.compute import render

    if plot is not None:
        from mlcost.render.plot import plot_trend

        plot_trend(est, plot, force=force)
    emit(render(est, fmt), output, force=force)


def register(app: typer.Typer) -> None:
    app.command("compute")(compute_command)
