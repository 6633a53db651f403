"""InferenceEstimate (mlcost infer), owned by mlcost/costs/serving.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlcost.results._base import Displayable
from mlcost.units import FLOP_CONVENTION, FLOPS_PER_MAC

INFER_SCHEMA = "mlcost.infer/1"


@dataclass(frozen=True)
class InferenceEstimate(Displayable):
    """Serving floors of a decoder on one chip: prefill, decode per token, KV cache, memory, per-1M-token costs.

    Seconds are roofline floors (lower bounds); bytes, FLOPs (1 MAC = 2 FLOPs), tokens.  ``prefill`` and
    ``decode`` are costs.serving's phase dicts; ``per_million`` holds seconds, energy_kwh, co2e_g, cost_usd.
    ``unsupported_ops``: per phase ("prefill": the prompt's forward, "decode": one step's), the operators no
    FLOP formula covers (results.profile.UnsupportedOp rows: op, module, calls in that forward), not counted.
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
    unsupported_ops: dict[str, tuple] = field(default_factory=lambda: {"prefill": (), "decode": ()})

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
            "unsupported_ops": {phase: [asdict(u) for u in rows] for phase, rows in self.unsupported_ops.items()},
            "assumptions": list(self.assumptions),
            "conventions": {"flops_per_mac": FLOPS_PER_MAC, "flop": FLOP_CONVENTION},
        }
