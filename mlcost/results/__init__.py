"""Plain, frozen result objects passed along the chain; each has a JSON twin (``to_dict``).

model ──count──▶ Profile ──▶ ComputeEstimate ──▶ EnergyEstimate ──▶ CarbonEstimate;  check ──▶ BudgetReport.
Units are in the field names.  FLOPs count a multiply-add as 2 (``mlcost.units.FLOPS_PER_MAC``).
One module per command's result (profile, compute, carbon, check, infer); import them from here.
"""
from mlcost.results._base import Displayable, expect_schema
from mlcost.results.carbon import CARBON_SCHEMA, CarbonEstimate, EnergyEstimate
from mlcost.results.check import CHECK_SCHEMA, BudgetReport, BudgetRow
from mlcost.results.compute import COMPUTE_SCHEMA, AcceleratorUse, ComputeEstimate
from mlcost.results.infer import INFER_SCHEMA, InferenceEstimate
from mlcost.results.profile import (PROFILE_SCHEMA, InputSpec, MemoryStats, ModuleRow, OperatorRow, ParamStats,
                                    Profile, UnsupportedOp)

__all__ = [
    "AcceleratorUse", "BudgetReport", "BudgetRow", "CARBON_SCHEMA", "CHECK_SCHEMA", "COMPUTE_SCHEMA", "CarbonEstimate",
    "ComputeEstimate", "Displayable", "EnergyEstimate", "INFER_SCHEMA", "InferenceEstimate", "InputSpec",
    "MemoryStats", "ModuleRow", "OperatorRow", "PROFILE_SCHEMA", "ParamStats", "Profile", "UnsupportedOp",
    "expect_schema",
]
