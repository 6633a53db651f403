"""The library calls behind ``mlcost compute``, ``mlcost carbon`` and ``mlcost check`` (``mlcost.profile``
lives in ``mlcost.profiling``).  Each returns the result object the command renders; the commands parse
their options and call these same functions, so a notebook gets exactly what the terminal shows.

>>> import mlcost
>>> est = mlcost.compute(params="7B", tokens="2T", gpu="a100", count=1024)
>>> round(est.pfs_days)                      # 6 * 7e9 * 2e12 / 8.64e19
972
>>> mlcost.carbon(gpu="a100", count=8, hours="1h30m", region="FR").co2e_kg > 0
True

Quantities may be numbers in base units or strings with units, as on the command line: counts '7B',
'1.28e6'; FLOPs '1.2 GFLOPs'; fractions '40%'; durations '90m', '1h30m', '2d' (a bare number of
``hours`` is hours, of ``days`` days).  Results display as tables in a notebook and have ``to_pandas()``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from mlcost.errors import UsageError

if TYPE_CHECKING:  # each function imports the result it returns: `mlcost carbon` never loads Profile's dataclasses
    from mlcost.results import BudgetReport, CarbonEstimate, ComputeEstimate, Profile


def number(value: Any, what: str, *, percent: bool = False) -> float | int | None:
    """A finite number from a number or a string ('8', '1.5e3', '2_000', and with PERCENT '40%');
    None passes through.  mlcost.units refuses NaN, inf and the absurd (above 1e30); whole values come back
    as int unless PERCENT.  Signs and ranges are the cost model's to check."""
    if value is None:
        return None
    from mlcost.units import parse_fraction, parse_number

    if percent and isinstance(value, str) and value.strip().endswith("%"):
        return parse_fraction(value, what)
    out = parse_number(value, what)
    return out if percent or not out.is_integer() else int(out)


def _count(count: Any) -> int | None:
    """--count accelerators: a whole number from 1 to 2^31-1, as --gpus (1e20 chips was accepted)."""
    from mlcost.units import require_size

    return None if count is None else require_size(number(count, "--count"), "--count")


def _seconds(hours: Any, days: Any) -> float | None:
    from mlcost.units import parse_duration

    if hours is not None and days is not None:
        raise UsageError("give --hours or --days, not both")
    if hours is not None:
        return parse_duration(hours, "--hours", unit="h")
    if days is not None:
        return parse_duration(days, "--days", unit="d")
    return None


def _method(model: Any, profile: Any, flops_per_sample: Any, params: Any, hours: Any, days: Any) -> str:
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


def _as_profile(value: Any) -> Profile:
    """A Profile, its JSON dict, or the path of a `mlcost profile --format json` file."""
    from mlcost.results import Profile

    if isinstance(value, Profile):
        return value
    if isinstance(value, dict):
        return Profile.from_dict(value)
    from mlcost.jsonfile import read_json_object

    return Profile.from_dict(read_json_object(Path(value), "--profile"))


