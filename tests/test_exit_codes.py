"""Whose fault is it: the user's input, model or machine is one line and exit 2; a bug in mlcost is exit 70
("internal error ... please report", the traceback with MLCOST_DEBUG=1), decided by where the exception was
raised (mlcost.errors.raised_in_mlcost), not by catching everything as input error."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from mlcost.errors import raised_in_mlcost


def one_line(r, code: int = 2) -> str:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_origin_is_the_frame_that_raised():
    import mlcost.units as units

    try:
        units.parse_number(None, "x")  # raises inside mlcost (a UsageError, but the rule does not care)
    except Exception as exc:
        assert raised_in_mlcost(exc)
    try:
        json.loads("{")  # the standard library, called from here
    except ValueError as exc:
        assert not raised_in_mlcost(exc)
    try:
        open(os.path.dirname(units.__file__))  # raised by a C call from this file: an OSError is never ours
    except OSError as exc:
        assert not raised_in_mlcost(exc)


MODEL = """\
import torch
from torch import nn


class Broken(nn.Module):
    def forward(self, x):
        raise ValueError("the user's own bug")


def broken():
    return Broken(), (torch.zeros(2, 8),)


def mlp():
    return nn.Sequential(nn.Linear(8, 4)), (torch.zeros(2, 8),)
