"""Training compute: FLOPs and petaflop/s-days by the methods of OpenAI's "AI and Compute".

Three methods, each returning a :class:`~mlcost.results.ComputeEstimate`:

* counting (``from_profile``, ``from_flops_per_sample``): forward FLOPs per example x (1 + backward
  ratio) x examples x epochs.  The backward ratio is 2 (forward + backward = 3x forward) unless a
  profile measured its backward pass.
* parameters x tokens (``from_params_tokens``): C = 6·N·D (Kaplan et al. 2020), plus the attention
  term 6·n_layer·n_ctx·d_attn per token (3x Kaplan's forward 2·n_layer·n_ctx·d_attn) when the
  shape is given.
* hardware x time (``from_hardware``): count x peak FLOP/s x seconds x utilization.

Every estimate can be timed on an accelerator from reference_data/hardware.csv at a stated
model-FLOPs utilization, with a low/high range.  Units: FLOPs (1 MAC = 2 FLOPs), seconds, hours.
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from mlcost.errors import UsageError
from mlcost.refdata import MIXED_PRECISIONS, RUN_PRECISIONS, find_accelerator, read_csv
from mlcost.results import AcceleratorUse, ComputeEstimate

if TYPE_CHECKING:
    from mlcost.results import Profile
from mlcost.units import PFS_DAY_FLOPS, format_si, require_positive

#: "We typically assume a 33% utilization for GPUs and a 17% utilization for CPU's ... except where we
#: have more specific information" -- OpenAI, AI and Compute (2018), appendix.
DEFAULT_UTILIZATION = 0.33
CPU_UTILIZATION = 0.17
#: Low/high model-FLOPs utilization.  High 0.50: AI and Compute uses 0.50 for DeepSpeech2 where it had
#: specific information.  Low 0.25: mlcost's assumption (a quarter of peak), not a published figure.
UTILIZATION_RANGE = (0.25, 0.50)
UTILIZATION_SOURCE = (
    "utilization {u:.0%} (OpenAI 'AI and Compute' 2018: 33% assumed for GPUs), range "
    "{lo:.0%}-{hi:.0%} (high: the 50% that post uses for DeepSpeech2; low: mlcost's assumption)"
)
#: Forward + backward = 3 x forward: "3 for forward and backward pass" (AI and Compute; Kaplan et al.).
DEFAULT_BACKWARD_RATIO = 2.0
METHODS = ("counting", "params_tokens", "hardware_time")


def _num(x: float) -> int | float:
    """Whole numbers as ints in JSON (1e9 -> 1000000000), others unchanged."""
    return int(x) if float(x).is_integer() and abs(x) < 2**63 else x


def _utilization(utilization: float | None) -> tuple[float, float, float, bool]:
    """(point, low, high, assumed?)  A user-given utilization is its own range."""
    if utilization is None:
        return DEFAULT_UTILIZATION, *UTILIZATION_RANGE, True
    u = require_positive(utilization, "utilization")
    if u > 1:
        raise UsageError(f"utilization is a fraction of peak (0-1], got {u:g}")
    return u, u, u, False


def mixed_note(acc: Any, precision: str | None) -> str | None:
    """The assumption timing --precision mixed/amp on ACC makes (refdata.Accelerator.peak_column); None for a
    precision that is a peak column itself."""
    if precision is None or precision.lower() not in MIXED_PRECISIONS:
        return None
    col, p = acc.peak_column(precision), precision.lower()
    if col == "fp32":
        return f"--precision {p}: timed at the fp32 peak, as {acc.name} publishes no 16-bit one"
    return (f"--precision {p}: timed at the {col} peak, the chip's 16-bit tensor peak (mixed precision runs its "
            f"matmuls in 16 bits{f'; {acc.name} publishes no bf16 peak' if col == 'fp16' else ''})")


def resolve_accelerator(
    gpu: str | None, count: int = 1, *, utilization: float | None = None, precision: str | None = None,
    peak_tflops: float | None = None,
) -> tuple[AcceleratorUse, list[str]] | None:
    """The accelerator to time a run on, and the assumptions that choice makes.  None without one."""
    count = int(require_positive(count, "count", integer=True))
    if precision is not None and precision.lower() not in RUN_PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(RUN_PRECISIONS)}")
    u, lo, hi, assumed = _utilization(utilization)  # checked even when unused: a bad value is still an error
    if gpu is None and peak_tflops is None:
        return None
    notes: list[str] = []
    if peak_tflops is not None:
        peak = require_positive(peak_tflops, "peak TFLOP/s") * 1e12
        name = find_accelerator(gpu).name if gpu else "custom accelerator"
        prec = (precision or "as given").lower()
        source = "--peak-tflops (given by the user)"
        notes.append(f"peak {peak / 1e12:g} TFLOP/s per {name} as given by --peak-tflops (hardware table not used)")
    else:
        acc = find_accelerator(gpu)
        peak, prec = acc.peak_flops(precision)
        name, source = acc.name, acc.source
        how = "as chosen by --precision" if precision else "the chip's default: dense 16-bit tensor peak where it has one, else FP32"
        notes.append(f"peak {peak / 1e12:g} TFLOP/s per {name} at {prec} ({how}; dense, no sparsity; "
                     "reference_data/hardware.csv)")
        if note := mixed_note(acc, precision):
            notes.append(note)
    if assumed:
        notes.append(UTILIZATION_SOURCE.format(u=u, lo=lo, hi=hi))
    else:
        notes.append(f"utilization {u:.0%} as given")
    return AcceleratorUse(name, count, prec, peak, u, lo, hi, source), notes


def _finish(
    method: str, flops: float, *, acc: tuple[AcceleratorUse, list[str]] | None, assumptions: list[str],
    inputs: dict[str, Any], breakdown: dict[str, Any], model: str | None = None,
    flops_range: tuple[float, float] | None = None, gpu_hours: float | None = None,
) -> ComputeEstimate:
    flops_lo, flops_hi = flops_range or (flops, flops)
    rng: dict[str, Any] = {
        "flops": [round(flops_lo), round(flops_hi)],
        "pfs_days": [flops_lo / PFS_DAY_FLOPS, flops_hi / PFS_DAY_FLOPS],
        "gpu_hours": None,
        "utilization": None,
    }
    accel, wall = None, None
    if acc is not None:
        accel, notes = acc
        assumptions = [*assumptions, *notes]
        rng["utilization"] = [accel.utilization_low, accel.utilization_high]
        if gpu_hours is None:  # time the counted FLOPs: hours = FLOPs / (peak x utilization) / 3600
            per_chip = accel.peak_flops_per_s * 3600
            gpu_hours = flops / (per_chip * accel.utilization)
            rng["gpu_hours"] = [flops / (per_chip * accel.utilization_high), flops / (per_chip * accel.utilization_low)]
        else:
            rng["gpu_hours"] = [gpu_hours, gpu_hours]
        wall = gpu_hours / accel.count
    return ComputeEstimate(
        method=method, flops=flops if isinstance(flops, int) else round(flops), pfs_days=flops / PFS_DAY_FLOPS, gpu_hours=gpu_hours, wall_hours=wall,
        range=rng, accelerator=accel, inputs=inputs, breakdown=breakdown, trend=trend_position(flops / PFS_DAY_FLOPS),
        assumptions=tuple(assumptions), model=model,
    )


def from_flops_per_sample(
    flops_per_sample: float, *, samples: float, epochs: float = 1.0, backward_ratio: float = DEFAULT_BACKWARD_RATIO,
    gpu: str | None = None, count: int = 1, utilization: float | None = None, precision: str | None = None,
    peak_tflops: float | None = None, model: str | None = None, unit: str = "sample",
    extra_assumptions: tuple[str, ...] = (), backward_measured: bool = False,
) -> ComputeEstimate:
    """Counting: forward FLOPs per sample (or token) x (1 + backward_ratio) x samples x epochs."""
    fwd = require_positive(flops_per_sample, f"forward FLOPs per {unit}")
    n = require_positive(samples, f"number of {unit}s")
    ep = require_positive(epochs, "epochs")
    if backward_ratio is None or isinstance(backward_ratio, bool) or not backward_ratio >= 0 or math.isinf(backward_ratio):
        raise UsageError(f"backward ratio must be a finite number >= 0, got {backward_ratio!r}")
    acc = resolve_accelerator(gpu, count, utilization=utilization, precision=precision, peak_tflops=peak_tflops)
    forward_total = _num(fwd) * _num(n) * _num(ep)
    flops = forward_total * (1 + _num(backward_ratio))
    assumptions = list(extra_assumptions)
    if backward_measured:
        assumptions.append(f"backward = {backward_ratio:.3g} x forward, as measured in the profile")
    elif backward_ratio == DEFAULT_BACKWARD_RATIO:
        assumptions.append("backward = 2 x forward, so training = 3 x forward (AI and Compute; Kaplan et al. 2020)")
    else:
        assumptions.append(f"backward = {backward_ratio:g} x forward, as given")
    if ep != 1:
        assumptions.append(f"{ep:g} epochs over {n:g} {unit}s")
    inputs = {f"flops_per_{unit}": _num(fwd), f"{unit}s": _num(n), "epochs": _num(ep), "backward_ratio": _num(backward_ratio)}
    breakdown = {"flops_forward": round(forward_total), "flops_backward": round(forward_total * backward_ratio)}
    return _finish("counting", flops, acc=acc, assumptions=assumptions, inputs=inputs, breakdown=breakdown, model=model)


def _profile_batch(profile: Profile) -> int:
    """Examples in the profile's first input (its leading dimension); 1 when unknown."""
    if profile.inputs and profile.inputs[0].shape:
        return max(int(profile.inputs[0].shape[0]), 1)
    return 1


