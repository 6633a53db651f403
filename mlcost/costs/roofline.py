"""Time floors from a roofline: every operator call's FLOPs and bytes against one chip's peaks.

For a call with F FLOPs (1 MAC = 2 FLOPs) moving B bytes on a chip with peak P FLOP/s and memory
bandwidth W bytes/s (reference_data/hardware.csv)::

    seconds_floor = max(F / P, B / W)        bound = "compute" if F / P >= B / W else "memory"

(Williams, Waterman & Patterson, "Roofline", CACM 52(4), 2009).  The call's arithmetic intensity is
F / B FLOPs per byte; the chip's ridge point is P / W: calls above it are compute-bound.  The model's
floor is the sum over calls (calls run one after another, none overlaps another), so it is a lower bound
on a real run's time at the bytes' convention (counting.bytes: no reuse across operators, itself an upper
bound on traffic).  MACs run at the tensor-core peak of the call's dtype; the other FLOPs (softmax,
norms, activations) at the chip's FP32 vector peak, since they do not run on tensor cores.

Units: seconds, FLOPs, bytes, FLOP/s, bytes/s.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from mlcost.counting.bytes import Call, intensity
from mlcost.errors import UsageError

# torch / ONNX dtype name -> hardware.csv precision column
DTYPE_PRECISION = {"float32": "fp32", "float64": "fp32", "bfloat16": "bf16", "float16": "fp16",
                   "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "float8_e4m3fnuz": "fp8", "float8_e5m2fnuz": "fp8",
                   "int8": "int8", "uint8": "int8"}
DOMINANT_CALLS = 5
CONVENTION = ("seconds_floor = max(FLOPs / peak FLOP/s, bytes / memory bandwidth) per operator call (Williams et al., "
              "Roofline, CACM 2009), summed over calls (no overlap between calls): a lower bound on time; MACs at the "
              "dense tensor peak of the call's dtype, other FLOPs at the FP32 vector peak; bytes as counted per call "
              "(no cache reuse across operators)")


class Chip:
    """One accelerator's peaks as the roofline uses them; built from a refdata.Accelerator."""

    def __init__(self, acc: Any):
        if not acc.bandwidth_gb_s:
            raise UsageError(f"{acc.name} has no memory bandwidth in reference_data/hardware.csv, so no roofline")
        if not acc.peak_tflops:
            raise UsageError(f"{acc.name} has no published peak FLOP/s in reference_data/hardware.csv, so no roofline")
        self.acc = acc
        self.name = acc.name
        self.bandwidth = acc.bandwidth_gb_s * 1e9
        self.notes: list[str] = []
        self._peaks: dict[str, tuple[float, str]] = {}

    def peak(self, dtype: str) -> tuple[float, str]:
        """(FLOP/s, precision) for MACs in DTYPE: its own column, else the chip's default precision (noted)."""
        if dtype not in self._peaks:
            want = DTYPE_PRECISION.get(dtype, "fp32")
            if want in self.acc.peak_tflops:
                self._peaks[dtype] = (self.acc.peak_tflops[want] * 1e12, want)
            else:
                flops, used = self.acc.peak_flops(None)
                self._peaks[dtype] = (flops, used)
                self.notes.append(f"{self.name} has no published {want} peak: {dtype} MACs timed at its "
                                  f"{used} peak ({flops / 1e12:g} TFLOP/s)")
        return self._peaks[dtype]

    @property
    def vector_peak(self) -> float:
        """FLOP/s for non-MAC FLOPs: the FP32 (CUDA-core) peak, else the chip's default peak."""
        tf = self.acc.peak_tflops.get("fp32")
        return tf * 1e12 if tf else self.acc.peak_flops(None)[0]

    def times(self, c: Call) -> tuple[float, float]:
        """(compute seconds, memory seconds) of one call."""
        compute = 0.0
        if c.macs:
            compute += 2 * c.macs / self.peak(c.dtype)[0]
        other = c.flops - 2 * c.macs
        if other > 0:
            compute += other / self.vector_peak
        return compute, c.bytes / self.bandwidth

    def describe(self, dtypes: Iterable[str]) -> dict[str, Any]:
        peaks = {}
        for d in sorted(set(dtypes)):
            flops, used = self.peak(d)
            peaks[used] = flops
        main = max(peaks.values()) if peaks else self.acc.peak_flops(None)[0]
        return {"name": self.name, "peak_flops_per_s": peaks, "vector_peak_flops_per_s": self.vector_peak,
                "bandwidth_bytes_per_s": self.bandwidth, "ridge_flops_per_byte": main / self.bandwidth,
                "source": self.acc.source}


