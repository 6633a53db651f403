"""ComputeEstimate (mlcost compute), owned by mlcost/costs/compute.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlcost.errors import InputError
from mlcost.results._base import Displayable, _row, expect_schema
from mlcost.units import FLOP_CONVENTION, FLOPS_PER_MAC

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
        except KeyError as exc:  # 'KeyError: flops' named Python's exception, not what the file lacks
            raise InputError(f"malformed mlcost compute estimate: no {exc.args[0]!r} key") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"malformed mlcost compute estimate: {type(exc).__name__}: {exc}") from None
