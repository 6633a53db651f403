"""Plain, frozen result objects passed along the chain; each has a JSON twin (``to_dict``).

model ──count──▶ Profile ──▶ ComputeEstimate ──▶ EnergyEstimate ──▶ CarbonEstimate;  check ──▶ BudgetReport.
Units are in the field names.  FLOPs count a multiply-add as 2 (``mlcost.units.FLOPS_PER_MAC``).
One module per command's result (profile, compute, carbon, check, infer); import them from here.  Each is
loaded on first use (``from mlcost.results import ComputeEstimate`` loads results/compute.py alone), so a
command pays only for the dataclasses it returns.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module under mlcost.results that defines it
_WHERE = {
    "Displayable": "_base", "expect_schema": "_base",
    "CARBON_SCHEMA": "carbon", "CarbonEstimate": "carbon", "EnergyEstimate": "carbon",
    "CHECK_SCHEMA": "check", "BudgetReport": "check", "BudgetRow": "check",
    "COMPUTE_SCHEMA": "compute", "AcceleratorUse": "compute", "ComputeEstimate": "compute",
    "INFER_SCHEMA": "infer", "InferenceEstimate": "infer",
    "PROFILE_SCHEMA": "profile", "InputSpec": "profile", "MemoryStats": "profile", "ModuleRow": "profile",
    "OperatorRow": "profile", "ParamStats": "profile", "Profile": "profile", "UnsupportedOp": "profile",
}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # what type checkers and editors read; at run time __getattr__ below loads the same names
    from mlcost.results._base import Displayable, expect_schema
    from mlcost.results.carbon import CARBON_SCHEMA, CarbonEstimate, EnergyEstimate
    from mlcost.results.check import CHECK_SCHEMA, BudgetReport, BudgetRow
    from mlcost.results.compute import COMPUTE_SCHEMA, AcceleratorUse, ComputeEstimate
    from mlcost.results.infer import INFER_SCHEMA, InferenceEstimate
    from mlcost.results.profile import (PROFILE_SCHEMA, InputSpec, MemoryStats, ModuleRow, OperatorRow, ParamStats,
                                        Profile, UnsupportedOp)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'mlcost.results' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