def compute(model: Any = None, *, profile: Any = None, flops_per_sample: Any = None, samples: Any = None,
            tokens: Any = None, epochs: Any = None, params: Any = None, layers: Any = None, seq_len: Any = None,
            d_model: Any = None, gpu: str | None = None, count: Any = None, hours: Any = None, days: Any = None,
            utilization: Any = None, precision: str | None = None, peak_tflops: Any = None,
            **profile_options: Any) -> ComputeEstimate:
    """Training compute (FLOPs, pfs-days, accelerator-hours): the result ``mlcost compute`` renders.

    One method at a time: counting (MODEL — a path, entry point or nn.Module, profiled with
    PROFILE_OPTIONS as ``mlcost.profile`` takes them — or PROFILE — a Profile or its JSON file — or
    FLOPS_PER_SAMPLE, with SAMPLES or TOKENS and EPOCHS); parameters x tokens (PARAMS, TOKENS, and for
    Kaplan's attention term LAYERS, SEQ_LEN, D_MODEL); hardware x time (GPU, COUNT, HOURS or DAYS).
    GPU/COUNT/UTILIZATION/PRECISION/PEAK_TFLOPS time the first two methods on an accelerator.
    """
    from mlcost.choices import RunPrecision, choose
    from mlcost.costs import compute as cm
    from mlcost.units import parse_count, parse_flops, parse_fraction

    if model is not None and profile is None:
        from mlcost.results import Profile

        if isinstance(model, Profile):
            model, profile = None, model
    precision = None if precision is None else choose(RunPrecision, precision, "--precision", case_sensitive=False)
    method = _method(model, profile, flops_per_sample, params, hours, days)
    if model is None and profile_options:
        raise UsageError(f"{', '.join(sorted(profile_options))} describe a MODEL to profile; none was given")
    if params is None and any(v is not None for v in (layers, d_model)):
        raise UsageError("--layers and --d-model add the attention term to --params/--tokens (6ND)")
    if seq_len is not None and model is None and params is None:
        raise UsageError("--seq-len is tokens per training sequence: of a MODEL to profile, or n_ctx of the "
                         "--params/--tokens attention term; neither was given")
    n_samples = parse_count(samples, "--samples") if samples is not None else None
    n_tokens = parse_count(tokens, "--tokens") if tokens is not None else None
    util = parse_fraction(utilization, "--utilization") if utilization is not None else None
    n_epochs = number(epochs, "--epochs")
    n_count, peak = _count(count), number(peak_tflops, "--peak-tflops")
    shape = {k: number(v, f"--{k.replace('_', '-')}") for k, v in (("layers", layers), ("seq_len", seq_len), ("d_model", d_model))}
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

    if method == "counting":
        if n_samples is None and n_tokens is None:
            raise UsageError("counting needs the data size: --samples N or --tokens N")
        if n_samples is not None and n_tokens is not None:
            raise UsageError("give --samples or --tokens, not both")
        epochs_ = 1 if n_epochs is None else n_epochs
        if model is not None:
            from mlcost.profiling import profile as run_profile

            if shape["seq_len"] is not None:  # a MODEL's tokens per sequence, as `mlcost profile --seq-len`
                if not isinstance(shape["seq_len"], int) or shape["seq_len"] <= 0:
                    raise UsageError(f"--seq-len must be a whole number of tokens, got {seq_len}")
                profile_options = {**profile_options, "seq_len": shape["seq_len"]}
            return cm.from_profile(run_profile(model, **profile_options), samples=n_samples, tokens=n_tokens,
                                   epochs=epochs_, **hw)
        if profile is not None:
            return cm.from_profile(_as_profile(profile), samples=n_samples, tokens=n_tokens, epochs=epochs_, **hw)
        unit = "token" if n_tokens is not None else "sample"
        return cm.from_flops_per_sample(parse_flops(flops_per_sample, "--flops-per-sample"),
                                        samples=n_tokens or n_samples, epochs=epochs_, unit=unit, **hw)
    if method == "params_tokens":
        if n_tokens is None:
            raise UsageError("--params needs --tokens (C = 6·N·D)")
        if n_samples is not None:
            raise UsageError("--samples belongs to the counting method; 6ND takes --tokens")
        return cm.from_params_tokens(parse_count(params, "--params"), n_tokens, **shape,
                                     epochs=1 if n_epochs is None else n_epochs, **hw)
    seconds = _seconds(hours, days)
    if n_samples is not None or n_tokens is not None or epochs is not None:
        raise UsageError("--samples/--tokens/--epochs belong to counting or 6ND, not to hardware x time")
    if gpu is None and peak is None:
        raise UsageError("hardware x time needs --gpu NAME (or --peak-tflops)")
    return cm.from_hardware(gpu, hw["count"], seconds, utilization=util, precision=precision, peak_tflops=peak)


def _as_compute(value: Any) -> ComputeEstimate:
    """A ComputeEstimate, its JSON dict, or the path of a `mlcost compute --format json` file."""
    from mlcost.results import ComputeEstimate

    if isinstance(value, ComputeEstimate):
        return value
    if not isinstance(value, dict):
        from mlcost.jsonfile import read_json_object

        value = read_json_object(Path(value), "--compute-json")
    return ComputeEstimate.from_dict(value)


