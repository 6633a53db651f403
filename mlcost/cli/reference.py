"""`mlcost reference [NAME]`: list the shipped reference tables with their sources, or print one."""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Optional

import typer

from mlcost.choices import ReferenceFormat
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
    fmt: ReferenceFormat = typer.Option(ReferenceFormat.TABLE, "--format", "-f", case_sensitive=False, help="Output format."),
    columns: Optional[str] = typer.Option(None, "--columns", "-c", help="Comma-separated columns to show in the table view (default: those that fit)."),
) -> None:
    """List every shipped reference table (rows, description, sources), or print one with NAME."""
    from mlcost.refdata import data_dir, read_csv, table_names
    from mlcost.render import emit, to_json

    fmt = fmt.value
    if columns is not None and (name is None or fmt != "table"):
        raise UsageError("--columns picks the columns of one table's table view: give NAME and no --format")
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
            from mlcost.render.reference import render_listing

            emit(render_listing(str(data_dir()), infos))
        return
    if name not in names:
        raise UsageError(f"no reference table {name!r}; shipped tables: {', '.join(names)}")
    if (data_dir() / f"{name}.json").is_file() and not (data_dir() / f"{name}.csv").is_file():
        emit((data_dir() / f"{name}.json").read_text(encoding="utf-8"))
        return
    rows = read_csv(name)
    columns_in = list(rows[0]) if rows else []
    if fmt == "json":
        emit(to_json({"schema": "mlcost.reference/1", **describe(name), "columns": columns_in, "data": [dict(r) for r in rows]}))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns_in, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        emit(buf.getvalue())
    else:
        from mlcost.render.reference import pick_columns, render_rows

        emit(render_rows(name, describe(name)["description"], pick_columns(columns_in, rows, columns), rows,
                         all_columns=columns_in))


def register(app: typer.Typer) -> None:
    app.command("reference")(reference_command)
