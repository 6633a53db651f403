"""Terminal views fit the width they are given (COLUMNS): no line wider, at 80 and at 200 columns; the demo
profile reads in under 40 lines; -q is the headline, --explain the full text; user text is never markup."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import run_cli
from mlcost.render.layout import cell_width

ROOT = Path(__file__).resolve().parent.parent
CNN = f"{ROOT / 'examples' / 'cnn.py'}:build"
TINY = f"{ROOT / 'tests' / 'models' / 'tiny.py'}"


def at(width: int, *args: object):
    r = run_cli(*args, env={"COLUMNS": str(width)})
    assert r.exit_code == 0, r.stderr
    return r.stdout


def widest(text: str) -> int:
    return max(cell_width(line) for line in text.splitlines())


@pytest.fixture(scope="module")
def cnn_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn") / "cnn.json"
    r = run_cli("profile", CNN, "--input-shape", "1,3,224,224", "-o", out)  # the suffix picks JSON
    assert r.exit_code == 0, r.stderr
    return out


@pytest.mark.parametrize("width", [80, 200])
def test_demo_profile_fits_the_width_in_under_40_lines(cnn_json, width):
    from mlcost.render.profile import render
    from mlcost.results import Profile

    prof = Profile.from_dict(json.loads(cnn_json.read_text()))
    text = render(prof, "table", width=width)
    assert widest(text) <= width
    lines = text.splitlines()
    assert len(lines) < 40, text
    # the numbers a person looks for are there, exact where they fit: 195,085,568 MACs forward
    assert "195,085,568 MACs" in text and "aten::convolution" in text
    # conventions stay behind --explain; the FLOP convention and the way to see them are stated
    assert "1 multiply-add (MAC) = 2 FLOPs" in text and "--explain" in text
    assert "elementwise:" not in text


def test_narrow_profile_drops_columns_and_says_which(cnn_json):
    from mlcost.render.profile import render
    from mlcost.results import Profile

    text = render(Profile.from_dict(json.loads(cnn_json.read_text())), "table", width=60)
    assert widest(text) <= 60
    assert "not shown: MACs" in text  # named, not silently gone
    assert "399 M" in text  # compact numbers when the exact ones do not fit (399,227,904 FLOPs)


def test_cli_profile_at_80_and_200_columns_explain_and_quiet(cnn_json):
    for width in (80, 200):
        out = at(width, "profile", CNN, "--input-shape", "1,3,224,224", "--explain")
        assert widest(out) <= width
        assert "elementwise: 1 FLOP per output element" in " ".join(out.split())  # every convention, in full
    quiet = at(80, "profile", CNN, "--input-shape", "1,3,224,224", "-q")
    # 98,970 params = 464 + 4,672 + 18,560 + 73,984 (conv + bn stages) + 1,290 (classifier)
    assert " ".join(quiet.split()) == ("examples/cnn.py:build: 98,970 params, 399 MFLOPs forward (195 MMACs), "
                                       "weights 389 KiB, activations peak 6.13 MiB").replace(
        "examples/cnn.py:build", CNN)


def test_terminal_switches_with_another_format_are_usage_errors():
    for args, words in ((("-q", "-f", "json"), "-q"), (("--explain", "-f", "csv"), "--explain"),
                        (("--depth", "3", "-f", "json"), "--depth")):
        r = run_cli("profile", CNN, "--input-shape", "1,3,224,224", *args)
        assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
        assert words in r.stderr


@pytest.mark.parametrize("width", [80, 200])
def test_compute_carbon_check_reference_fit(width, tmp_path):
    outs = [
        at(width, "compute", "--gpu", "v100", "--count", "8", "--days", "3"),
        at(width, "compute", "--params", "7e9", "--tokens", "2e12", "--gpu", "a100", "--count", "1024", "--explain"),
        at(width, "carbon", "--gpu", "a100", "--count", "8", "--days", "3", "--region", "aws:us-east-1"),
        at(width, "carbon", "--gpu", "a100", "--count", "8", "--days", "3", "--region", "aws:us-east-1", "--explain"),
        at(width, "reference", "hardware"),
        at(width, "reference"),
    ]
    for out in outs:
        assert widest(out) <= width, out


def test_compute_trend_chart_is_one_line_per_run():
    """The chart's rows are real lines (each escaped on its own), not one string whose newlines escaping
    turned into a visible backslash-n and the width then wrapped."""
    out = at(80, "compute", "--gpu", "h100", "--count", "64", "--hours", "1h30m")
    assert "\\n" not in out
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith("AlexNet 2012"))
    assert row.split()[-1] == "0.0054" and "▇" in row  # name, bar and value on the one line
    assert any(line.startswith("► this run") and "█" in line for line in lines)


def test_a_table_that_only_fits_by_wrapping_keeps_its_last_column_whole():
    """The training module table of a Llama-7B shape at 80 columns: its narrowest measurement (74) fits, yet
    rich, once it has wrapped the names, pinned them at their min_width and cropped every column evenly:
    'share' came out as 'shar' and '100.0%' as '100.0'.  A column is dropped (and named) instead."""
    from mlcost.render.layout import Column, num, render_text, table

    cols = [Column("module", wrap=True), Column("type", priority=2, wrap=True), num("params"), num("FLOPs"),
            num("MACs", priority=3), num("bwd FLOPs", priority=1), num("share", priority=1)]
    rows = [["(root)", "Llama", "6.74 G", "1.7 T", "850 G", "3.4 T", "100.0%"],
            ["├─ layers", "ModuleList", "6.48 G", "1.67 T", "833 G", "3.33 T", "98.0%"],
            ["│  └─ 0–31 ×32 (each)", "Block", "202 M", "52.1 G", "26 G", "104 G", "3.1%"],
            ["└─ output", "Linear", "131 M", "33.6 G", "16.8 G", "67.1 G", "2.0%"]]
    out = render_text([table(cols, rows, width=80)], 80)
    assert widest(out) <= 80
    header = out.splitlines()[0].split()
    assert header == ["module", "type", "params", "FLOPs", "bwd", "FLOPs", "share"], out
    assert "100.0%" in out and "│  └─ 0–31 ×32 (each)" in out and "not shown: MACs" in out


def test_reference_table_names_the_columns_it_leaves_out():
    out = at(80, "reference", "hardware")
    assert "more columns: aliases, source, notes" in out and "not shown:" in out
    picked = at(80, "reference", "hardware", "--columns", "name,memory_gb,tdp_watts")
    header = next(line for line in picked.splitlines() if line.startswith("name"))
    assert "A100-SXM4-80GB" in picked and header.split() == ["name", "gb", "watts"]  # 'memory gb', 'tdp watts' wrap
    assert "more columns: aliases, vendor, year, fp32_tflops" in " ".join(picked.split())
    bad = run_cli("reference", "hardware", "--columns", "name,nope")
    assert bad.exit_code == 2 and "unknown column(s) nope" in bad.stderr


def test_check_text_fits_and_quiet_is_the_summary(tmp_path):
    (tmp_path / "net.py").write_text("import torch\ndef build():\n    return torch.nn.Linear(4, 3), torch.zeros(2, 4)\n")
    (tmp_path / "mlcost.toml").write_text(
        '[[models]]\nname = "a-model-with-a-rather-long-name-for-the-table"\nmodel = "net.py:build"\n'
        '[models.budgets]\nmax_params = 10\nmax_flops = "1 G"\nmax_weights_bytes = "1 KiB"\n')
    r = run_cli("check", "-c", tmp_path / "mlcost.toml", env={"COLUMNS": "80"})
    assert r.exit_code == 1, r.stderr  # 15 params = 4 * 3 + 3 > 10
    assert widest(r.stdout) <= 80
    q = run_cli("check", "-c", tmp_path / "mlcost.toml", "-q", env={"COLUMNS": "80"})
    assert q.exit_code == 1 and q.stdout == "1 budget exceeded, 0 near the limit, 2 within budget (1 model)\n"


def test_user_text_is_never_markup():
    from mlcost.render import layout

    out = layout.render_text([layout.facts([("model", "[bold red]x[/] [link=file:///]y")]),
                              layout.table([layout.Column("name")], [["[red]z[/red]"]], width=80)], 80, color=True)
    assert "[bold red]x[/] [link=file:///]y" in out and "[red]z[/red]" in out


def test_markdown_cells_are_escaped_and_names_are_code():
    from mlcost.render.profile import render_markdown
    from mlcost.results import MemoryStats, ModuleRow, ParamStats, Profile

    p = Profile(model="a|b", format="torch", backend="torch", params=ParamStats(1, 1), memory=MemoryStats(4),
                flops_forward=2, macs_forward=1,
                by_module=(ModuleRow("", "Net", 0, 1, 2, 1), ModuleRow("x", "[Weird]|Type", 1, 1, 2, 1)))
    md = render_markdown(p)
    assert md.startswith("## mlcost profile: `a\\|b`")
    assert "| &nbsp;&nbsp;`x` | \\[Weird\\]\\|Type | 1 | 2 | 1 |" in md  # one cell, no link, no extra column


def test_carbon_explain_says_one_price_once_and_no_nested_power_note():
    """A100's cloud row has one price (low == high): no '$5.12 (on-demand) to $5.12 (on-demand)', no 'range
    from' itself; the assumed power fraction's note says 'assumed' once, not '(assumed (no published ...)'."""
    out = at(80, "carbon", "--gpu", "a100", "--count", "8", "--days", "3", "--region", "aws:us-east-1", "--explain")
    flat = " ".join(out.split())
    assert "$5.12 (on-demand) to $5.12" not in flat
    assert "range from the on-demand $5.12" not in flat
    assert "one price recorded, no range" in flat
    assert "(assumed (" not in flat
    assert "TDP 400 W x 0.8 (assumed; range 0.5-1): No published measured" in flat


def test_compact_table_keeps_exact_counts_where_they_cost_no_width():
    """At 60 columns the module table compacts its numbers, but the params column has room for every exact
    count ('98,970' is as wide as '97.7 k'): it shows 98,970, not '99 k'; FLOPs, which would widen, stay compact."""
    out = at(60, "profile", CNN, "--input-shape", "1,3,224,224", "--depth", "2")
    modules = out.split("modules (depth")[1].split("operators")[0]
    assert "98,970" in modules and "99 k" not in modules and "73,984" in modules
    assert "399 M" in modules
    assert widest(out) <= 60


def test_assumption_head_skips_an_inner_parenthesis_rather_than_cutting_the_clause():
    """The default view heads each assumption; cutting at the first ' (' turned 'the cache write of each new
    token (2 x kv bytes per layer) is not counted' into 'the cache write of each new token', the opposite."""
    from mlcost.render.explain import head

    assert head("the cache write of each new token (2 x kv bytes per layer) is not counted; the prefill's "
                "activation peak includes it") == "the cache write of each new token is not counted"
    assert head("accelerator power = TDP 700 W x 0.8 (assumed; range 0.5-1): No published") == \
        "accelerator power = TDP 700 W x 0.8"
    assert head("attention as SDPA (one fused call per layer: Q, K, V move)") == "attention as SDPA"
    assert head("cost at the on-demand $12.29/accelerator-hour of H100-SXM5 (2024) (estimate); one price") == \
        "cost at the on-demand $12.29/accelerator-hour of H100-SXM5"