def carbon(*, gpu: str | None = None, count: Any = None, hours: Any = None, days: Any = None,
           gpu_hours: Any = None, power_fraction: Any = None, power_watts: Any = None, energy_kwh: Any = None,
           flops: Any = None, compute: Any = None, utilization: Any = None, precision: str | None = None,
           pue: Any = None, provider: str | None = None, region: str | None = None, intensity: Any = None,
           market_intensity: Any = None, cfe: Any = None, embodied: bool = False, price_per_hour: Any = None,
           method: str = "default", ledger: Any = None) -> CarbonEstimate:
    """Energy (kWh), CO2e (kg) and cost (USD) of a run: the result ``mlcost carbon`` renders.

    One input way: GPU + COUNT + HOURS/DAYS (or GPU_HOURS); POWER_WATTS + HOURS; ENERGY_KWH; FLOPS with
    GPU; or COMPUTE (a ComputeEstimate or its JSON file: its accelerator, count and hours or FLOPs carry
    over, other arguments override them).  INTENSITY and MARKET_INTENSITY are gCO2e/kWh; CFE a fraction;
    LEDGER an ``mlcost track`` ledger (path) whose measured runs are shown beside the estimate.
    """
    from mlcost.choices import RunPrecision, choose
    from mlcost.costs import carbon as cb

    count = _count(count)
    seconds = _seconds(hours, days)
    if seconds is not None and seconds <= 0:
        raise UsageError(f"{'--hours' if hours is not None else '--days'} must be positive, got {hours if hours is not None else days}")
    f = number(flops, "--flops", percent=True)

    def num(value: Any, option: str) -> float | None:  # '40%' reads as 0.4 wherever a number is asked
        return number(value, option, percent=True)

    args = dict(
        gpu=gpu, count=count, seconds=seconds, gpu_hours=num(gpu_hours, "--gpu-hours"),
        power_fraction=num(power_fraction, "--power-fraction"), power_watts=num(power_watts, "--power-watts"),
        energy_kwh=num(energy_kwh, "--energy-kwh"), flops=f, utilization=num(utilization, "--utilization"),
        precision=None if precision is None else choose(RunPrecision, precision, "--precision", case_sensitive=False),
        region=region, provider=provider, intensity_g_per_kwh=num(intensity, "--intensity"), pue=num(pue, "--pue"),
        price_per_hour=num(price_per_hour, "--price-per-hour"), method=method,
        market_intensity=num(market_intensity, "--market-intensity"), cfe=num(cfe, "--cfe"), embodied=embodied,
    )
    if compute is not None:
        if f is not None:
            raise UsageError("give --flops or --compute-json, not both")
        est = cb.from_compute(_as_compute(compute), **args)
    else:
        est = cb.estimate(**{**args, "count": 1 if count is None else count})
    if ledger is not None:
        from mlcost.ledger import read_ledger

        est = cb.with_measured(est, read_ledger(Path(ledger)))
    return est


def check(config: Any = None, models: Sequence[str] = (), *, baseline: Any = None, baseline_ref: str | None = None,
          save_baseline: Any = None, force: bool = False) -> BudgetReport:
    """Check the configured models against their budgets (and a baseline file or git ref): the report
    ``mlcost check`` renders.  ``report.exceeded`` is what makes the command exit 1.  SAVE_BASELINE writes
    today's numbers as a baseline JSON (FORCE: also over a file mlcost did not write)."""
    from mlcost import budgets

    if baseline is not None and baseline_ref is not None:
        raise UsageError("give --baseline FILE or --baseline-ref REF, not both")
    cfg = budgets.load_config(None if config is None else Path(config))
    report, current = budgets.run_check(cfg, list(models), baseline_file=baseline, baseline_ref=baseline_ref)
    if save_baseline is not None:
        budgets.save_baseline(save_baseline, current, source=cfg.display_path, force=force)
    return report
