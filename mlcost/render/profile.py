"""Render a Profile as a rich table, JSON, CSV or Markdown.

Every format states the convention (1 multiply-add = 2 FLOPs) and lists every unsupported operator.
``depth`` limits the per-module tree in table/markdown/csv; JSON always carries every row.

CSV layout (stable; one header, then rows whose ``section`` says what they are)::

    section,name,detail,calls,params,flops,macs,flops_backward,value
    meta,schema,,,,,,,mlcost.profile/1          (also model, format, backend, training)
    convention,flop,,,,,,,1 multiply-add (MAC) = 2 FLOPs   (and each entry of Profile.conventions)
    total,forward,,,PARAMS,FLOPS,MACS,FLOPS_BWD,            (the profile's totals)
    memory,weights_bytes,,,,,,,N                            (activations_peak_bytes, training_peak_bytes)
    module,DOTTED.PATH,TYPE,,PARAMS,FLOPS,MACS,FLOPS_BWD,DEPTH
    operator,OP,,CALLS,,FLOPS,MACS,FLOPS_BWD,               (operator rows sum to the total row)
    unsupported,OP,MODULE,COUNT,,,,,
    roofline,total|OP,CHIP|BOUND,CALLS,,FLOPS,,,SECONDS_FLOOR   (with --chip: the time floor, then per operator)
    assumption,,,,,,,,TEXT
"""
from __future__ import annotations

import csv
import io
from typing import Any

from mlcost.render import to_json
from mlcost.results import Profile
from mlcost.units import FLOP_CONVENTION, format_bytes, format_si

FORMATS = ("table", "json", "csv", "markdown")
CSV_COLUMNS = ("section", "name", "detail", "calls", "params", "flops", "macs", "flops_backward", "value")


def render(profile: Profile, fmt: str = "table", *, depth: int = 2, color: bool = False, width: int = 110) -> str:
    if fmt == "json":
        return to_json(profile.to_dict())
    if fmt == "csv":
        return render_csv(profile, depth)
    if fmt == "markdown":
        return render_markdown(profile, depth)
    return render_table(profile, depth, color=color, width=width)


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _modules(profile: Profile, depth: int) -> list:
    return [r for r in profile.by_module if r.depth <= depth]


def _module_view(profile: Profile, depth: int) -> list[tuple[Any, str, int | None]]:
    """Rows to show, in tree order, as (row, label, index of the parent entry).  A run of identical
    numbered siblings (layers.0 … layers.31 of one block type with equal counts) is folded into one
    entry, 'layers.0–31 ×32 (each)', whose subtree is shown once."""
    rows = _modules(profile, depth)
    names = {r.name for r in rows}
    children: dict[str | None, list] = {}
    for r in rows:
        parent = None
        probe = r.name
        while probe:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            if probe in names:
                parent = probe
                break
        children.setdefault(parent, []).append(r)
    out: list[tuple[Any, str, int | None]] = []

    def same(a, b) -> bool:
        return (a.type, a.params, a.flops, a.macs, a.flops_backward) == (b.type, b.params, b.flops, b.macs, b.flops_backward)

    def index(name: str) -> int | None:
        last = name.rsplit(".", 1)[-1]
        return int(last) if last.isdigit() else None

    def visit(kids: list, parent_at: int | None) -> None:
        i = 0
        while i < len(kids):
            first, j = kids[i], i
            while (j + 1 < len(kids) and same(kids[j + 1], first) and index(kids[j].name) is not None
                   and index(kids[j + 1].name) == index(kids[j].name) + 1):
                j += 1
            label = first.name or "(root)"
            if j > i:
                label = f"{first.name}–{index(kids[j].name)} ×{j - i + 1} (each)"
            out.append((first, label, parent_at))
            visit(children.get(first.name, []), len(out) - 1)
            i = j + 1

    visit(children.get(None, []), None)
    return out


