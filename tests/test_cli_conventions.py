"""Ecosystem conventions of the CLI: choices as Enums (help lists them; the library checks the same sets),
-V, shell completion, the output format from -o's suffix, and no two outputs of one run in one file."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from _cli import run_cli
from mlcost import choices

ROOT = Path(__file__).resolve().parent.parent
LINEAR = f"{ROOT / 'tests' / 'models' / 'tiny.py'}:build_unsupported"
CNN = f"{ROOT / 'examples' / 'cnn.py'}:build"


def test_version_short_and_long():
    from mlcost import __version__

    for flag in ("-V", "--version"):
        r = run_cli(flag)
        assert r.exit_code == 0 and r.stdout == f"mlcost {__version__}\n"


def test_completion_is_offered():
    r = run_cli("--help")
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout


@pytest.mark.parametrize("command, option, enum", [
    ("profile", "--backend", choices.Backend), ("profile", "--optimizer", choices.Optimizer),
    ("profile", "--precision", choices.TrainingPrecision), ("profile", "--format", choices.ProfileFormat),
    ("profile", "--as", choices.ModelFormat), ("compute", "--precision", choices.RunPrecision),
    ("carbon", "--precision", choices.RunPrecision),
    ("compute", "--format", choices.EstimateFormat), ("carbon", "--method", choices.CarbonMethod),
    ("check", "--format", choices.CheckFormat), ("reference", "--format", choices.ReferenceFormat),
    ("track", "--by", choices.LedgerGroup),
])
def test_help_lists_every_choice(command, option, enum):
    r = run_cli(command, "--help", env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "|".join(choices.values(enum)) in r.stdout, r.stdout
    bad = run_cli(command, *(["x.py:f"] if command == "profile" else []), option, "nope")
    assert bad.exit_code == 2 and len(bad.stderr.splitlines()) == 1, bad.stderr
    assert f"unknown {option} 'nope'; choose one of {', '.join(choices.values(enum))}" in bad.stderr


def test_library_checks_the_same_sets():
    import mlcost
    from mlcost.errors import UsageError

    with pytest.raises(UsageError, match="unknown backend 'nope'; choose one of auto, fvcore, torch"):
        mlcost.profile(CNN, backend="nope")
    # a member works as its value everywhere
    assert choices.choose(choices.Backend, choices.Backend.TORCH, "backend") == "torch"
    assert f"{choices.Backend.TORCH}" == "torch" and str(choices.CarbonMethod.STRUBELL2019) == "strubell2019"


def test_output_format_follows_the_suffix(tmp_path):
    for name, check in (("p.json", lambda t: json.loads(t)["schema"] == "mlcost.profile/1"),
                        ("p.csv", lambda t: next(csv.reader(io.StringIO(t)))[0] == "section"),
                        ("p.md", lambda t: t.startswith("## mlcost profile")),
                        ("p.txt", lambda t: t.startswith("mlcost profile: "))):
        r = run_cli("profile", LINEAR, "-o", tmp_path / name)
        assert r.exit_code == 0, r.stderr
        assert check((tmp_path / name).read_text()), name
    # -f wins over the suffix
    r = run_cli("profile", LINEAR, "-f", "csv", "-o", tmp_path / "forced.json")
    assert r.exit_code == 0 and (tmp_path / "forced.json").read_text().startswith("section,")
    r = run_cli("compute", "--params", "1e9", "--tokens", "1e9", "-o", tmp_path / "c.json")
    assert r.exit_code == 0 and json.loads((tmp_path / "c.json").read_text())["schema"] == "mlcost.compute/1"
    r = run_cli("carbon", "--energy-kwh", "10", "-o", tmp_path / "e.md")
    assert r.exit_code == 0 and (tmp_path / "e.md").read_text().startswith("| ")


def test_one_file_is_never_two_outputs_of_one_run(tmp_path):
    target = tmp_path / "t.png"
    r = run_cli("compute", "--params", "1e9", "--tokens", "1e9", "--plot", target, "-o", target)
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1 and "--plot and --output name the same file" in r.stderr
    assert not target.exists()
    prof = tmp_path / "p.json"
    assert run_cli("profile", LINEAR, "-o", prof).exit_code == 0
    before = prof.read_bytes()
    r = run_cli("compute", "--profile", prof, "--samples", "10", "-o", prof)
    assert r.exit_code == 2 and "is the file --profile reads" in r.stderr and prof.read_bytes() == before


def test_csv_has_every_module_whatever_the_depth():
    rows = list(csv.DictReader(io.StringIO(run_cli("profile", CNN, "--input-shape", "1,3,224,224", "-f", "csv").stdout)))
    modules = [r["name"] for r in rows if r["section"] == "module"]
    # root, features, 4 stages x (conv, bn, relu, pool) + the stages themselves, pool, classifier: 1+1+4*5+2
    assert len(modules) == 24 and "features.3.1" in modules


# typer turned '' into Path('.'): `track --summary ''` read the working folder as a ledger, `-o ''` said '.'
@pytest.mark.parametrize("args, name", [
    (["track", "--summary", ""], "--summary"),
    (["track", "--estimate", "", "--", "true"], "--estimate"),
    (["track", "--ledger", "", "--", "true"], "--ledger"),
    (["compute", "--params", "7B", "--tokens", "1T", "--plot", ""], "--plot"),
    (["compute", "--profile", "", "--samples", "1"], "--profile"),
    (["compute", "", "--samples", "1"], "MODEL"),
    (["carbon", "--gpu", "a100", "--hours", "1", "-o", ""], "--output"),
    (["carbon", "--gpu", "a100", "--hours", "1", "--output="], "--output"),
    (["carbon", "--compute-json", ""], "--compute-json"),
    (["carbon", "--gpu", "a100", "--hours", "1", "--ledger", ""], "--ledger"),
    (["profile", ""], "MODEL"),
    (["profile", LINEAR, "--chip", "a100", "--plot", ""], "--plot"),
    (["infer", "", "--chip", "a100", "--prompt-tokens", "1", "--new-tokens", "1"], "MODEL"),
    (["check", "-c", ""], "--config"),
    (["check", "--baseline", ""], "--baseline"),
    (["check", "--save-baseline", ""], "--save-baseline"),
])
def test_an_empty_path_is_refused_by_name(tmp_path, monkeypatch, args, name):
    monkeypatch.chdir(tmp_path)  # the folder '' used to stand for: nothing may be read or written there
    r = run_cli(*args)
    assert (r.exit_code, r.stderr, r.stdout) == (2, f"mlcost: error: {name}: empty path\n", "")
    assert list(tmp_path.iterdir()) == []


def test_every_path_option_and_argument_is_guarded():
    """The guard is one command class for every command; this lists what it covers, so a new path option
    is covered (typed Path, or text with path_type=str) and a change in typer's internals is noticed."""
    import typer.main

    from mlcost.cli import app
    from mlcost.cli._options import Command, names_a_path

    group = typer.main.get_command(app)
    assert all(isinstance(c, Command) for c in group.commands.values())
    covered = {(n, p.opts[0] if p.opts[0].startswith("-") else p.name.upper())
               for n, c in group.commands.items() for p in c.params if names_a_path(c, p)}
    assert covered == {
        ("carbon", "--compute-json"), ("carbon", "--ledger"), ("carbon", "--output"), ("check", "--config"),
        ("check", "--baseline"), ("check", "--save-baseline"), ("check", "--output"), ("compute", "MODEL"),
        ("compute", "--profile"), ("compute", "--output"), ("compute", "--plot"), ("infer", "MODEL"),
        ("infer", "--output"), ("profile", "MODEL"), ("profile", "--output"), ("profile", "--plot"),
        ("track", "--ledger"), ("track", "--estimate"), ("track", "--summary")}


