"""Plain, frozen result objects passed along the chain; each has a JSON twin (``to_dict``).

model ──count──▶ Profile ──▶ ComputeEstimate ──▶ EnergyEstimate ──▶ CarbonEstimate;  check ──▶ BudgetReport.
Units are in the field names.  FLOPs count a multiply-add as 2 (``mlcost.units.FLOPS_PER_MAC``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mlcost.errors import InputError
from mlcost.units import FLOP_CONVENTION, FLOPS_PER_MAC

PROFILE_SCHEMA = "mlcost.profile/1"


def expect_schema(data: Any, schema: str, what: str) -> None:
    """Refuse JSON that is not WHAT (its "schema" key must be SCHEMA), in one line."""
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"not {what}: expected schema {schema!r}, found {found!r}")


class Displayable:
    """Shared by every result: shown as its terminal view in rich (``rich.print(result)``) and in a notebook
    (``_repr_html_``), and exported with ``to_pandas()`` (pandas imported only then).  mlcost.render.notebook."""

    __slots__ = ()

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from mlcost.render.notebook import rich_console

        return rich_console(self, console, options)

    def _repr_html_(self) -> str:
        from mlcost.render.notebook import html

        return html(self)

    def to_pandas(self, table: str | None = None) -> Any:
        """A pandas DataFrame (a Profile: TABLE "modules", "operators" or "unsupported")."""
        from mlcost.render.notebook import to_pandas

        return to_pandas(self, table)


@dataclass(frozen=True)
class InputSpec:
    """One positional (or keyword, when ``name`` is set) model input."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    name: str | None = None


@dataclass(frozen=True)
class ParamStats:
    total: int
    trainable: int
    by_dtype: dict[str, int] = field(default_factory=dict)  # dtype name -> element count
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)  # dtype name -> bytes
    active: int | None = None  # params on the active path per token (mixture of experts); None: all active


@dataclass(frozen=True)
class MemoryStats:
    weights_bytes: int
    activations_peak_bytes: int | None = None  # peak live tensor bytes during the forward (meta-tracked)
    training_peak_bytes: int | None = None  # weights + grads + optimizer states + saved activations (+ peak temp)
    # Breakdown of training_peak_bytes: {"weights_bytes", "gradients_bytes", "optimizer_states_bytes",
    # "saved_activations_bytes", ..., "optimizer": "adam", "precision": "mixed"}
    training: dict[str, Any] | None = None
    # serving / planning (costs.memory_plan): parameters at fp32/bf16/int8/int4; the module with the most
    # parameters of its own; a decoder's KV cache at --kv-tokens (details.kv_cache has per token)
    weights_by_dtype: dict[str, int] | None = None
    largest_layer: dict[str, Any] | None = None
    kv_cache_bytes: int | None = None
    per_gpu_training_peak_bytes: int | None = None  # --gpus/--shard (costs.sharding)
    sharding: dict[str, Any] | None = None
    fits: dict[str, Any] | None = None  # --chip: capacity, needed, headroom, fits


@dataclass(frozen=True)
class ModuleRow:
    """One node of the per-module tree; ``name`` is the dotted path ('' is the root)."""

    name: str
    type: str
    depth: int
    params: int
    flops: int  # forward
    macs: int  # forward
    flops_backward: int | None = None


@dataclass(frozen=True)
class OperatorRow:
    """Totals for one operator; rows sum to the profile's forward totals."""

    op: str
    calls: int
    flops: int
    macs: int
    flops_backward: int | None = None
    bytes: int | None = None  # forward bytes read + written by its calls (counting.bytes convention)


@dataclass(frozen=True)
class UnsupportedOp:
    """An operator no formula covers: listed, never dropped silently."""

    op: str
    module: str
    count: int