def test_assumption_head_docs_say_what_it_does():
    """explain.py said a head is 'the words before the first ':' or ';'' (module) and 'up to its first ';' or
    '('' (head): neither is what head does (a ':' never cuts; an inner parenthesis is skipped).  The docstrings
    now carry examples, run here, so the doc cannot drift from the behaviour again."""
    import doctest

    from mlcost.render import explain

    result = doctest.testmod(explain, optionflags=doctest.ELLIPSIS)
    assert (result.failed, result.attempted) == (0, 4)
    assert "':' or ';'" not in explain.__doc__ and "up to its first ';' or '('" not in explain.head.__doc__


def test_infer_numbers_are_plain_numbers():
    """infer printed '1.374e+04 tokens/s' (-q headline) and '10.12 gCO2e' (4 digits beside '0.181 kWh'):
    tokens/s and gCO2e go through units.format_number like every other figure."""
    llama = str(ROOT / "examples" / "llama2-7b")
    args = ("infer", llama, "--chip", "h100", "--batch", "64", "--prompt-tokens", "16", "--new-tokens", "8")
    quiet = " ".join(at(80, *args, "-q").split())
    assert "13,740 tokens/s" in quiet and "e+0" not in quiet
    table = at(80, *args, "--region", "FR")
    assert "13,740 (batch 64)" in table and "1.7 gCO2e" in table


