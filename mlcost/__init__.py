"""mlcost: model cost and carbon accounting.

Imports nothing heavy: the public API below is resolved lazily on first use, so
``import mlcost`` (and ``mlcost --help``) never pays for torch, fvcore or codecarbon.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"
_LAZY = {
    "profile": "mlcost.profiling:profile",
    "infer": "mlcost.costs.serving:estimate",
    "InferenceEstimate": "mlcost.results:InferenceEstimate",
    "compute": "mlcost.api:compute",
    "carbon": "mlcost.api:carbon",
    "check": "mlcost.api:check",
    "Profile": "mlcost.results:Profile",
    "ComputeEstimate": "mlcost.results:ComputeEstimate",
    "CarbonEstimate": "mlcost.results:CarbonEstimate",
    "BudgetReport": "mlcost.results:BudgetReport",
    "MlcostError": "mlcost.errors:MlcostError",
    "tracking": "mlcost.tracking:tracking",
    "tracked": "mlcost.tracking:tracked",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mlcost' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