@dataclass(frozen=True)
class Profile(Displayable):
    """What a model costs to run (and, with ``training``, to train one step)."""

    model: str
    format: str  # torch | torchscript | export | state_dict | onnx | safetensors | hf | gguf
    backend: str | None  # fvcore | torch | onnx | header (no graph: only tensors were read)
    params: ParamStats
    memory: MemoryStats
    flops_forward: int | None = None  # None: no graph to count (a checkpoint of tensors only)
    macs_forward: int | None = None
    flops_backward: int | None = None  # measured; None unless training was profiled
    macs_backward: int | None = None
    inputs: tuple[InputSpec, ...] = ()
    by_module: tuple[ModuleRow, ...] = ()
    by_operator: tuple[OperatorRow, ...] = ()
    unsupported_ops: tuple[UnsupportedOp, ...] = ()
    assumptions: tuple[str, ...] = ()
    conventions: dict[str, str] = field(default_factory=dict)  # e.g. {"attention": ..., "elementwise": ...}
    details: dict[str, Any] = field(default_factory=dict)  # format-specific extras (gguf metadata, moe, ...)
    training: bool = False
    # Every operator call with its FLOPs and bytes (counting.bytes.Call), forward then backward: what the
    # roofline is computed from.  Not in the JSON itself (the roofline object carries them).
    calls: tuple = field(default=(), compare=False, repr=False)
    roofline: dict[str, Any] | None = None  # costs.roofline.analyse(): present with --chip
    energy_model: dict[str, Any] | None = None  # costs.horowitz.estimate(): present with --energy-model horowitz

    @property
    def flops_training_step(self) -> int | None:
        if self.flops_forward is None or self.flops_backward is None:
            return None
        return self.flops_forward + self.flops_backward

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PROFILE_SCHEMA,
            "model": self.model,
            "format": self.format,
            "backend": self.backend,
            "inputs": [
                {"shape": list(i.shape), "dtype": i.dtype, **({"name": i.name} if i.name else {})} for i in self.inputs
            ],
            "conventions": {"flops_per_mac": FLOPS_PER_MAC, "flop": FLOP_CONVENTION, **self.conventions},
            "params": {
                "total": self.params.total,
                "trainable": self.params.trainable,
                "active": self.params.active,
                "by_dtype": dict(self.params.by_dtype),
                "bytes_by_dtype": dict(self.params.bytes_by_dtype),
            },
            "flops": {
                "forward": self.flops_forward,
                "backward": self.flops_backward,
                "training_step": self.flops_training_step,
            },
            "macs": {"forward": self.macs_forward, "backward": self.macs_backward},
            "memory": {
                "weights_bytes": self.memory.weights_bytes,
                "activations_peak_bytes": self.memory.activations_peak_bytes,
                "training_peak_bytes": self.memory.training_peak_bytes,
                "training": self.memory.training,
                "weights_by_dtype": self.memory.weights_by_dtype,
                "largest_layer": self.memory.largest_layer,
                "kv_cache_bytes": self.memory.kv_cache_bytes,
                "per_gpu_training_peak_bytes": self.memory.per_gpu_training_peak_bytes,
                "sharding": self.memory.sharding,
                "fits": self.memory.fits,
            },
            "training": self.training,
            "by_module": [asdict(r) for r in self.by_module],
            "by_operator": [asdict(r) for r in self.by_operator],
            "unsupported_ops": [asdict(r) for r in self.unsupported_ops],
            "assumptions": list(self.assumptions),
            "details": self.details,
            **({"roofline": self.roofline} if self.roofline is not None else {}),
            **({"energy_model": self.energy_model} if self.energy_model is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Read back what ``to_dict`` wrote (a ``mlcost profile --format json`` file)."""
        expect_schema(data, PROFILE_SCHEMA, "an mlcost profile")
        try:
            p, m = data["params"], data["memory"]
            return cls(
                model=data["model"],
                format=data["format"],
                backend=data.get("backend"),
                params=ParamStats(
                    total=int(p["total"]),
                    trainable=int(p["trainable"]),
                    by_dtype=dict(p.get("by_dtype") or {}),
                    bytes_by_dtype=dict(p.get("bytes_by_dtype") or {}),
                    active=p.get("active"),
                ),
                memory=MemoryStats(
                    weights_bytes=int(m["weights_bytes"]),
                    activations_peak_bytes=m.get("activations_peak_bytes"),
                    training_peak_bytes=m.get("training_peak_bytes"),
                    training=m.get("training"),
                    **{k: m.get(k) for k in ("weights_by_dtype", "largest_layer", "kv_cache_bytes",
                                             "per_gpu_training_peak_bytes", "sharding", "fits")},
                ),
                flops_forward=data["flops"]["forward"],
                macs_forward=data["macs"]["forward"],
                flops_backward=data["flops"].get("backward"),
                macs_backward=data["macs"].get("backward"),
                inputs=tuple(
                    InputSpec(tuple(i["shape"]), i.get("dtype", "float32"), i.get("name")) for i in data.get("inputs", [])
                ),
                by_module=tuple(_row(ModuleRow, r) for r in data.get("by_module", [])),
                by_operator=tuple(_row(OperatorRow, r) for r in data.get("by_operator", [])),
                unsupported_ops=tuple(_row(UnsupportedOp, r) for r in data.get("unsupported_ops", [])),
                assumptions=tuple(data.get("assumptions", [])),
                conventions={
                    k: v for k, v in (data.get("conventions") or {}).items() if k not in ("flops_per_mac", "flop")
                },
                details=dict(data.get("details") or {}),
                training=bool(data.get("training", False)),
                roofline=dict(data["roofline"]) if isinstance(data.get("roofline"), dict) else None,
                energy_model=dict(data["energy_model"]) if isinstance(data.get("energy_model"), dict) else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed mlcost profile: {type(exc).__name__}: {exc}") from None


def _row(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


# --- ComputeEstimate (mlcost compute) — owned by mlcost/costs/compute.py ---

COMPUTE_SCHEMA = "mlcost.compute/1"


@dataclass(frozen=True)
class AcceleratorUse:
    """The accelerator a compute estimate is timed on; ``peak_flops_per_s`` is per chip, dense."""

    name: str
    count: int
    precision: str
    peak_flops_per_s: float
    utilization: float  # model-FLOPs utilization (fraction of peak) used for the point estimate
    utilization_low: float
    utilization_high: float
    source: str = ""  # where the peak comes from (hardware.csv row source, or --peak-tflops)


@dataclass(frozen=True)
class ComputeEstimate(Displayable):
    """Training compute: total FLOPs (1 MAC = 2 FLOPs), pfs-days (FLOPs / 8.64e19) and accelerator-hours.

    ``gpu_hours`` is accelerator-hours summed over all chips (None without an accelerator);
    ``wall_hours`` is gpu_hours / count.  ``range`` holds low/high bounds: {"flops": [lo, hi],
    "pfs_days": [lo, hi], "gpu_hours": [lo, hi] | None, "utilization": [lo, hi] | None}.
    """

    method: str  # counting | params_tokens | hardware_time
    flops: int
    pfs_days: float
    gpu_hours: float | None = None
    wall_hours: float | None = None
    range: dict[str, Any] = field(default_factory=dict)
    accelerator: AcceleratorUse | None = None
    inputs: dict[str, Any] = field(default_factory=dict)  # what the method was given (units in the keys)
    breakdown: dict[str, Any] = field(default_factory=dict)  # the terms that sum to flops
    trend: dict[str, Any] = field(default_factory=dict)  # placement among AI-and-Compute results
    assumptions: tuple[str, ...] = ()
    model: str | None = None
    floor: dict[str, Any] | None = None  # costs.roofline.training_floor: the utilization-free lower bound

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": COMPUTE_SCHEMA,
            "method": self.method,
            "model": self.model,
            "flops": self.flops,
            "pfs_days": self.pfs_days,
            "gpu_hours": self.gpu_hours,
            "wall_hours": self.wall_hours,
            "range": self.range,
            "accelerator": asdict(self.accelerator) if self.accelerator else None,
            "inputs": self.inputs,
            "breakdown": self.breakdown,
            "trend": self.trend,
            "assumptions": list(self.assumptions),
            "conventions": {"flops_per_mac": FLOPS_PER_MAC, "flop": FLOP_CONVENTION, "pfs_day_flops": 8.64e19},
            **({"roofline_floor": self.floor} if self.floor is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComputeEstimate:
        """Read back what ``to_dict`` wrote (``mlcost compute --format json``)."""
        expect_schema(data, COMPUTE_SCHEMA, "an mlcost compute estimate")
        try:
            acc = data.get("accelerator")
            flops = data["flops"]
            if isinstance(flops, bool) or not isinstance(flops, (int, float)) or not flops >= 0:
                raise ValueError(f"flops must be a non-negative number, got {flops!r}")
            return cls(
                method=str(data["method"]),
                flops=int(flops),
                pfs_days=float(data["pfs_days"]),
                gpu_hours=None if data.get("gpu_hours") is None else float(data["gpu_hours"]),
                wall_hours=None if data.get("wall_hours") is None else float(data["wall_hours"]),
                range=dict(data.get("range") or {}),
                accelerator=_row(AcceleratorUse, acc) if acc else None,
                inputs=dict(data.get("inputs") or {}),
                breakdown=dict(data.get("breakdown") or {}),
                trend=dict(data.get("trend") or {}),
                assumptions=tuple(data.get("assumptions") or ()),
                model=data.get("model"),
                floor=dict(data["roofline_floor"]) if isinstance(data.get("roofline_floor"), dict) else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed mlcost compute estimate: {type(exc).__name__}: {exc}") from None


# --- EnergyEstimate, CarbonEstimate (mlcost carbon) — owned by mlcost/costs/energy.py, carbon.py ---

CARBON_SCHEMA = "mlcost.carbon/1"


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy of a job in kWh.  ``energy_kwh`` is at the facility (IT energy x PUE)."""

    method: str  # "gpu" | "power" | "energy" | "flops" | "strubell2019"
    energy_kwh: float
    energy_low_kwh: float
    energy_high_kwh: float
    it_energy_kwh: float  # before PUE (what codecarbon would meter at the machine)
    pue: float
    hours: float | None = None  # wall-clock hours of the job
    gpu: str | None = None
    count: int | None = None
    gpu_power_watts: float | None = None  # one accelerator's assumed average draw
    host_power_watts: float | None = None  # CPU + DRAM of the host(s), whole job
    total_power_watts: float | None = None  # whole job, before PUE
    gpu_hours: float | None = None  # accelerator-hours (count x hours)
    # Wall-clock hours at the ends of the range (only --flops varies them: utilization 0.50..0.25).
    hours_low: float | None = None
    hours_high: float | None = None
    flops: float | None = None
    utilization: float | None = None
    precision: str | None = None
    assumptions: tuple[str, ...] = ()
    # Each uncertain factor's {"low", "central", "high", "source"}: accelerator and host watts per accelerator,
    # wall-clock hours, PUE (mlcost.costs.energy); the energy range is the product of the lows / of the highs.
    factors: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CarbonEstimate(Displayable):
    """CO2e of a job in kg (lbs beside), its cost in USD, with ranges, equivalents and provenance."""

    energy: EnergyEstimate
    intensity: dict[str, Any]  # GridIntensity.to_dict(): value_g_per_kwh, region, resolved, source, year, notes
    co2e_kg: float
    co2e_low_kg: float
    co2e_high_kg: float
    cost_usd: float | None = None
    cost_low_usd: float | None = None
    cost_high_usd: float | None = None
    cost_source: str | None = None
    equivalents: tuple[dict[str, Any], ...] = ()  # {"name", "label", "co2e_lbs", "ratio"}
    assumptions: tuple[str, ...] = ()
    measured: tuple[dict[str, Any], ...] = ()  # ledger rows shown beside the estimate
    # Market-based CO2e beside the location-based figure (--market-intensity / --cfe): {"intensity_g_per_kwh",
    # "co2e_kg", "source"}; embodied (manufacturing) CO2e, reported apart (--embodied): {"co2e_kg",
    # "kg_per_accelerator_hour", "accelerator_hours", "source"}.
    market: dict[str, Any] | None = None
    embodied: dict[str, Any] | None = None

    @property
    def co2e_lbs(self) -> float:
        return self.co2e_kg * _LBS_PER_KG

    @property
    def method(self) -> str:
        return self.energy.method

    def measured_total(self) -> dict[str, Any] | None:
        """Sum of the measured ledger runs (None without --ledger): runs, duration_s, energy_kwh, co2e_kg."""
        if not self.measured:
            return None
        tot: dict[str, Any] = {"runs": len(self.measured), "duration_s": 0.0, "energy_kwh": 0.0, "co2e_kg": 0.0}
        for m in self.measured:
            for k in ("duration_s", "energy_kwh", "co2e_kg"):
                tot[k] += m.get(k) or 0.0  # a run codecarbon could not measure counts as 0 (its row says why)
        return tot

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CARBON_SCHEMA,
            "method": self.method,
            "energy_kwh": self.energy.energy_kwh,
            "co2e_kg": self.co2e_kg,
            "co2e_lbs": self.co2e_lbs,
            "cost_usd": self.cost_usd,
            "range": {
                "energy_kwh": {"low": self.energy.energy_low_kwh, "high": self.energy.energy_high_kwh},
                "co2e_kg": {"low": self.co2e_low_kg, "high": self.co2e_high_kg},
                "cost_usd": {"low": self.cost_low_usd, "high": self.cost_high_usd},
            },
            "intensity": dict(self.intensity),
            "factors": {**(self.energy.factors or {}), "intensity_g_per_kwh": {
                "low": self.intensity.get("low_g_per_kwh", self.intensity["value_g_per_kwh"]),
                "central": self.intensity["value_g_per_kwh"],
                "high": self.intensity.get("high_g_per_kwh", self.intensity["value_g_per_kwh"]),
                "source": self.intensity["source"]}},
            "market_based": self.market,
            "embodied": self.embodied,
            "energy": self.energy.to_dict(),
            "cost": {"usd": self.cost_usd, "source": self.cost_source},
            "equivalents": [dict(e) for e in self.equivalents],
            "assumptions": list(self.assumptions),
            "measured": [dict(m) for m in self.measured],
            "measured_total": self.measured_total(),
        }