def _profile_tokens(profile: Profile) -> int:
    """Tokens in the profile's input: the elements of its first integer (token-id) input, else of the first input."""
    for spec in profile.inputs:
        if "int" in spec.dtype and spec.shape:
            return math.prod(spec.shape)
    if profile.inputs and profile.inputs[0].shape:
        return math.prod(profile.inputs[0].shape[:2])
    raise UsageError("the profile records no input shape, so FLOPs per token are unknown; use --flops-per-sample")


def from_profile(
    profile: Profile, *, samples: float | None = None, tokens: float | None = None, epochs: float = 1.0,
    gpu: str | None = None, count: int = 1, utilization: float | None = None, precision: str | None = None,
    peak_tflops: float | None = None,
) -> ComputeEstimate:
    """Counting from a profile: its forward FLOPs are per its input; divide down to one sample or token."""
    if profile.flops_forward is None:
        raise UsageError(f"the profile of {profile.model} has no FLOP count (only tensors were read); "
                         "use --params and --tokens instead")
    if (samples is None) == (tokens is None):
        raise UsageError("give the training set size as exactly one of --samples or --tokens")
    fwd = require_positive(profile.flops_forward, "the profile's forward FLOPs")
    if tokens is not None:
        per_input, unit, n = _profile_tokens(profile), "token", tokens
    else:
        per_input, unit, n = _profile_batch(profile), "sample", samples
    notes = [f"forward FLOPs per {unit} = profile forward {format_si(fwd, 'FLOPs')} / {per_input} {unit}s in the "
             f"profiled input ({profile.backend or 'unknown'} backend)"]
    ratio, measured = DEFAULT_BACKWARD_RATIO, False
    # An operator the profile could not count in its backward pass (marked "(backward)") makes the measured
    # backward a lower bound that can be far off (a conv net without convolution_backward measures ~1% of
    # forward), so the 2 x forward convention is used instead and the measured figure is only reported.
    missed_backward = sorted({u.op for u in profile.unsupported_ops if u.op.endswith("(backward)")})
    if profile.flops_backward is not None and missed_backward:
        notes.append(f"the profile's measured backward ({format_si(profile.flops_backward, 'FLOPs')}) misses "
                     f"{', '.join(op.removesuffix(' (backward)') for op in missed_backward[:5])}, so it is not used")
    elif profile.flops_backward is not None:
        ratio, measured = profile.flops_backward / fwd, True
    missed_forward = sorted({u.op for u in profile.unsupported_ops if not u.op.endswith("(backward)")})
    if missed_forward:
        notes.append(f"the profile did not count {len(missed_forward)} operator kind(s): {', '.join(missed_forward[:5])}; "
                     "FLOPs are a lower bound")
    est = from_flops_per_sample(
        fwd / per_input, samples=n, epochs=epochs, backward_ratio=ratio, gpu=gpu, count=count,
        utilization=utilization, precision=precision, peak_tflops=peak_tflops, model=profile.model, unit=unit,
        extra_assumptions=tuple(notes), backward_measured=measured,
    )
    return _with_floor(est, profile, gpu, steps=n * epochs / per_input, count=count)


