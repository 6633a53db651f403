"""BudgetRow and BudgetReport (mlcost check), owned by mlcost/budgets.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlcost.results._base import Displayable

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
