"""EnergyEstimate and CarbonEstimate (mlcost carbon), owned by mlcost/costs/energy.py and carbon.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlcost.results._base import Displayable
from mlcost.units import LBS_PER_KG

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
        return self.co2e_kg * LBS_PER_KG

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
