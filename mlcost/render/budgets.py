"""Render a BudgetReport (``mlcost check``): text, json, markdown, github annotations, junit XML.

Every renderer returns a string; only ``mlcost.cli.check`` writes it (and the GitHub step summary).
Values are shown with SI prefixes (FLOPs, MACs, params) or binary ones (bytes); JSON keeps base units.
"""
from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from mlcost.render import escape, to_json
from mlcost.results import BudgetReport, BudgetRow
from mlcost.units import format_bytes, format_si

FORMATS = ("text", "json", "markdown", "github", "junit")
MARKDOWN_HEADING = "## mlcost budget report"
MARKDOWN_MARKER = "<!-- mlcost-check -->"
_VERDICT = {"pass": "ok", "warn": "near limit", "fail": "EXCEEDED", "skip": "skipped"}
_ICON = {"pass": "✅ ok", "warn": "⚠️ near limit", "fail": "❌ exceeded", "skip": "➖ skipped"}


def fmt_value(row: BudgetRow, value: float | int | None) -> str:
    if value is None:
        return "—"
    if row.unit == "bytes":
        return format_bytes(value)
    if row.unit in ("pfs-days", "kg CO2e"):
        return f"{value:.4g} {row.unit}"
    if row.unit == "params":
        return format_si(value)
    return format_si(value, row.unit)


def fmt_limit(row: BudgetRow) -> str:
    if row.kind == "increase":
        return f"+{(row.max_increase or 0) * 100:g}%" + (f" ({fmt_value(row, row.limit)})" if row.limit is not None else "")
    return fmt_value(row, row.limit)


def fmt_change(row: BudgetRow) -> str:
    if row.change is None:
        return "—"
    if math.isinf(row.change):
        return "+inf%"
    return f"{row.change * 100:+.2f}%"


def _summary(report: BudgetReport) -> str:
    fail, warn, ok, skip = (report.count(v) for v in ("fail", "warn", "pass", "skip"))
    head = f"{fail} budget{'s' if fail != 1 else ''} exceeded" if fail else "all budgets met"
    parts = [head, f"{warn} near the limit", f"{ok} within budget"] + ([f"{skip} skipped"] if skip else [])
    base = f"; baseline {report.baseline}" if report.baseline else ""  # a user's path or ref: escaped by the caller
    return f"{', '.join(parts)} ({len(report.models)} model{'s' if len(report.models) != 1 else ''}{base})"


def _cells(row: BudgetRow, verdicts: dict[str, str]) -> list[str]:
    return [row.model, row.budget, fmt_value(row, row.value), fmt_limit(row), fmt_change(row), verdicts[row.verdict]]


_HEAD = ["model", "budget", "value", "limit", "change", "verdict"]


def _skipped(report: BudgetReport) -> list[str]:
    """Skipped rows folded to one line per model (the tables would otherwise fill up without a baseline)."""
    out = []
    for model in report.models:
        rows = [r for r in report.rows if r.model == model and r.verdict == "skip"]
        if rows:
            why = rows[0].message.split("(", 1)[-1].rstrip(")")
            out.append(f"{model}: not checked ({why}): {', '.join(r.budget for r in rows)}")
    return out


def render_text(report: BudgetReport, width: int | None = None, quiet: bool = False) -> str:
    """A plain table (no colour) measured to WIDTH (default: the terminal's, 80 in a CI log); the last line
    is always the summary.  QUIET: the summary line only."""
    from mlcost.render import layout

    w = width or layout.width()
    if quiet:
        return layout.render_text([layout.paragraph(_summary(report))], w)
    return layout.render_text(parts(report, w), w, gap=False)


def parts(report: BudgetReport, width: int = 80) -> list:
    """The text view as rich renderables measured to WIDTH (a notebook shows the same)."""
    from mlcost.render import layout

    w = width
    rows = [_cells(r, _VERDICT) for r in report.rows if r.verdict != "skip"]
    cols = [layout.Column("model", wrap=True), layout.Column("budget", wrap=True), layout.num("value"),
            layout.Column("limit", justify="right", wrap=True, priority=1), layout.num("change", priority=2),
            layout.Column("verdict")]  # the verdict stays: limit and change go first, named in the caption
    out = [layout.text(f"mlcost check: {report.config}")]
    if not rows:
        out.append(layout.text("(no budgets configured)" if not report.rows else "(every budget skipped)"))
    elif layout.fits(cols, rows, w):
        out.append(layout.table(cols, rows, width=w))
    else:  # too narrow for model, budget, value and verdict side by side (~55 columns): one line per budget,
        # the verdict first, so that it is never the part cut off
        out.append(layout.facts([(verdict, f"{model} {budget}: {value}, limit {limit}"
                                  + ("" if change == "—" else f", change {change}"))
                                 for model, budget, value, limit, change, verdict in rows]))
    out += [layout.text(f"skipped: {n}") for n in _skipped(report)]
    out += [layout.text(f"note: {n}") for n in report.notes]
    out.append(layout.text(_summary(report)))
    return out