"""


@pytest.fixture
def model_file(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    return path


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_a_fault_in_a_counting_formula_is_an_internal_error(model_file, cli, monkeypatch, backend):
    from mlcost.counting import formulas

    # every matmul formula reads its tensors through _t: a formula that calls None raises inside formulas.py
    monkeypatch.setattr(formulas, "_t", None)
    r = cli("profile", f"{model_file}:mlp", "--backend", backend)
    err = one_line(r, 70)
    assert err.startswith("mlcost: internal error: TypeError: 'NoneType' object is not callable; this is a bug in mlcost")
    assert "please report" in err
    debug = cli("profile", f"{model_file}:mlp", "--backend", backend, env={"MLCOST_DEBUG": "1"})
    assert debug.exit_code == 70 and "Traceback" in debug.stderr and "formulas.py" in debug.stderr


def test_the_users_model_raising_is_the_users_error(model_file, cli):
    err = one_line(cli("profile", f"{model_file}:broken"))
    assert "the model failed" in err and "ValueError: the user's own bug" in err
    assert "Traceback" in cli("profile", f"{model_file}:broken", env={"MLCOST_DEBUG": "1"}).stderr
    err = one_line(cli("profile", f"{model_file}:mlp", "--arg", "nonsense=1"))  # TypeError at mlcost's call
    assert "unexpected keyword argument 'nonsense'" in err


@pytest.mark.parametrize(("args", "words"), [
    (("check", "--formt", "x"), ("no such option", "--formt")),
    (("compute", "--batch-size", "abc"), ("invalid value", "--batch-size")),  # carbon --count is text now (a number)
    (("profile",), ("missing argument", "model")),
    (("nosuchcommand",), ("no such command", "nosuchcommand")),
])
def test_usage_errors_are_one_line(cli, args, words):
    err = one_line(cli(*args))  # click's words (its wording varies by version), on one line, with the way to help
    assert err.startswith("mlcost: error: ") and err.rstrip().endswith("--help)")
    assert all(w in err.lower() for w in words), err


@pytest.mark.parametrize(("exc", "message"), [
    (OSError(errno.ENOSPC, "No space left on device"), "mlcost: error: write error: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/out.json"), "mlcost: error: /x/out.json: Permission denied"),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), "mlcost: error: the output pipe was closed"),
])
def test_the_machines_errors_are_one_line_exit_2(cli, monkeypatch, exc, message):
    import mlcost.render

    def emit(text, output=None, **kw):
        raise exc

    monkeypatch.setattr(mlcost.render, "emit", emit)
    assert one_line(cli("carbon", "--energy-kwh", "1")).startswith(message)


def _mlcost(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlcost", *args], capture_output=kw.pop("stdout", None) is None,
                          text=True, timeout=120, **kw)


def test_stdout_on_dev_full_and_a_closed_pipe(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "mlcost", "carbon", "--energy-kwh", "1"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (2, "mlcost: error: write error: No space left on device\n")
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    with os.fdopen(write, "w") as pipe:
        done = subprocess.run([sys.executable, "-m", "mlcost", "carbon", "--energy-kwh", "1"], stdout=pipe,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("mlcost: error: the output pipe was closed"), done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (("carbon", "--energy-kwh", "1e308"), "--energy-kwh: '1e308' is out of range (more than 1e+30 in magnitude)"),
    (("carbon", "--gpu", "a100", "--count", str(10**400), "--hours", "1"), "' is out of range (more than 1e+30 in magnitude)"),
    (("carbon", "--energy-kwh", "1", "--intensity", "-inf"), "--intensity: '-inf' is not a finite number"),
    (("compute", "--params", "1e30", "--tokens", "1e31"), "--tokens: '1e31' is out of range"),
    (("compute", "--gpu", "a100", "--hours", "1e300"), "--hours: '1e300' is out of range"),
])
def test_absurd_numbers_are_refused_by_name(cli, args, message):
    assert message in one_line(cli(*args))


def test_the_largest_accepted_numbers_stay_finite(cli):
    # 1e30 kWh at 1e30 g/kWh: 1e57 kg, finite (every input is bounded, so no product overflows to inf)
    data = cli("carbon", "--energy-kwh", "1e30", "--intensity", "1e30", "--format", "json").json()
    assert data["co2e_kg"] == pytest.approx(1e57)
    out = cli("compute", "--params", "1e30", "--tokens", "1e30", "--format", "json").json()
    assert out["flops"] == 6 * 10**60  # C = 6 N D, exact in integers


@pytest.mark.parametrize("text", [
    '{"schema": "mlcost.compute/1", "flops": NaN}',
    '{"schema": "mlcost.compute/1", "flops": Infinity}',
    '{"schema": "mlcost.compute/1", "flops": 1e999}',
    '{"schema": "mlcost.compute/1", "flops": ' + "9" * 5000 + "}",  # past Python's int digit limit
])
def test_non_finite_compute_json_is_refused(cli, tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    err = one_line(cli("carbon", "--compute-json", path, "--gpu", "a100"))
    assert "--compute-json" in err and "not a finite number" in err


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(params="x"), lambda d: d["flops"].update(forward=float("nan")),
    lambda d: d.update(by_module=[{"name": 5}]), lambda d: d.update(inputs=[{"shape": 7}]),
])
def test_a_tampered_profile_json_is_the_users_error(model_file, cli, tmp_path, mutate):
    profile = cli("profile", f"{model_file}:mlp", "--format", "json").json()
    mutate(profile)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile))  # json.dumps writes NaN as NaN, which the reader refuses
    one_line(cli("compute", "--profile", path, "--samples", "100"))


def test_a_ledger_with_nan_is_refused(cli, tmp_path):
    from mlcost.track import append_row

    ledger = tmp_path / "l.csv"
    append_row(ledger, {"start_time": "t1", "duration_s": "1", "energy_kwh": "nan", "co2e_kg": "0.1",
                        "command": "x", "exit_code": "0"})
    assert "'nan' is not a finite number" in one_line(cli("carbon", "--energy-kwh", "1", "--ledger", ledger))


def test_hf_config_with_architectures_5_is_the_users_error(cli, tmp_path):
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text(json.dumps(dict(
        model_type="gpt2", vocab_size=100, n_positions=16, n_embd=8, n_layer=1, n_head=2, architectures=5)))
    err = one_line(cli("profile", tmp_path))  # transformers may refuse it first (it validates since 5.x), or mlcost
    assert "'architectures'" in err


def test_a_folder_where_a_file_belongs(cli, tmp_path):
    one_line(cli("check", "--config", tmp_path))
    one_line(cli("compute", "--profile", tmp_path, "--samples", "10"))
