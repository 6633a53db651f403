"""Render an InferenceEstimate (mlcost infer): a table for people, JSON (schema mlcost.infer/1), Markdown."""
from __future__ import annotations

from mlcost.render.roofline import format_seconds
from mlcost.results import InferenceEstimate
from mlcost.units import format_bytes, format_number, format_si

FORMATS = ("table", "json", "markdown")


def render(est: InferenceEstimate, fmt: str = "table", *, width: int | None = None, explain: bool = False,
           quiet: bool = False) -> str:
    """FMT is table, json or markdown; WIDTH (default: the terminal's), EXPLAIN and QUIET shape the table."""
    from mlcost.render import view

    return view(est, fmt, markdown=render_markdown, headline=headline, table=render_table, width=width,
                explain=explain, quiet=quiet)


def headline(est: InferenceEstimate) -> str:
    """One line: time to first token, per output token, tokens/s, per 1M tokens."""
    pm = est.per_million
    tps = "" if est.tokens_per_second is None else f", {format_number(est.tokens_per_second)} tokens/s"
    return (f"{est.model} on {est.chip['name']}: first token {format_seconds(est.time_to_first_token_s)}, "
            f"{format_seconds(est.seconds_per_output_token)}/token{tps}; per 1M tokens "
            f"{pm['energy_kwh']:.3g} kWh, {_money(pm.get('cost_usd'))} (roofline floors)")


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
        ("tokens/s", "—" if est.tokens_per_second is None else f"{format_number(est.tokens_per_second)} (batch {est.batch})"),
        ("KV cache", f"{format_bytes(est.kv_cache_bytes)} at {est.prompt_tokens + est.new_tokens} tokens"),
        ("memory peak", f"{format_bytes(m['peak_bytes'])}{cap}: {fits}"),
        ("per 1M tokens", f"{pm['energy_kwh']:.3g} kWh, {format_number(pm['co2e_g'])} gCO2e, {_money(pm.get('cost_usd'))}"),
        ("unsupported ops", unsupported(est)),
    ]


def unsupported(est: InferenceEstimate) -> str:
    """The operators with no FLOP formula (not counted), by phase: 'none', or 'OP xN in MODULE, ...'."""
    def listed(rows) -> str:
        return ", ".join(f"{u.op} x{u.count} in {u.module or '(root)'}" for u in rows)

    pre, dec = est.unsupported_ops.get("prefill", ()), est.unsupported_ops.get("decode", ())
    if not pre and not dec:
        return "none"
    if tuple(pre) == tuple(dec):
        return f"{listed(pre)} (not counted; per forward, prefill and each decode step)"
    return "; ".join(f"{name}: {listed(rows) or 'none'}" for name, rows in (("prefill", pre), ("decode step", dec))) \
        + " (not counted)"


def parts(est: InferenceEstimate, width: int = 80, *, explain: bool = False) -> list:
    """The table view as rich renderables measured to WIDTH."""
    from mlcost.render import layout
    from mlcost.render.compute import assumption_notes

    return [layout.facts(rows(est), title="mlcost infer (roofline floors: lower bounds)"),
            *assumption_notes(est.assumptions, explain, width)]


def render_table(est: InferenceEstimate, *, width: int = 80, explain: bool = False) -> str:
    from mlcost.render import layout

    return layout.render_text(parts(est, width, explain=explain), width)


def render_markdown(est: InferenceEstimate) -> str:
    from mlcost.render import markdown as md

    lines = [f"## mlcost infer: {md.code(est.model)} on {md.escape(est.chip['name'])}", ""]
    lines += md.table(["", ""], [[f"**{k}**", md.escape(v)] for k, v in rows(est)], raw=True)
    lines += ["", "### Assumptions", ""] + md.bullets(est.assumptions)
    return "\n".join(lines) + "\n"