def test_precision_is_the_runs_precision_in_every_command(cli, tmp_path):
    """compute/carbon --precision named a chip's peak column (fp32 ... int8) and profile --precision the training
    step (fp32, bf16, mixed, amp): `--precision mixed` was refused by compute and carbon.  Now it is the run's
    precision everywhere: compute and carbon time mixed/amp at the chip's 16-bit tensor peak (bf16 where
    hardware.csv has one, else fp16, else fp32), said in an assumption, and take the peak columns as before;
    profile refuses the chip-only values by name."""
    def timed(gpu, precision, *more):
        r = cli("compute", "--params", "7B", "--tokens", "1T", "--gpu", gpu, "--precision", precision, *more, "-f", "json")
        assert r.exit_code == 0, r.stderr
        d = r.json()
        return d["accelerator"]["precision"], d["accelerator"]["peak_flops_per_s"] / 1e12, d["assumptions"]

    # A100: bf16 312 TFLOP/s; V100 has no bf16 peak: fp16 125; K80 has no 16-bit peak: fp32 8.73 (hardware.csv)
    for gpu, column, tflops in (("a100", "bf16", 312), ("v100", "fp16", 125), ("k80", "fp32", 8.73)):
        for precision in ("mixed", "amp", "AMP"):
            col, peak, assumptions = timed(gpu, precision)
            assert (col, peak) == (column, tflops)
            assert sum(a.startswith(f"--precision {precision.lower()}: timed at the {column} peak")
                       for a in assumptions) == 1, assumptions
        assert timed(gpu, column)[:2] == (column, tflops)  # a column is still that column, with no such line
        assert not any(a.startswith("--precision") for a in timed(gpu, column)[2])
    assert timed("h100", "fp8")[:2] == ("fp8", 1978.9)

    # carbon --flops: amp on a V100 takes the hours fp16 takes: 1e21 / (125e12 x 0.33) / 3600 = 6,734 h
    def carbon(precision):
        r = cli("carbon", "--flops", "1e21", "--gpu", "v100", "--precision", precision, "-f", "json")
        assert r.exit_code == 0, r.stderr
        return r.json()
    amp, fp16 = carbon("amp"), carbon("fp16")
    assert amp["energy"]["hours"] == fp16["energy"]["hours"] == pytest.approx(1e21 / (125e12 * 0.33) / 3600)
    assert amp["energy"]["precision"] == "fp16"
    assert "--precision amp: timed at the fp16 peak, the chip's 16-bit tensor peak (mixed precision runs its " \
           "matmuls in 16 bits; V100-SXM2 publishes no bf16 peak)" in amp["assumptions"]

    # a compute JSON's "precision" is still a peak column, so old and new files read back the same
    out = tmp_path / "c.json"
    assert cli("compute", "--params", "7B", "--tokens", "1T", "--gpu", "a100", "--precision", "mixed", "-o", out
               ).exit_code == 0
    assert json.loads(out.read_text())["accelerator"]["precision"] == "bf16"
    r = cli("carbon", "--compute-json", out, "-f", "json")
    assert r.exit_code == 0 and r.json()["energy"]["precision"] == "bf16", r.stderr

    r = cli("profile", LINEAR, "--training", "--precision", "fp16")
    assert (r.exit_code, r.stderr) == (2, "mlcost: error: --precision fp16 is a chip peak precision (compute, "
                                          "carbon); profile's training precisions are fp32, bf16, mixed, amp "
                                          "(see: mlcost profile --help)\n")


