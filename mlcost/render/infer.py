"""Render an InferenceEstimate (mlcost infer): a table for people, JSON (schema mlcost.infer/1), Markdown."""
from __future__ import annotations

import io

from mlcost.render import to_json
from mlcost.render.roofline import format_seconds
from mlcost.results import InferenceEstimate
from mlcost.units import format_bytes, format_si

FORMATS = ("table", "json", "markdown")


def render(est: InferenceEstimate, fmt: str = "table", *, width: int = 80) -> str:
    if fmt == "json":
        return to_json(est.to_dict())
    if fmt == "markdown":
        return render_markdown(est)
    return render_table(est, width=width)


def _phase(p: dict, per: str = "") -> str:
    return (f"{format_seconds(p.get('seconds_floor', p.get('seconds_per_token_floor')))}{per}, "
            f"{p['bound']}-bound, {format_si(p.get('flops', p.get('flops_per_step')), 'FLOPs')}, "
            f"{format_bytes(p.get('bytes', p.get('bytes_per_step')))}")


def _money(v: float | None) -> str:
    return "—" if v is None else f"${v:,.3g}" if v < 1000 else f"${v:,.0f}"


def rows(est: InferenceEstimate) -> list[tuple[str, str]]:
    m, pm = est.memory, est.per_million
    fits = {True: "fits", False: "does NOT fit", None: "chip memory unknown"}[m.get("fits")]
    cap = f" of {format_bytes(m['chip_memory_bytes'])}" if m.get("chip_memory_bytes") else ""
    return [
        ("model", est.model),
        ("chip", f"{est.chip['name']} ({est.chip['bandwidth_bytes_per_s'] / 1e9:g} GB/s)"),
        ("request", f"batch {est.batch} x ({est.prompt_tokens} prompt + {est.new_tokens} new tokens)"),
        ("prefill", _phase(est.prefill)),
        ("decode", _phase(est.decode, "/token")),
        ("time to 1st token", format_seconds(est.time_to_first_token_s)),
        ("per output token", format_seconds(est.seconds_per_output_token)),
        ("tokens/s", "—" if est.tokens_per_second is None else f"{est.tokens_per_second:,.4g} (batch {est.batch})"),
        ("KV cache", f"{format_bytes(est.kv_cache_bytes)} at {est.prompt_tokens + est.new_tokens} tokens"),
        ("memory peak", f"{format_bytes(m['peak_bytes'])}{cap}: {fits}"),
        ("per 1M tokens", f"{pm['energy_kwh']:.3g} kWh, {pm['co2e_g']:,.4g} gCO2e, {_money(pm.get('cost_usd'))}"),
    ]


def render_table(est: InferenceEstimate, *, width: int = 80) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False, color_system=None, highlight=False, soft_wrap=False)
    t = Table(show_header=False, box=box.ROUNDED, title="mlcost infer (roofline floors: lower bounds)",
              title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows(est):
        t.add_row(k, v)
    con.print(t)
    for a in est.assumptions:
        con.print(f"assumption: {a}", markup=False)
    return buf.getvalue()


def render_markdown(est: InferenceEstimate) -> str:
    lines = [f"## mlcost infer: `{est.model}` on {est.chip['name']}", "", "| | |", "|---|---|"]
    lines += ["| **" + k + "** | " + v.replace("|", "\\|") + " |" for k, v in rows(est)]
    lines += ["", "### Assumptions", ""] + [f"- {a}" for a in est.assumptions]
    return "\n".join(lines) + "\n"