def _with_floor(est: ComputeEstimate, profile: Profile, gpu: str | None, *, steps: float, count: int) -> ComputeEstimate:
    """EST with the roofline's utilization-free lower bound beside it, when the profile carries its calls
    (``mlcost profile --training --chip``) and a table accelerator is given; the estimate itself is unchanged."""
    if gpu is None or not (profile.roofline or profile.calls):
        return est
    from dataclasses import replace

    from mlcost.costs.roofline import training_floor

    floor = training_floor(profile, gpu, steps=steps, count=int(count))
    if floor is None:
        note = "no roofline floor: the profile holds forward calls only (profile with --training --chip for a step floor)"
    else:
        note = (f"roofline floor: {floor['step_seconds_floor']:.4g} s per profiled step on {floor['chip']} x "
                f"{steps:.4g} steps = {floor['gpu_hours_floor']:.4g} accelerator-hours at least (no utilization "
                "assumed; the utilization estimate above is the AI-and-Compute convention and stays the estimate)")
        if est.gpu_hours is not None and est.accelerator is not None and floor["gpu_hours_floor"] > est.gpu_hours:
            ran = ", ".join(floor["precisions"]) or "no MACs"
            note += (f"; the floor exceeds that estimate: the profiled calls run at {ran} "
                     f"({floor['memory_bound_share']:.0%} of the step memory-bound) while the estimate assumes "
                     f"{est.accelerator.utilization:.0%} of the {est.accelerator.precision} peak, which this model "
                     "cannot reach on this chip")
    return replace(est, floor=floor, assumptions=(*est.assumptions, note))