def resolve(chip: str | Any) -> Chip:
    """A Chip from a name (refdata.find_accelerator: 'h100', 'A100-80GB') or an Accelerator."""
    if isinstance(chip, Chip):
        return chip
    if isinstance(chip, str):
        from mlcost.refdata import find_accelerator

        chip = find_accelerator(chip)
    return Chip(chip)


def call_row(c: Call, chip: Chip) -> dict[str, Any]:
    """One call's JSON row: its FLOPs and bytes, intensity, bound and seconds_floor on CHIP."""
    compute, memory = chip.times(c)
    return {"op": c.op, "module": c.module, "phase": c.phase, "dtype": c.dtype, "flops": c.flops, "macs": c.macs,
            "bytes_read": c.bytes_read, "bytes_written": c.bytes_written, "bytes": c.bytes,
            "intensity": intensity(c.flops, c.bytes), "bound": "compute" if compute >= memory and c.flops else "memory",
            "seconds_floor": max(compute, memory)}


def _group(rows: list[dict[str, Any]], key) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        for k in key(r):
            g = groups.setdefault(k, {"calls": 0, "flops": 0, "bytes": 0, "seconds_floor": 0.0,
                                      "_by_bound": defaultdict(float)})
            g["calls"] += 1
            g["flops"] += r["flops"]
            g["bytes"] += r["bytes"]
            g["seconds_floor"] += r["seconds_floor"]
            g["_by_bound"][r["bound"]] += r["seconds_floor"]
    for g in groups.values():
        by = g.pop("_by_bound")
        g["bound"] = max(("memory", "compute"), key=lambda b: by.get(b, 0.0))  # the one that holds most of its time
        g["compute_bound_seconds"] = by.get("compute", 0.0)
        g["intensity"] = intensity(g["flops"], g["bytes"])
    return groups


def _ancestors(module: str) -> list[str]:
    parts = module.split(".") if module else []
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def analyse(calls: Iterable[Call], chip: str | Any, *, keep_calls: bool = True) -> dict[str, Any]:
    """The ``roofline`` object of a profile: per call, per operator, per module and in total on CHIP."""
    chip = resolve(chip)
    calls = [c for c in calls if c.flops or c.bytes]
    rows = [call_row(c, chip) for c in calls]
    total = sum(r["seconds_floor"] for r in rows)
    flops = sum(r["flops"] for r in rows)
    nbytes = sum(r["bytes"] for r in rows)
    compute_s = sum(r["seconds_floor"] for r in rows if r["bound"] == "compute")
    ops = _group(rows, lambda r: [r["op"] + (" (backward)" if r["phase"] == "backward" else "")])
    mods = _group(rows, lambda r: _ancestors(r["module"]))
    phases = _group(rows, lambda r: [r["phase"]])

    def share(s: float) -> float:
        return s / total if total else 0.0

    by_operator = [{"op": k, **g, "share": share(g["seconds_floor"])}
                   for k, g in sorted(ops.items(), key=lambda kv: -kv[1]["seconds_floor"])]
    by_module = [{"module": k, "depth": k.count(".") + 1 if k else 0, **g, "share": share(g["seconds_floor"])}
                 for k, g in mods.items()]
    dominant = sorted(range(len(rows)), key=lambda i: -rows[i]["seconds_floor"])[:DOMINANT_CALLS]
    out: dict[str, Any] = {
        "chip": chip.describe(c.dtype for c in calls if c.macs),
        "convention": CONVENTION,
        "seconds_floor": total,
        "flops": flops,
        "bytes": nbytes,
        "intensity": intensity(flops, nbytes),
        "compute_bound_share": share(compute_s),
        "memory_bound_share": share(total - compute_s) if total else 0.0,
        "phases": {k: {"seconds_floor": g["seconds_floor"], "flops": g["flops"], "bytes": g["bytes"], "bound": g["bound"]}
                   for k, g in phases.items()},
        "dominant": [{"index": i, "op": rows[i]["op"], "module": rows[i]["module"], "phase": rows[i]["phase"],
                      "seconds_floor": rows[i]["seconds_floor"], "share": share(rows[i]["seconds_floor"]),
                      "bound": rows[i]["bound"]} for i in dominant],
        "by_operator": by_operator,
        "by_module": by_module,
        "notes": list(dict.fromkeys(chip.notes)),
    }
    if keep_calls:
        out["calls"] = rows
    return out


