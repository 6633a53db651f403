"""Results in a notebook: the same views the terminal shows (``__rich_console__``, ``_repr_html_``) and
``to_pandas()`` frames.  pandas is imported only here, only when asked for."""
from __future__ import annotations

import io
from typing import Any

HTML_WIDTH = 100  # a notebook cell is wider than a terminal; the tables are measured to this
_PRE = ('<pre style="white-space:pre;overflow-x:auto;line-height:1.25;'
        'font-family:Menlo,\'DejaVu Sans Mono\',consolas,\'Courier New\',monospace">{code}</pre>')


def parts(result: Any, width: int) -> list:
    """The rich renderables of RESULT's terminal view, measured to WIDTH."""
    from mlcost.results import BudgetReport, CarbonEstimate, ComputeEstimate, InferenceEstimate, Profile

    if isinstance(result, Profile):
        from mlcost.render.profile import parts as view
    elif isinstance(result, InferenceEstimate):
        from mlcost.render.infer import parts as view
    elif isinstance(result, ComputeEstimate):
        from mlcost.render.compute import parts as view
    elif isinstance(result, CarbonEstimate):
        from mlcost.render.carbon import parts as view
    elif isinstance(result, BudgetReport):
        from mlcost.render.budgets import parts as view
    else:  # pragma: no cover - every result class is listed above
        raise TypeError(f"no view for {type(result).__name__}")
    return [p for p in view(result, width) if p is not None]


def rich_console(result: Any, console: Any, options: Any):
    """What ``rich.print(result)`` shows: the terminal view at the console's width."""
    from rich.console import Group

    from rich.text import Text

    items: list = []
    for part in parts(result, options.max_width):
        items += [Text("")] if items else []
        items.append(part)
    yield Group(*items)


def html(result: Any, width: int = HTML_WIDTH) -> str:
    """The terminal view as HTML (rich's export with inline styles), for Jupyter's ``_repr_html_``."""
    from rich.console import Console

    con = Console(file=io.StringIO(), record=True, width=width, force_terminal=True, color_system="truecolor",
                  force_jupyter=False, legacy_windows=False, highlight=False, markup=False, emoji=False)
    for i, part in enumerate(parts(result, width)):
        if i:
            con.print()
        con.print(part)
    return con.export_html(inline_styles=True, code_format=_PRE)


def _pandas():
    from mlcost.errors import import_optional

    return import_optional("pandas", "pandas", "to_pandas()")


def to_pandas(result: Any, table: str | None = None):
    """A pandas DataFrame of RESULT.  Profile: one row per module (TABLE "modules", the default),
    operator ("operators") or unsupported operator ("unsupported"); BudgetReport: one row per budget;
    ComputeEstimate and CarbonEstimate: one row of their figures (base units in the column names)."""
    from dataclasses import asdict

    from mlcost.errors import UsageError
    from mlcost.results import BudgetReport, CarbonEstimate, ComputeEstimate, InferenceEstimate, Profile

    pd = _pandas()
    if isinstance(result, Profile):
        tables = {"modules": result.by_module, "operators": result.by_operator, "unsupported": result.unsupported_ops}
        name = table or "modules"
        if name not in tables:
            raise UsageError(f"unknown table {name!r}; choose one of {', '.join(tables)}")
        from mlcost.results import ModuleRow, OperatorRow, UnsupportedOp

        kind = {"modules": ModuleRow, "operators": OperatorRow, "unsupported": UnsupportedOp}[name]
        from dataclasses import fields

        return pd.DataFrame([asdict(r) for r in tables[name]], columns=[f.name for f in fields(kind)])
    if table is not None:
        raise UsageError(f"{type(result).__name__}.to_pandas() has one table; table= is for a Profile")
    if isinstance(result, BudgetReport):
        from dataclasses import fields

        from mlcost.results import BudgetRow

        return pd.DataFrame([asdict(r) for r in result.rows], columns=[f.name for f in fields(BudgetRow)])
    if isinstance(result, ComputeEstimate):
        acc = result.accelerator
        row = {"method": result.method, "model": result.model, "flops": result.flops, "pfs_days": result.pfs_days,
               "gpu_hours": result.gpu_hours, "wall_hours": result.wall_hours,
               "accelerator": acc.name if acc else None, "count": acc.count if acc else None,
               "precision": acc.precision if acc else None, "utilization": acc.utilization if acc else None}
        for key, bounds in (result.range or {}).items():
            if bounds:
                row[f"{key}_low"], row[f"{key}_high"] = bounds
        return pd.DataFrame([row])
    if isinstance(result, CarbonEstimate):
        e, i = result.energy, result.intensity
        row = {"method": result.method, "gpu": e.gpu, "count": e.count, "hours": e.hours, "pue": e.pue,
               "energy_kwh": e.energy_kwh, "energy_low_kwh": e.energy_low_kwh, "energy_high_kwh": e.energy_high_kwh,
               "intensity_g_per_kwh": i.get("value_g_per_kwh"), "region": i.get("resolved"),
               "co2e_kg": result.co2e_kg, "co2e_low_kg": result.co2e_low_kg, "co2e_high_kg": result.co2e_high_kg,
               "cost_usd": result.cost_usd, "cost_low_usd": result.cost_low_usd, "cost_high_usd": result.cost_high_usd}
        return pd.DataFrame([row])
    if isinstance(result, InferenceEstimate):
        pm = result.per_million
        row = {"model": result.model, "chip": result.chip.get("name"), "batch": result.batch,
               "prompt_tokens": result.prompt_tokens, "new_tokens": result.new_tokens,
               "time_to_first_token_s": result.time_to_first_token_s,
               "seconds_per_output_token": result.seconds_per_output_token,
               "tokens_per_second": result.tokens_per_second, "kv_cache_bytes": result.kv_cache_bytes,
               "memory_peak_bytes": result.memory.get("peak_bytes"),
               **{f"per_million_{k}": v for k, v in pm.items()}}
        return pd.DataFrame([row])
    raise TypeError(f"no frame for {type(result).__name__}")  # pragma: no cover