def _summary(profile: Profile) -> list[tuple[str, str]]:
    p, m = profile.params, profile.memory
    rows = [
        ("model", f"{profile.model} ({profile.format}, backend {profile.backend or '—'})"),
        ("inputs", "; ".join(f"{list(i.shape)} {i.dtype}" + (f" ({i.name})" if i.name else "") for i in profile.inputs) or "—"),
        ("parameters", f"{_n(p.total)} total, {_n(p.trainable)} trainable"
         + (f", {_n(p.active)} active" if p.active is not None else "")
         + (" — " + ", ".join(f"{k}: {_n(v)}" for k, v in p.by_dtype.items()) if p.by_dtype else "")),
        ("forward", "—" if profile.flops_forward is None else
         f"{format_si(profile.flops_forward, 'FLOPs')} ({_n(profile.flops_forward)} FLOPs, {_n(profile.macs_forward)} MACs)"),
    ]
    if profile.training or profile.flops_backward is not None:
        rows.append(("backward", f"{format_si(profile.flops_backward, 'FLOPs')} ({_n(profile.flops_backward)} FLOPs, measured)"))
        rows.append(("training step", f"{format_si(profile.flops_training_step, 'FLOPs')} ({_n(profile.flops_training_step)} FLOPs)"))
    rows.append(("weights", f"{format_bytes(m.weights_bytes)} ({_n(m.weights_bytes)} bytes)"))
    if m.activations_peak_bytes is not None:
        rows.append(("activations peak", f"{format_bytes(m.activations_peak_bytes)} ({_n(m.activations_peak_bytes)} bytes)"))
    if m.training_peak_bytes is not None:
        extra = ""
        if m.training:
            extra = f", {m.training.get('optimizer', '?')}, {m.training.get('precision', '?')}"
        rows.append(("training peak", f"{format_bytes(m.training_peak_bytes)} ({_n(m.training_peak_bytes)} bytes{extra})"))
    rows.append(("unsupported ops", str(len(profile.unsupported_ops)) if profile.unsupported_ops else "none"))
    if profile.roofline:
        from mlcost.render import roofline as rr

        rows += rr.summary(profile.roofline)
    if profile.energy_model:
        from mlcost.render import roofline as rr

        rows.append(rr.energy_row(profile.energy_model))
    return rows


def _conventions(profile: Profile) -> list[tuple[str, str]]:
    return [("flop", FLOP_CONVENTION), *sorted(profile.conventions.items())]


