"""Render a Profile as a rich table, JSON, CSV or Markdown.

Every format states the convention (1 multiply-add = 2 FLOPs) and lists every unsupported operator.
``depth`` limits the per-module tree in table and markdown; JSON and CSV always carry every module.
The table is measured to ``width`` (``mlcost.render.layout``): it names the assumptions by their heads and
only the conventions that govern this model's operators; ``explain=True`` adds every assumption and
convention in full (JSON, CSV and markdown always have them all).  ``headline`` is the one-line ``-q`` view.

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
from mlcost.units import FLOP_CONVENTION, format_bytes, format_share, format_si

FORMATS = ("table", "json", "csv", "markdown")
CSV_COLUMNS = ("section", "name", "detail", "calls", "params", "flops", "macs", "flops_backward", "value")


def render(profile: Profile, fmt: str = "table", *, depth: int = 2, color: bool = False, width: int | None = None,
           explain: bool = False, quiet: bool = False) -> str:
    """FMT is table, json, csv or markdown; DEPTH applies to table and markdown; WIDTH (default: the
    terminal's, see ``layout.width``), COLOR, EXPLAIN and QUIET to the table."""
    if fmt == "json":
        return to_json(profile.to_dict())
    if fmt == "csv":
        return render_csv(profile)
    if fmt == "markdown":
        return render_markdown(profile, depth)
    from mlcost.render import layout

    w = width or layout.width()
    if quiet:
        return layout.render_text([layout.paragraph(headline(profile))], w, color)
    return render_table(profile, depth, color=color, width=w, explain=explain)


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _c(value: int | None) -> str:
    """Compact: 3 significant digits with an SI prefix ('1.23 G'); small counts exact."""
    return "—" if value is None else (f"{value:,}" if abs(value) < 10_000 else format_si(value))


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


def _dtypes(by_dtype: dict[str, int] | None, total: int | None) -> str:
    """' — float16: 6,738,415,616, float32: 4,096', or ' — all float32' when one dtype holds every
    parameter (not the total a third time: '7,386,624 total, 7,386,624 trainable — float32: 7,386,624')."""
    if not by_dtype:
        return ""
    if len(by_dtype) == 1 and next(iter(by_dtype.values())) == total:
        return f" — all {next(iter(by_dtype))}"
    return " — " + ", ".join(f"{k}: {_n(v)}" for k, v in by_dtype.items())


def _summary(profile: Profile) -> list[tuple[str, str]]:
    p, m = profile.params, profile.memory
    rows = [
        ("model", f"{profile.model} ({profile.format}, backend {profile.backend or '—'})"),
        ("inputs", "; ".join(f"{list(i.shape)} {i.dtype}" + (f" ({i.name})" if i.name else "") for i in profile.inputs) or "—"),
        ("parameters", f"{_n(p.total)} total, {_n(p.trainable)} trainable"
         + (f", {_n(p.active)} active" if p.active is not None else "")
         + _dtypes(p.by_dtype, p.total)),
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
    rows += _plan_rows(profile)
    rows.append(("unsupported ops", str(len(profile.unsupported_ops)) if profile.unsupported_ops else "none"))
    if profile.roofline:
        from mlcost.render import roofline as rr

        rows += rr.summary(profile.roofline)
    if profile.energy_model:
        from mlcost.render import roofline as rr

        rows.append(rr.energy_row(profile.energy_model))
    return rows


def _plan_rows(profile: Profile) -> list[tuple[str, str]]:
    """KV cache, per-GPU training memory and fit on a chip (costs.memory_plan), when present."""
    m, rows = profile.memory, []
    kv = profile.details.get("kv_cache")
    if m.kv_cache_bytes is not None and kv:
        rows.append(("KV cache", f"{format_bytes(m.kv_cache_bytes)} at {kv['tokens']:,} tokens x batch {kv['batch']} "
                                 f"({format_bytes(kv['bytes_per_token'])}/token)"))
    if m.per_gpu_training_peak_bytes is not None and m.sharding:
        rows.append(("per-GPU peak", f"{format_bytes(m.per_gpu_training_peak_bytes)} "
                                     f"({m.sharding['shard']} on {m.sharding['gpus']} GPUs)"))
    if m.fits:
        f = m.fits
        rows.append(("fits " + f["chip"], f"{'yes' if f['fits'] else 'NO'}: needs {format_bytes(f['needed_bytes'])} of "
                     f"{format_bytes(f['capacity_bytes'])} ({f['needed']})"))
    return rows


def _conventions(profile: Profile) -> list[tuple[str, str]]:
    return [("flop", FLOP_CONVENTION), *sorted(profile.conventions.items())]


def headline(profile: Profile) -> str:
    """One line: the model and its totals ('build: 98,442 params, 1.23 GFLOPs forward (0.614 GMACs), ...')."""
    p, m = profile.params, profile.memory
    parts = [f"{_n(p.total)} params" + (f" ({_n(p.active)} active)" if p.active is not None else "")]
    if profile.flops_forward is not None:
        parts.append(f"{format_si(profile.flops_forward, 'FLOPs')} forward ({format_si(profile.macs_forward, 'MACs')})")
    if profile.flops_backward is not None:
        parts.append(f"{format_si(profile.flops_training_step, 'FLOPs')} per training step")
    parts.append(f"weights {format_bytes(m.weights_bytes)}")
    if m.activations_peak_bytes is not None:
        parts.append(f"activations peak {format_bytes(m.activations_peak_bytes)}")
    if m.training_peak_bytes is not None:
        parts.append(f"training peak {format_bytes(m.training_peak_bytes)}")
    if profile.unsupported_ops:
        parts.append(f"{len(profile.unsupported_ops)} unsupported op(s)")
    return f"{profile.model or '(model)'}: " + ", ".join(parts)


def _share(value: int | None, total: int | None) -> str:
    if value is None or not total:
        return "—"
    return format_share(value / total)


def _tree_labels(view: list[tuple[Any, str, int | None]]) -> list[str]:
    """Module names relative to their parent, drawn as a tree ('├─ 0', '│  └─ conv'), one per view entry."""
    kids: dict[int | None, list[int]] = {}
    for i, (_, _, parent) in enumerate(view):
        kids.setdefault(parent, []).append(i)
    labels = [""] * len(view)

    def walk(parent: int | None, prefix: str) -> None:
        children = kids.get(parent, [])
        for n, i in enumerate(children):
            row, label, _ = view[i]
            if parent is not None:
                parent_name = view[parent][0].name
                if parent_name and label.startswith(parent_name + "."):
                    label = label[len(parent_name) + 1:]
            last = n == len(children) - 1
            if parent is None:
                labels[i], below = label, ""
            else:
                labels[i], below = prefix + ("└─ " if last else "├─ ") + label, prefix + ("   " if last else "│  ")
            walk(i, below)

    walk(None, "")
    return labels


def module_table(profile: Profile, depth: int, width: int):
    """The per-module tree as a table: exact integers when they fit WIDTH, else 3-digit SI numbers."""
    from mlcost.render.layout import Column, num, table

    view = _module_view(profile, depth)
    if not view:
        return None
    backward = any(r.flops_backward is not None for r, _, _ in view)
    cols = [Column("module", wrap=True), Column("type", style="dim", priority=2, wrap=True), num("params"),
            num("FLOPs"), num("MACs", priority=3), *([num("bwd FLOPs", priority=1)] if backward else []),
            num("share", priority=1)]
    total = profile.flops_forward
    labels = _tree_labels(view)

    def rows(n):
        return [[label, r.type, n(r.params), n(r.flops), n(r.macs), *([n(r.flops_backward)] if backward else []),
                 _share(r.flops, total)] for (r, _, _), label in zip(view, labels)]

    return table(cols, rows(_n), compact_rows=rows(_c), width=width, title=f"modules (depth ≤ {depth})")


def operator_table(profile: Profile, width: int):
    from mlcost.render.layout import Column, num, table

    if not profile.by_operator:
        return None
    backward = any(o.flops_backward is not None for o in profile.by_operator)
    # an operator's name never wraps: other columns are dropped first, then (narrower still) it ends in an ellipsis
    cols = [Column("operator", elide=True), num("calls", priority=2), num("FLOPs"), num("MACs", priority=3),
            *([num("bwd FLOPs", priority=1)] if backward else []), num("share", priority=1)]
    total = profile.flops_forward

    def rows(n):
        return [[o.op, _n(o.calls), n(o.flops), n(o.macs), *([n(o.flops_backward)] if backward else []),
                 _share(o.flops, total)] for o in profile.by_operator]

    return table(cols, rows(_n), compact_rows=rows(_c), width=width, title="operators (rows sum to the forward total)")


def unsupported_table(profile: Profile, width: int):
    from mlcost.render.layout import Column, num, table

    if not profile.unsupported_ops:
        return None  # the summary says "unsupported ops: none"
    return table([Column("operator", elide=True), Column("module", wrap=True), num("count")],
                 [[u.op, u.module or "(root)", _n(u.count)] for u in profile.unsupported_ops], width=width,
                 title="unsupported operators (not counted)")


def _footer(profile: Profile, explain: bool, width: int = 80):
    from mlcost.render import explain as ex
    from mlcost.render.layout import notes, paragraph

    if explain:
        return [notes(profile.assumptions, "assumptions") if profile.assumptions else None,
                notes([f"{k}: {v}" for k, v in _conventions(profile)], "conventions")]
    said = ex.heads(profile.assumptions, width - 2) + ex.key_conventions(o.op for o in profile.by_operator)
    return [notes(said, "assumptions") if said else None, paragraph(ex.MORE, "dim")]


def parts(profile: Profile, width: int = 80, *, depth: int = 2, explain: bool = False) -> list:
    """The table view as rich renderables, each measured to WIDTH (a notebook shows the same)."""
    from mlcost.render.layout import facts

    summary = _summary(profile)
    title = f"mlcost profile: {summary[0][1]}"  # the model row, as the title
    roofline = []
    if profile.roofline:
        from mlcost.render import roofline as rr

        roofline = rr.tables(profile.roofline, depth, width)
    return [facts(summary[1:], title=title), module_table(profile, depth, width), operator_table(profile, width),
            *roofline, unsupported_table(profile, width), *_footer(profile, explain, width)]


def render_table(profile: Profile, depth: int = 2, *, color: bool = False, width: int = 80,
                 explain: bool = False) -> str:
    from mlcost.render.layout import render_text

    return render_text(parts(profile, width, depth=depth, explain=explain), width, color)


def render_csv(profile: Profile) -> str:
    """Every module (``--depth`` is for the views a person reads), every operator, every assumption."""
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
    for r in profile.by_module:
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


def render_markdown(profile: Profile, depth: int = 2) -> str:
    """For a pull-request comment: names in code spans, every other cell escaped (mlcost.render.markdown)."""
    from mlcost.render import markdown as md

    lines = [f"## mlcost profile: {md.code(profile.model)}", ""]
    lines += md.table(["", ""], [[f"**{k}**", md.escape(v)] for k, v in _summary(profile)], raw=True)
    view = _module_view(profile, depth)
    if view:
        lines += ["", f"### Modules (depth ≤ {depth})", ""]
        backward = any(r.flops_backward is not None for r, _, _ in view)  # --training: the measured backward too
        lines += md.table(["module", "type", "params", "FLOPs", "MACs"] + (["backward FLOPs"] if backward else []),
                          [["&nbsp;" * 2 * r.depth + (md.code(name) if r.name else "(root)"), md.escape(r.type),
                            _n(r.params), _n(r.flops), _n(r.macs)] + ([_n(r.flops_backward)] if backward else [])
                           for r, name, _ in view], align="llrrr" + ("r" if backward else ""), raw=True)
    if profile.by_operator:
        lines += ["", "### Operators (rows sum to the forward total)", ""]
        lines += md.table(["operator", "calls", "FLOPs", "MACs", "backward FLOPs"],
                          [[md.code(o.op), _n(o.calls), _n(o.flops), _n(o.macs), _n(o.flops_backward)]
                           for o in profile.by_operator], align="lrrrr", raw=True)
    if profile.roofline:
        from mlcost.render import roofline as rr

        lines += rr.markdown(profile.roofline, depth, md.table)
    lines += ["", "### Unsupported operators (not counted)", ""]
    if profile.unsupported_ops:
        lines += md.table(["operator", "module", "count"],
                          [[md.code(u.op), md.code(u.module) if u.module else "(root)", _n(u.count)]
                           for u in profile.unsupported_ops], align="llr", raw=True)
    else:
        lines.append("None.")
    if profile.assumptions:
        lines += ["", "### Assumptions", ""] + md.bullets(profile.assumptions)
    lines += ["", "### Conventions", ""] + [f"- **{k}**: {md.escape(v)}" for k, v in _conventions(profile)]
    return "\n".join(lines) + "\n"