_LBS_PER_KG = 2.20462262185  # mlcost.units.LBS_PER_KG (1 kg = 2.20462262185 lb)


# --- BudgetReport (mlcost check) — owned by mlcost/budgets.py ---

CHECK_SCHEMA = "mlcost.check/1"


@dataclass(frozen=True)
class BudgetRow:
    """One budget of one model.  ``kind`` "max": VALUE against the absolute LIMIT;
    "increase": VALUE against the BASELINE, LIMIT = baseline * (1 + max_increase).
    Values are in the metric's base unit (``unit``: params, FLOPs, MACs, bytes, pfs-days, kg CO2e)."""

    model: str
    budget: str  # the config key: "max_macs", "max_increase.macs"
    metric: str  # params | flops | macs | weights_bytes | activation_bytes | training_memory | pfs_days | co2e_kg
    kind: str  # max | increase
    unit: str
    value: float | int | None
    limit: float | int | None
    verdict: str  # pass | warn | fail | skip
    message: str
    baseline: float | int | None = None
    change: float | None = None  # (value - baseline) / baseline; None without a baseline
    max_increase: float | None = None  # the allowed fraction, "increase" rows only
    line: int | None = None  # the config line that sets this budget


@dataclass(frozen=True)
class BudgetReport(Displayable):
    """Every budget of every checked model; ``exceeded`` decides exit status 1 (the CLI's job)."""

    config: str  # the config file path as the user would see it
    rows: tuple[BudgetRow, ...]
    models: tuple[str, ...]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> metric -> value (base units)
    baseline: str | None = None  # "file:PATH" | "ref:REF" | None
    warn_at: float = 0.9
    notes: tuple[str, ...] = ()

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.rows if r.verdict == verdict)

    @property
    def exceeded(self) -> bool:
        return any(r.verdict == "fail" for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CHECK_SCHEMA,
            "ok": not self.exceeded,
            "config": self.config,
            "baseline": self.baseline,
            "warn_at": self.warn_at,
            "summary": {v: self.count(v) for v in ("fail", "warn", "pass", "skip")},
            "models": list(self.models),
            "values": self.values,
            "rows": [asdict(r) for r in self.rows],
            "notes": list(self.notes),
        }