def render_table(profile: Profile, depth: int = 2, *, color: bool = False, width: int = 110) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree

    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=color, color_system="auto" if color else None,
                  highlight=False, soft_wrap=False)
    summary = Table(show_header=False, box=box.ROUNDED, title="mlcost profile", title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    for k, v in _summary(profile):
        summary.add_row(k, v)
    con.print(summary)

    view = _module_view(profile, depth)
    if view:
        tree = Tree(f"modules (depth ≤ {depth})")
        nodes: list[Any] = []
        for r, name, parent_at in view:
            label = (f"{name} [dim]{r.type}[/dim]  params {_n(r.params)}  "
                     f"FLOPs {_n(r.flops)}  MACs {_n(r.macs)}"
                     + (f"  bwd FLOPs {_n(r.flops_backward)}" if r.flops_backward is not None else ""))
            nodes.append((tree if parent_at is None else nodes[parent_at]).add(label))
        con.print(tree)

    if profile.by_operator:
        ops = Table(title="operators (rows sum to the forward total)", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("operator", "calls", "FLOPs", "MACs", "share"):
            ops.add_column(col, justify="left" if col == "operator" else "right")
        backward = any(o.flops_backward is not None for o in profile.by_operator)
        if backward:
            ops.add_column("bwd FLOPs", justify="right")
        total = profile.flops_forward or 0
        for o in profile.by_operator:
            share = f"{100 * o.flops / total:.1f}%" if total else "—"
            row = [o.op, _n(o.calls), _n(o.flops), _n(o.macs), share]
            ops.add_row(*row, *([_n(o.flops_backward)] if backward else []))
        con.print(ops)
    if profile.roofline:
        from mlcost.render import roofline as rr

        rr.print_table(con, profile.roofline, depth)

    unsupported = Table(title="unsupported operators (not counted)", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("operator", "module", "count"):
        unsupported.add_column(col, justify="right" if col == "count" else "left")
    for u in profile.unsupported_ops:
        unsupported.add_row(u.op, u.module or "(root)", _n(u.count))
    if profile.unsupported_ops:
        con.print(unsupported)
    else:
        con.print("unsupported operators: none")

    for a in profile.assumptions:
        con.print(f"assumption: {a}", markup=False)
    for k, v in _conventions(profile):
        con.print(f"convention ({k}): {v}", markup=False)
    return buf.getvalue()


def render_csv(profile: Profile, depth: int = 2) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def row(section: str, name: str = "", detail: str = "", calls: Any = "", params: Any = "", flops: Any = "",
            macs: Any = "", flops_backward: Any = "", value: Any = "") -> None:
        w.writerow([section, name, detail, *("" if v is None else v for v in (calls, params, flops, macs, flops_backward, value))])

    from mlcost.results import PROFILE_SCHEMA

    row("meta", "schema", value=PROFILE_SCHEMA)
    row("meta", "model", value=profile.model)
    row("meta", "format", value=profile.format)
    row("meta", "backend", value=profile.backend or "")
    row("meta", "training", value=str(profile.training).lower())
    for k, v in _conventions(profile):
        row("convention", k, value=v)
    row("total", "forward", params=profile.params.total, flops=profile.flops_forward, macs=profile.macs_forward,
        flops_backward=profile.flops_backward)
    row("total", "trainable_params", params=profile.params.trainable)
    for dt, n in profile.params.by_dtype.items():
        row("total", f"params_{dt}", params=n, value=profile.params.bytes_by_dtype.get(dt))
    m = profile.memory
    for name in ("weights_bytes", "activations_peak_bytes", "training_peak_bytes"):
        row("memory", name, value=getattr(m, name))
    for r in _modules(profile, depth):
        row("module", r.name, r.type, params=r.params, flops=r.flops, macs=r.macs, flops_backward=r.flops_backward,
            value=r.depth)
    for o in profile.by_operator:
        row("operator", o.op, calls=o.calls, flops=o.flops, macs=o.macs, flops_backward=o.flops_backward)
    for u in profile.unsupported_ops:
        row("unsupported", u.op, u.module, calls=u.count)
    if profile.roofline:  # roofline,NAME,BOUND,CALLS,,FLOPS,,,SECONDS_FLOOR (total, then each operator)
        roof = profile.roofline
        row("roofline", "total", roof["chip"]["name"], flops=roof["flops"], value=roof["seconds_floor"])
        for o in roof["by_operator"]:
            row("roofline", o["op"], o["bound"], calls=o["calls"], flops=o["flops"], value=o["seconds_floor"])
    for a in profile.assumptions:
        row("assumption", value=a)
    return buf.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    esc = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in esc]


def render_markdown(profile: Profile, depth: int = 2) -> str:
    lines = [f"## mlcost profile: `{profile.model}`", ""]
    lines += _md_table(["", ""], [[f"**{k}**", v] for k, v in _summary(profile)])
    view = _module_view(profile, depth)
    if view:
        lines += ["", f"### Modules (depth ≤ {depth})", ""]
        backward = any(r.flops_backward is not None for r, _, _ in view)  # --training: the measured backward too
        lines += _md_table(["module", "type", "params", "FLOPs", "MACs"] + (["backward FLOPs"] if backward else []),
                           [["&nbsp;" * 2 * r.depth + (f"`{name}`" if r.name else "(root)"), r.type, _n(r.params),
                             _n(r.flops), _n(r.macs)] + ([_n(r.flops_backward)] if backward else [])
                            for r, name, _ in view])
    if profile.by_operator:
        lines += ["", "### Operators (rows sum to the forward total)", ""]
        lines += _md_table(["operator", "calls", "FLOPs", "MACs", "backward FLOPs"],
                           [[f"`{o.op}`", _n(o.calls), _n(o.flops), _n(o.macs), _n(o.flops_backward)]
                            for o in profile.by_operator])
    if profile.roofline:
        from mlcost.render import roofline as rr

        lines += rr.markdown(profile.roofline, depth, _md_table)
    lines += ["", "### Unsupported operators (not counted)", ""]
    if profile.unsupported_ops:
        lines += _md_table(["operator", "module", "count"],
                           [[f"`{u.op}`", f"`{u.module}`" if u.module else "(root)", _n(u.count)] for u in profile.unsupported_ops])
    else:
        lines.append("None.")
    if profile.assumptions:
        lines += ["", "### Assumptions", ""] + [f"- {a}" for a in profile.assumptions]
    lines += ["", "### Conventions", ""] + [f"- **{k}**: {v}" for k, v in _conventions(profile)]
    return "\n".join(lines) + "\n"