def test_compute_breakdown_names_terms_and_ranges_in_the_unit():
    """compute's table printed JSON keys as labels ('· flops 6nd', '· flops attention') and the FLOPs range
    as raw floats ('range 1.35e+18–2.7e+18') beside '1.78 EFLOPs'."""
    out = at(80, "compute", "--gpu", "v100", "--count", "8", "--hours", "1h30m")
    assert "range 1.35 EFLOPs–2.7 EFLOPs" in out and "e+18–" not in out
    out = at(80, "compute", "--params", "7B", "--tokens", "2T")
    assert "· 6·N·D" in out and "· attention" in out and "flops 6nd" not in out


def test_parameters_line_does_not_repeat_the_total_for_one_dtype():
    """'98,970 total, 98,970 trainable — float32: 98,970' said the count three times; one dtype is 'all float32'."""
    out = " ".join(at(80, "profile", CNN, "--input-shape", "1,3,224,224").split())
    assert "98,970 total, 98,970 trainable — all float32" in out
    assert "float32: 98,970" not in out


def test_hardware_description_spans_the_years_it_lists():
    """'mlcost reference hardware' said '2012-2024 GPUs' above a table from GTX-580 (2010) to 2023 parts."""
    from mlcost import refdata

    years = [int(r["year"]) for r in refdata.read_csv("hardware") if r.get("year")]
    out = " ".join(at(80, "reference", "hardware").split())
    assert f"({min(years)}-{max(years)} GPUs" in out


