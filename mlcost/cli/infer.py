"""``mlcost infer MODEL --chip NAME``: serving floors of a decoder (prefill, decode, KV cache, $/CO2e per 1M tokens).

Imports only typer and light mlcost modules at top level; torch loads when the model is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlcost.choices import EstimateFormat, WeightPrecision
from mlcost.cli._options import FORMAT_HELP, explain_option, output_format, quiet_option, terminal_only

_HELP = """Serving cost of decoder MODEL on one chip, from the roofline of its operator calls.

Prefill (one forward over the prompt) gives the time to first token; decode (one token per sequence
reading a KV cache of P..P+N tokens) the seconds per output token and tokens/s; then the KV cache, the
memory peak against the chip's memory, and kWh, gCO2e and USD per 1M output tokens.  Every time is a
roofline floor (max(FLOPs/peak, bytes/bandwidth) per call): a lower bound on a real server's.

MODEL is a Hugging Face folder or config.json, a safetensors checkpoint beside its config.json, a GGUF
file (Llama family), or file.py:factory returning a module that maps int64 token ids to logits.
"""


def infer_command(
    model: str = typer.Argument(..., path_type=str, help="HF folder/config.json, GGUF, safetensors (with config.json), or file.py:factory."),
    chip: str = typer.Option(..., "--chip", help="Accelerator (see `mlcost reference hardware`): a100, h100, l4 ..."),
    batch: int = typer.Option(1, "--batch", help="Sequences served together."),
    prompt_tokens: int = typer.Option(..., "--prompt-tokens", help="Prompt tokens per sequence (P)."),
    new_tokens: int = typer.Option(..., "--new-tokens", help="Tokens generated per sequence (N)."),
    region: Optional[str] = typer.Option(None, "--region", help="Grid region for gCO2e (FR, US-VA, gcp:europe-west1 ...; default world average)."),
    price_per_hour: Optional[float] = typer.Option(None, "--price-per-hour", help="USD per accelerator-hour (default: reference_data/cloud_prices.csv)."),
    precision: Optional[WeightPrecision] = typer.Option(None, "--precision", case_sensitive=False, help="Weights dtype (default: the checkpoint's own)."),
    arg: list[str] = typer.Option([], "--arg", help="key=value keyword argument for a factory (a Python literal); repeatable."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Hugging Face: allow the model folder's own code."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) if any operator could not be counted."),
    fmt: Optional[EstimateFormat] = typer.Option(None, "--format", "-f", case_sensitive=False, help=FORMAT_HELP.format(default="table")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the output to FILE instead of stdout."),
    quiet: bool = quiet_option(),
    explain: bool = explain_option(),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file that mlcost did not write."),
) -> None:
    from mlcost.cli.profile import parse_kv, parse_literal, progress
    from mlcost.costs.serving import estimate
    from mlcost.refdata import find_accelerator
    from mlcost.render import emit
    from mlcost.render.infer import render

    fmt = output_format(fmt, output, EstimateFormat, EstimateFormat.TABLE)
    terminal_only(fmt, EstimateFormat.TABLE, quiet=quiet, explain=explain)
    name = find_accelerator(chip).name  # an unknown chip fails before the model is built
    with progress(f"timing {model} on {name} …"):
        est = estimate(model, chip=name, batch=batch, prompt_tokens=prompt_tokens, new_tokens=new_tokens,
                       region=region, price_per_hour=price_per_hour, precision=precision.value if precision else None,
                       trust_remote_code=trust_remote_code, strict=strict,
                       factory_args={k: parse_literal(v) for k, v in (parse_kv(a, "--arg") for a in arg)})
    emit(render(est, fmt.value, explain=explain, quiet=quiet), output, force=force)
    if output is not None:
        typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("infer", help=_HELP)(infer_command)