# --- InferenceEstimate (mlcost infer) — owned by mlcost/costs/serving.py ---

INFER_SCHEMA = "mlcost.infer/1"


@dataclass(frozen=True)
class InferenceEstimate(Displayable):
    """Serving floors of a decoder on one chip: prefill, decode per token, KV cache, memory, per-1M-token costs.

    Seconds are roofline floors (lower bounds); bytes, FLOPs (1 MAC = 2 FLOPs), tokens.  ``prefill`` and
    ``decode`` are costs.serving's phase dicts; ``per_million`` holds seconds, energy_kwh, co2e_g, cost_usd.
    """

    model: str
    chip: dict[str, Any]
    batch: int
    prompt_tokens: int
    new_tokens: int
    prefill: dict[str, Any]
    decode: dict[str, Any]
    kv_cache_bytes: int
    kv_cache: dict[str, Any]
    memory: dict[str, Any]
    time_to_first_token_s: float
    seconds_per_output_token: float
    tokens_per_second: float | None
    request_seconds: float
    per_million: dict[str, Any]
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        pm = self.per_million
        return {
            "schema": INFER_SCHEMA,
            "model": self.model,
            "chip": self.chip,
            "batch": self.batch,
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "prefill": self.prefill,
            "decode": self.decode,
            "kv_cache_bytes": self.kv_cache_bytes,
            "kv_cache": self.kv_cache,
            "memory": self.memory,
            "fits": self.memory.get("fits"),
            "time_to_first_token_s": self.time_to_first_token_s,
            "seconds_per_output_token": self.seconds_per_output_token,
            "tokens_per_second": self.tokens_per_second,
            "request_seconds": self.request_seconds,
            "seconds_per_million_tokens": pm.get("seconds"),
            "energy_kwh_per_million_tokens": pm.get("energy_kwh"),
            "co2e_g_per_million_tokens": pm.get("co2e_g"),
            "cost_usd_per_million_tokens": pm.get("cost_usd"),
            "per_million": {k: v for k, v in pm.items() if k != "assumptions"},
            "assumptions": list(self.assumptions),
            "conventions": {"flops_per_mac": FLOPS_PER_MAC, "flop": FLOP_CONVENTION},
        }