def calls_from_json(rows: Iterable[dict[str, Any]]) -> list[Call]:
    """Calls back from a profile JSON's roofline.calls (to time the same profile on another chip)."""
    out = []
    for r in rows:
        try:
            out.append(Call(str(r["op"]), str(r.get("module", "")), str(r.get("phase", "forward")), int(r.get("macs", 0)),
                            int(r["flops"]), int(r["bytes_read"]), int(r["bytes_written"]), str(r.get("dtype", "float32"))))
        except (KeyError, TypeError, ValueError) as exc:
            from mlcost.errors import InputError

            raise InputError(f"malformed roofline call in the profile: {type(exc).__name__}: {exc}") from None
    return out


def with_roofline(profile: Any, chip: str | Any) -> Any:
    """PROFILE with its ``roofline`` on CHIP (and the assumptions that go with it)."""
    from dataclasses import replace

    if not profile.calls:
        note = (f"--chip {getattr(chip, 'name', chip)}: no roofline, because this {profile.format} profile has no "
                "operator graph (only tensors were read)")
        return replace(profile, assumptions=tuple(profile.assumptions) + (note,))
    roof = analyse(profile.calls, chip)
    c = roof["chip"]
    notes = [f"roofline on {c['name']}: {c['bandwidth_bytes_per_s'] / 1e9:g} GB/s, peaks "
             + ", ".join(f"{p} {v / 1e12:g} TFLOP/s" for p, v in c["peak_flops_per_s"].items())
             + " (reference_data/hardware.csv, dense); seconds_floor is a lower bound (no overlap, no reuse across "
             "operators)", *roof["notes"]]
    if profile.backend == "fvcore":
        notes.append("roofline calls come from the torch dispatch run beside fvcore's count (same formulas)")
    return replace(profile, roofline=roof, assumptions=tuple(profile.assumptions) + tuple(notes))


def training_floor(profile: Any, chip: str | Any, *, steps: float, count: int = 1) -> dict[str, Any] | None:
    """The utilization-free lower bound on training time: the profiled step's floor (forward + backward calls,
    from its ``roofline.calls``) on CHIP x STEPS, spread perfectly over COUNT chips.  None when the profile holds
    no backward calls (profile it with --training --chip)."""
    roof = profile.roofline or {}
    calls = calls_from_json(roof.get("calls") or []) if not profile.calls else list(profile.calls)
    if not any(c.phase == "backward" for c in calls):
        return None
    step = analyse(calls, chip, keep_calls=False)
    total = step["seconds_floor"] * steps
    return {"chip": step["chip"]["name"], "step_seconds_floor": step["seconds_floor"],
            "forward_seconds_floor": step["phases"].get("forward", {}).get("seconds_floor", 0.0),
            "backward_seconds_floor": step["phases"]["backward"]["seconds_floor"], "steps": steps,
            "gpu_hours_floor": total / 3600, "wall_hours_floor": total / 3600 / count,
            "memory_bound_share": step["memory_bound_share"], "precisions": list(step["chip"]["peak_flops_per_s"]),
            "convention": "utilization-free lower bound: the profiled training step's roofline floor (forward + "
                          "backward calls, max(FLOPs/peak, bytes/bandwidth) each) x steps, perfectly spread over "
                          "the chips; the utilization method above stays the estimate (AI and Compute convention)"}
