"""`mlcost reference`: every shipped table listed with rows, description and sources; one printed."""
from __future__ import annotations

import csv
import io
import json

from mlcost.refdata import read_csv, table_names
from _cli import run


def test_lists_every_table_with_sources():
    code, out, _ = run("reference", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "mlcost.reference/1"
    listed = {t["name"]: t for t in data["tables"]}
    assert sorted(listed) == table_names()
    assert listed["hardware"]["rows"] == len(read_csv("hardware")) == 21
    assert listed["ai_and_compute"]["rows"] == len(read_csv("ai_and_compute")) == 24  # 18 from the post, 6 since 2019
    assert listed["hardware"]["description"].startswith("Accelerators people train on")
    assert any("Patterson" in s for s in listed["hardware"]["sources"])
    code, out, _ = run("reference")
    assert code == 0 and "hardware  (21 rows, hardware.csv)" in out and "sources (" in out


def test_prints_one_table_as_csv_and_json():
    code, out, _ = run("reference", "hardware", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [dict(r) for r in read_csv("hardware")]
    code, out, _ = run("reference", "ai_and_compute", "--format", "json")
    data = json.loads(out)
    assert data["name"] == "ai_and_compute" and len(data["data"]) == 24
    assert data["data"][0]["name"] == "AlexNet" and data["data"][0]["pfs_days"] == "0.0054"
    code, out, _ = run("reference", "hardware")
    assert code == 0 and "H100-SXM5" in out


def test_unknown_table_exit_2():
    code, out, err = run("reference", "nope")
    assert code == 2 and "no reference table 'nope'; shipped tables:" in err and out == ""