def from_params_tokens(
    params: float, tokens: float, *, layers: int | None = None, seq_len: int | None = None,
    d_model: int | None = None, epochs: float = 1.0, gpu: str | None = None, count: int = 1,
    utilization: float | None = None, precision: str | None = None, peak_tflops: float | None = None,
    model: str | None = None,
) -> ComputeEstimate:
    """C = 6·N·D, plus 6·n_layer·n_ctx·d_attn per token (d_attn = d_model) when the shape is given."""
    n = require_positive(params, "parameters")
    d = require_positive(tokens, "tokens") * require_positive(epochs, "epochs")
    shape = (layers, seq_len, d_model)
    if any(v is not None for v in shape) and not all(v is not None for v in shape):
        raise UsageError("the attention term needs all of --layers, --seq-len and --d-model")
    acc = resolve_accelerator(gpu, count, utilization=utilization, precision=precision, peak_tflops=peak_tflops)
    dense = 6 * _num(n) * _num(d)  # exact integer arithmetic when the inputs are whole numbers
    assumptions = ["C = 6·N·D: 2·N forward + 4·N backward FLOPs per token (Kaplan et al. 2020, Table 1); "
                   "N counts non-embedding parameters in Kaplan's convention, here N is the number given"]
    breakdown: dict[str, Any] = {"flops_6nd": round(dense), "flops_attention": 0}
    inputs: dict[str, Any] = {"params": _num(n), "tokens": _num(tokens), "epochs": _num(epochs)}
    attention: int | float = 0
    if layers is not None:
        nl = require_positive(layers, "layers", integer=True)
        ctx = require_positive(seq_len, "sequence length", integer=True)
        dm = require_positive(d_model, "d_model", integer=True)
        attention = 6 * int(nl) * int(ctx) * int(dm) * _num(d)
        breakdown["flops_attention"] = round(attention)
        inputs.update(layers=int(nl), seq_len=int(ctx), d_model=int(dm))
        assumptions.append("attention term: 3 x Kaplan's forward 2·n_layer·n_ctx·d_attn per token, with d_attn = d_model")
    else:
        assumptions.append("attention (context-dependent) FLOPs left out: give --layers, --seq-len, --d-model to add them")
    if epochs != 1:
        assumptions.append(f"D = {tokens:g} tokens x {epochs:g} epochs")
    return _finish("params_tokens", dense + attention, acc=acc, assumptions=assumptions, inputs=inputs,
                   breakdown=breakdown, model=model)


def from_hardware(
    gpu: str | None, count: int, seconds: float, *, utilization: float | None = None, precision: str | None = None,
    peak_tflops: float | None = None, model: str | None = None,
) -> ComputeEstimate:
    """Hardware x time: count x peak FLOP/s x seconds x utilization (low/high from the utilization range)."""
    secs = require_positive(seconds, "training time")
    acc = resolve_accelerator(gpu, count, utilization=utilization, precision=precision, peak_tflops=peak_tflops)
    if acc is None:
        raise UsageError("the hardware x time method needs --gpu NAME (or --peak-tflops)")
    accel, _ = acc
    peak_seconds = accel.count * accel.peak_flops_per_s * secs
    flops = peak_seconds * accel.utilization
    inputs = {"gpu": accel.name, "count": accel.count, "seconds": _num(secs),
              "peak_flops_per_s": _num(accel.peak_flops_per_s), "utilization": accel.utilization}
    return _finish(
        "hardware_time", flops, acc=acc, assumptions=[], inputs=inputs,
        breakdown={"peak_flops_x_seconds": round(peak_seconds)}, model=model,
        flops_range=(peak_seconds * accel.utilization_low, peak_seconds * accel.utilization_high),
        gpu_hours=accel.count * secs / 3600,
    )