def render_json(report: BudgetReport) -> str:
    return to_json(report.to_dict())


def render_markdown(report: BudgetReport) -> str:
    """For a sticky PR comment: the first line is always MARKDOWN_HEADING, then the hidden marker."""
    status = "❌" if report.exceeded else ("⚠️" if report.count("warn") else "✅")
    lines = [MARKDOWN_HEADING, MARKDOWN_MARKER, "", f"{status} {escape.markdown(_summary(report))}", ""]
    lines.append("| " + " | ".join(h.capitalize() for h in _HEAD) + " |")
    lines.append("|" + "|".join(["---", "---", "---:", "---:", "---:", "---"]) + "|")
    for row in report.rows:
        if row.verdict != "skip":
            lines.append("| " + " | ".join(escape.markdown(c) for c in _cells(row, _ICON)) + " |")
    for n in [*_skipped(report), *report.notes]:
        lines += ["", f"> {escape.markdown(n)}"]
    lines += ["", f"<sub>config: {escape.markdown(report.config)} · warn at {report.warn_at * 100:g}% of a limit · "
              "1 multiply-add = 2 FLOPs</sub>"]
    return "\n".join(lines) + "\n"


def annotations(report: BudgetReport) -> list[str]:
    """``::error`` for each exceeded budget, ``::warning`` near a limit, pointing at the budget's config line."""
    out = []
    for row in report.rows:
        if row.verdict not in ("fail", "warn"):
            continue
        level = "error" if row.verdict == "fail" else "warning"
        props = [f"file={escape.workflow_property(report.config)}"]
        if row.line:
            props.append(f"line={row.line}")
        title = f"mlcost budget {'exceeded' if row.verdict == 'fail' else 'near limit'}: {row.model} {row.budget}"
        props.append(f"title={escape.workflow_property(title)}")
        out.append(f"::{level} {','.join(props)}::{escape.workflow_data(row.message)}")
    for n in report.notes:
        out.append(f"::notice title={escape.workflow_property('mlcost check')}::{escape.workflow_data(n)}")
    return out


def render_github(report: BudgetReport) -> str:
    """Annotations, then the text table for the log.  The step summary is written by ``write_step_summary``."""
    return "\n".join(annotations(report) + [render_text(report).rstrip("\n")]) + "\n"


def write_step_summary(report: BudgetReport, env: dict[str, str] | None = None) -> Path | None:
    """Append the markdown report to ``$GITHUB_STEP_SUMMARY`` when it is set; returns the file written."""
    target = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    from mlcost.safeio import append_text

    path = Path(target)
    append_text(path, render_markdown(report) + "\n", "$GITHUB_STEP_SUMMARY")  # append: other steps write it too
    return path


def _num(value: float | int | None) -> str:
    """A base-unit number without float noise: 212 * 1.05 is 222.6, not 222.60000000000002."""
    if value is None or isinstance(value, int):
        return str(value)
    return f"{value:.12g}"


def render_junit(report: BudgetReport) -> str:
    """One testcase per model and budget; failures carry value, limit, baseline and change."""
    suites = ET.Element("testsuites", name="mlcost check")
    for model in report.models:
        rows = [r for r in report.rows if r.model == model]
        suite = ET.SubElement(suites, "testsuite", name=escape.xml(f"mlcost check: {model}"), tests=str(len(rows)),
                              failures=str(sum(r.verdict == "fail" for r in rows)), errors="0",
                              skipped=str(sum(r.verdict == "skip" for r in rows)))
        for row in rows:
            case = ET.SubElement(suite, "testcase", classname=escape.xml(f"mlcost.check.{model}"), name=row.budget,
                                 file=escape.xml(report.config), **({"line": str(row.line)} if row.line else {}))
            detail = (f"value: {_num(row.value)} {row.unit}\nlimit: {_num(row.limit)} {row.unit}\n"
                      f"baseline: {_num(row.baseline)}\nchange: {fmt_change(row)}\n")
            if row.verdict == "fail":
                failure = ET.SubElement(case, "failure", message=escape.xml(row.message), type="BudgetExceeded")
                failure.text = detail
            elif row.verdict == "skip":
                ET.SubElement(case, "skipped", message=escape.xml(row.message))
            else:
                ET.SubElement(case, "system-out").text = escape.xml(row.message) + ("  [near the limit]" if row.verdict == "warn" else "")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render(report: BudgetReport, fmt: str = "text", *, quiet: bool = False, width: int | None = None) -> str:
    """FMT is text, json, markdown, github or junit; QUIET and WIDTH shape the text view."""
    if fmt == "text":
        return render_text(report, width, quiet)
    return {"json": render_json, "markdown": render_markdown, "github": render_github,
            "junit": render_junit}[fmt](report)
