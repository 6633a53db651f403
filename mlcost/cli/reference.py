"""`mlcost reference [NAME]`: list the shipped reference tables with their sources, or print one."""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Optional

import typer

from mlcost.errors import UsageError


def describe(name: str) -> dict[str, Any]:
    """name, rows, description (the table's leading '# description:' comment) and distinct sources."""
    from mlcost.refdata import data_dir, read_csv

    csv_path = data_dir() / f"{name}.csv"
    if csv_path.is_file():
        description = ""
        with csv_path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                text = line.lstrip("#").strip()
                description += (" " if description else "") + text.removeprefix("description:").strip()
        rows = read_csv(name)
        sources = sorted({r.get("source", "").strip() for r in rows if (r.get("source") or "").strip()})
        return {"name": name, "file": csv_path.name, "rows": len(rows), "description": description, "sources": sources}
    data = json.loads((data_dir() / f"{name}.json").read_text(encoding="utf-8"))
    items = data.get("rows", data) if isinstance(data, dict) else data
    src = data.get("sources", data.get("source", [])) if isinstance(data, dict) else []
    return {
        "name": name, "file": f"{name}.json", "rows": len(items) if isinstance(items, (list, dict)) else 1,
        "description": data.get("description", "") if isinstance(data, dict) else "",
        "sources": src if isinstance(src, list) else [src],
    }


def reference_command(
    name: Optional[str] = typer.Argument(None, help="A table to print (e.g. hardware, ai_and_compute)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table|csv|json."),
) -> None:
    """List every shipped reference table (rows, description, sources), or print one with NAME."""
    from mlcost.refdata import data_dir, read_csv, table_names
    from mlcost.render import emit, to_json

    if fmt not in ("table", "csv", "json"):
        raise UsageError(f"--format must be one of table, csv, json, got {fmt!r}")
    names = table_names()
    if name is None:
        infos = [describe(n) for n in names]
        if fmt == "json":
            emit(to_json({"schema": "mlcost.reference/1", "data_dir": str(data_dir()), "tables": infos}))
        elif fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["name", "rows", "description", "sources"])
            for i in infos:
                w.writerow([i["name"], i["rows"], i["description"], " | ".join(i["sources"])])
            emit(buf.getvalue())
        else:
            lines = [f"reference tables in {data_dir()}", ""]
            for i in infos:
                lines.append(f"{i['name']}  ({i['rows']} rows, {i['file']})")
                if i["description"]:
                    lines.append(f"  {i['description']}")
                lines.append(f"  sources ({len(i['sources'])}):")
                lines += [f"    - {s}" for s in i["sources"][:8]]
                if len(i["sources"]) > 8:
                    lines.append(f"    ... and {len(i['sources']) - 8} more (mlcost reference {i['name']})")
                lines.append("")
            emit("\n".join(lines))
        return
    if name not in names:
        raise UsageError(f"no reference table {name!r}; shipped tables: {', '.join(names)}")
    if (data_dir() / f"{name}.json").is_file() and not (data_dir() / f"{name}.csv").is_file():
        emit((data_dir() / f"{name}.json").read_text(encoding="utf-8"))
        return
    rows = read_csv(name)
    columns = list(rows[0]) if rows else []
    if fmt == "json":
        emit(to_json({"schema": "mlcost.reference/1", **describe(name), "columns": columns, "data": [dict(r) for r in rows]}))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        emit(buf.getvalue())
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{name} — {describe(name)['description'][:160]}", show_lines=False)
        for col in columns:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*[r.get(c) or "" for c in columns])
        Console(width=max(160, 12 * len(columns))).print(table)


def register(app: typer.Typer) -> None:
    app.command("reference")(reference_command)