# --- the trend of "AI and Compute" (reference_data/ai_and_compute.csv) ---

@functools.cache
def reference_results() -> tuple[dict[str, Any], ...]:
    """Rows of ai_and_compute.csv that carry a value, as dicts with float ``pfs_days``."""
    out = []
    for row in read_csv("ai_and_compute"):
        if (row.get("pfs_days") or "").strip():
            out.append({**row, "pfs_days": float(row["pfs_days"])})
    return tuple(out)


#: "since 2012, the amount of compute used in the largest AI training runs has been increasing exponentially with a
#: 3.4-month doubling time" -- OpenAI, AI and Compute (2018; the figure as the post now prints it).
DOUBLING_2012_2018_MONTHS = 3.4


def year_of(date: str) -> float:
    """'2014-09' -> 2014.71 (mid-month)."""
    year, _, month = date.partition("-")
    return int(year) + ((int(month) if month else 6) - 0.5) / 12


def _points(group: str) -> list[tuple[float, float]]:
    return [(year_of(r["date"]), math.log2(r["pfs_days"])) for r in reference_results() if r["group"] == group]


def fit_doubling_months(group: str) -> float | None:
    """Least-squares doubling time (months) of log2(pfs-days) against year over GROUP's rows; None for < 2."""
    pts = _points(group)
    if len(pts) < 2:
        return None
    mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0
    return 12 / slope if slope > 0 else None


def trend_lines() -> dict[str, dict[str, Any]]:
    """The two trends, each log2(pfs-days) = intercept + slope * year: 2012-2018 with the post's 3.4-month doubling
    through the headline results (least-squares intercept), and since 2019 a least-squares fit to the 'recent' rows."""
    out: dict[str, dict[str, Any]] = {}
    for key, group, fixed in (("2012-2018", "headline", DOUBLING_2012_2018_MONTHS), ("since 2019", "recent", None)):
        pts = _points(group)
        months = fixed if fixed is not None else fit_doubling_months(group)
        if len(pts) < 2 or months is None:
            continue
        slope = 12 / months
        mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
        how = (f"{fixed:g}-month doubling (OpenAI, AI and Compute 2018), through the post's headline results"
               if fixed is not None else
               f"least-squares fit to the {len(pts)} runs since 2019 in reference_data/ai_and_compute.csv "
               f"({months:.1f}-month doubling)")
        out[key] = {"doubling_months": months, "intercept": my - slope * mx, "slope_per_year": slope,
                    "span": (min(x for x, _ in pts), max(x for x, _ in pts)), "how": how}
    return out


def trend_position(pfs_days: float) -> dict[str, Any]:
    """Where PFS_DAYS falls among the reference results (headline and since-2019 runs), the ratio to AlexNet, and
    the date at which each trend reaches it (``before_start``: the run is below the trend at its first result,
    ``start_year``, so the year is an extrapolation to before the trend began)."""
    rows = sorted((r for r in reference_results() if r["group"] in ("headline", "recent")), key=lambda r: r["pfs_days"])
    if not rows or not pfs_days > 0:
        return {}
    below = [r for r in rows if r["pfs_days"] <= pfs_days]
    above = [r for r in rows if r["pfs_days"] > pfs_days]
    alexnet = next((r for r in rows if r["name"] == "AlexNet"), None)
    lo = below[-1]["name"] if below else None
    hi = above[0]["name"] if above else None
    x_alexnet = pfs_days / alexnet["pfs_days"] if alexnet else None
    if lo and hi:
        where = f"between {lo} and {hi}"
    elif hi:
        where = f"below {hi}, the smallest result with a published value"
    else:
        where = f"above {lo}, the largest result with a published value"
    if x_alexnet is not None:
        where += f"; {_times(x_alexnet)} AlexNet"
    trends = {}
    for k, t in trend_lines().items():
        year = (math.log2(pfs_days) - t["intercept"]) / t["slope_per_year"]
        # a run smaller than the trend at its first result "reaches it" before the trend exists (the since-2019
        # line, run backwards, reached a tiny run in 1995): the year is kept, and flagged
        trends[k] = {"doubling_months": t["doubling_months"], "reached_year": year, "start_year": t["span"][0],
                     "before_start": year < t["span"][0], "how": t["how"]}
    return {"below": lo, "above": hi, "x_alexnet": x_alexnet, "text": where, "trends": trends}


def _times(x: float) -> str:
    if x >= 10:
        return f"{x:,.0f}x"
    if x >= 1:
        return f"{x:.2g}x"
    return f"1/{1 / x:,.0f} of"
