"""Profile (mlcost profile) and its rows: what a model costs to run, and with training one step."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlcost.errors import InputError
from mlcost.results._base import Displayable, _row, expect_schema
from mlcost.units import FLOP_CONVENTION, FLOPS_PER_MAC

PROFILE_SCHEMA = "mlcost.profile/1"


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
    # kernel workspaces in the peaks (counting.workspace): kind none|cpu, what is included ("tensors only" under none) and what is not,
    # the forward's peak of this plan's kernels' tensors without their workspaces, and the operators with no rule
    workspace: dict[str, Any] | None = None


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
                "workspace": self.memory.workspace,
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
                                             "per_gpu_training_peak_bytes", "sharding", "fits", "workspace")},
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