def test_check_table_at_60_columns_keeps_the_verdict(tmp_path):
    """At 60 columns the check table cropped 'change' to 'ch' and lost its verdict column without a word;
    limit and change are dropped first (and named), the verdict stays whole."""
    cfg = tmp_path / "mlcost.toml"
    cfg.write_text(f'[[models]]\nname = "classifier"\nmodel = "{CNN}"\ninput-shape = ["1,3,224,224"]\n'
                   'tokens = "300B"\ngpu = "A100"\n[models.budgets]\nmax_params = "100k"\nmax_flops = "390M"\n'
                   'max_pfs_days = 1\n')
    r = run_cli("check", "--config", str(cfg), env={"COLUMNS": "60"})
    assert r.exit_code == 1, r.stderr
    assert widest(r.stdout) <= 60
    header = next(line for line in r.stdout.splitlines() if line.startswith("model "))
    assert header.split()[-1] == "verdict", header
    assert r.stdout.count("EXCEEDED") == 2 and "near limit" in r.stdout
    assert "not shown: limit, change" in " ".join(r.stdout.split())


def test_track_summary_fits_the_width(tmp_path):
    """'track --summary' printed a 90-column line at COLUMNS=60 and energies to 6 digits ('7.31291e-06'):
    the command column wraps to the width, figures have 4 significant digits as in '--by run'."""
    from mlcost import ledger as lg

    path = tmp_path / "l.csv"
    lg.append_row(path, {"run_id": "r", "track_id": "t", "ended": "exit 0", "duration_s": 1.2,
                         "energy_kwh": 7.31291e-06, "co2e_kg": 4.09808e-07,
                         "command": "python -c 'import time; time.sleep(1)' --and --a --long --tail"})
    out = at(60, "track", "--summary", str(path))
    assert widest(out) <= 60, out
    assert "7.313e-06" in out and "7.31291e-06" not in out


@pytest.fixture(scope="module")
def cnn_training_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn-step") / "cnn.json"
    r = run_cli("profile", CNN, "--input-shape", "1,3,224,224", "--training", "-o", out)
    assert r.exit_code == 0, r.stderr
    return out


def _operator_lines(text: str) -> list[str]:
    """The operators table's rows: the lines between its rule and the next blank line or caption."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("operators ("))
    rule = next(i for i in range(start, len(lines)) if lines[i].startswith("─"))
    rows = []
    for line in lines[rule + 1:]:
        if not line.strip() or line.startswith("not shown"):
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize("width", [80, 60])
def test_operator_names_stay_whole(cnn_training_json, width):
    """The CNN's step at 80 columns split aten::max_pool2d_with_indices_backward (38 characters) into
    '...backw' and 'ard' on the next line: an operator column that wraps kept the other columns instead.
    Now columns are dropped first: every row is one line that starts with its whole operator name."""
    from mlcost.render.profile import render
    from mlcost.results import Profile

    prof = Profile.from_dict(json.loads(cnn_training_json.read_text()))
    text = render(prof, "table", width=width)
    assert widest(text) <= width
    rows = _operator_lines(text)
    names = [o.op for o in prof.by_operator]
    assert "aten::max_pool2d_with_indices_backward" in names
    assert len(rows) == len(names)
    assert all(row.split()[0] == name for row, name in zip(rows, names))


def test_operator_name_ends_in_an_ellipsis_when_nothing_else_can_go(cnn_training_json):
    """At 40 columns operator and FLOPs (both always shown) do not fit whole: the longest names end in '…'
    on their own line, the FLOPs stay whole (390 M, not '39…')."""
    from mlcost.render.profile import render
    from mlcost.results import Profile

    prof = Profile.from_dict(json.loads(cnn_training_json.read_text()))
    text = render(prof, "table", width=40)
    assert widest(text) <= 40
    rows = _operator_lines(text)
    assert len(rows) == len(prof.by_operator)
    for row, o in zip(rows, prof.by_operator):
        shown = row.split()[0]
        assert shown == o.op or (shown.endswith("…") and o.op.startswith(shown[:-1]))
    assert any(row.split()[0].endswith("…") for row in rows)
    assert rows[0].split()[-1] == "M" and rows[0].split()[-2] == "390"