def test_a_chip_peak_precision_in_profile_or_infer_is_named_as_one():
    """fp8 (like tf32, fp16, int8) is a valid --precision of compute and carbon, a chip's peak column:
    profile and infer said only 'unknown --precision 'fp8''.  Now one line says what it is and what this
    command takes, exit 2; a value that is no precision anywhere is still 'unknown'."""
    from mlcost.errors import UsageError
    from mlcost.profiling import make_options

    r = run_cli("profile", LINEAR, "--precision", "fp8")
    assert (r.exit_code, r.stderr) == (2, "mlcost: error: --precision fp8 is a chip peak precision (compute, "
                                          "carbon); profile's training precisions are fp32, bf16, mixed, amp "
                                          "(see: mlcost profile --help)\n")
    r = run_cli("infer", LINEAR, "--chip", "h100", "--precision", "INT8")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "--precision int8 is a chip peak precision (compute, carbon); infer's weight precisions are fp32, " \
           "bf16" in r.stderr
    r = run_cli("profile", LINEAR, "--precision", "fp9")
    assert r.exit_code == 2 and "unknown --precision 'fp9'; choose one of fp32, bf16, mixed, amp" in r.stderr
    with pytest.raises(UsageError, match=r"^--precision tf32 is a chip peak precision \(compute, carbon\); "
                                         r"profile's training precisions are fp32, bf16, mixed, amp$"):
        make_options(precision="tf32")
    # compute still takes it
    assert run_cli("compute", "--params", "7B", "--tokens", "1T", "--gpu", "h100", "--precision", "fp8").exit_code == 0
