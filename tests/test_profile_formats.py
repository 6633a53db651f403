"""TorchScript, torch.export and torch.save through `mlcost profile`, pickle refusal, and the library call."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import mlcost
from mlcost.errors import ModelLoadError, UsageError
from _profile_helpers import one_error_line, write_models


def _two(hidden: int = 16) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, hidden), nn.Linear(hidden, 4))


X = torch.zeros(2, 8)
MACS = 2 * 8 * 16 + 2 * 16 * 4  # 384


class _Touch:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_same_macs_module_torchscript_export(cli, tmp_path):
    model = _two()
    ts = tmp_path / "two.ts.pt"
    torch.jit.save(torch.jit.script(model), str(ts))
    ep = tmp_path / "two.pt2"
    torch.export.save(torch.export.export(model, (X,)), str(ep))

    from_module = mlcost.profile(model, X)
    r_ts = cli("profile", ts, "--input-shape", "2,8", "-f", "json")
    r_ep = cli("profile", ep, "-f", "json")
    assert r_ts.exit_code == 0, r_ts.stderr
    assert r_ep.exit_code == 0, r_ep.stderr
    assert from_module.macs_forward == MACS
    assert r_ts.json()["macs"]["forward"] == MACS
    assert r_ep.json()["macs"]["forward"] == MACS
    assert (r_ts.json()["format"], r_ep.json()["format"]) == ("torchscript", "export")
    assert r_ts.json()["params"]["total"] == r_ep.json()["params"]["total"] == 212  # 8*16+16 + 16*4+4
    assert r_ep.json()["inputs"] == [{"shape": [2, 8], "dtype": "float32"}]  # the archive's example inputs


def test_torchscript_needs_input_shape(cli, tmp_path):
    ts = tmp_path / "two.ts.pt"
    torch.jit.save(torch.jit.script(_two()), str(ts))
    assert "--input-shape" in one_error_line(cli("profile", ts))


def test_state_dict_params_dtypes_bytes(cli, tmp_path):
    model = _two()
    model[1].half()  # mixed dtypes: fc1 float32, fc2 float16
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path)
    r = cli("profile", path, "-f", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["format"] == "state_dict"
    assert d["params"]["total"] == 212  # 144 fp32 + 68 fp16
    assert d["params"]["by_dtype"] == {"float32": 8 * 16 + 16, "float16": 16 * 4 + 4}
    assert d["params"]["bytes_by_dtype"] == {"float32": 144 * 4, "float16": 68 * 2}
    assert d["memory"]["weights_bytes"] == 144 * 4 + 68 * 2  # 712
    assert d["flops"]["forward"] is None and d["macs"]["forward"] is None
    assert any("FLOPs need the architecture" in a for a in d["assumptions"])
    # --training on a file of tensors cannot be honoured: a usage error, not a profile that drops it
    t = cli("profile", path, "--training", "-f", "json")
    assert t.exit_code == 2 and t.stdout == ""
    assert t.stderr.strip() == (f"mlcost: error: --training needs a forward to run, and {path} holds tensors only "
                                "(state_dict format): profile the model's factory (file.py:build) instead")


def test_state_dict_tied_weights_counted_once(cli, tmp_path):
    model = _two(8)  # Linear(8,8) -> Linear(8,4); tie a square weight to itself via a third key
    sd = dict(model.state_dict())
    sd["alias.weight"] = model[0].weight
    path = tmp_path / "tied.pt"
    torch.save(sd, path)
    d = cli("profile", path, "-f", "json").json()
    assert d["params"]["total"] == 8 * 8 + 8 + 8 * 4 + 4  # 108: the alias shares fc1's storage


def test_pickle_refused_without_flag_and_never_runs(cli, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(3, 5), "payload": _Touch(marker)}, path)
    line = one_error_line(cli("profile", path))
    assert "refusing to unpickle" in line and "--trust-pickle" in line
    assert not marker.exists()
    # A plain (non-torch) pickle is refused the same way.
    import pickle

    legacy = tmp_path / "evil.pkl"
    legacy.write_bytes(pickle.dumps(_Touch(marker)))
    assert "refusing to unpickle" in one_error_line(cli("profile", legacy))
    assert not marker.exists()


def test_trust_pickle_loads(cli, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "trusted.pt"
    torch.save({"w": torch.zeros(3, 5), "payload": _Touch(marker)}, path)
    r = cli("profile", path, "--trust-pickle", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert marker.exists()  # the flag really is what allows code to run
    assert r.json()["params"]["total"] == 15  # 3 * 5


def test_library_call_forms(tmp_path):
    models = write_models(tmp_path)
    p = mlcost.profile(f"{models}:build", factory_args={"hidden": 32})
    assert p.macs_forward == 2 * 8 * 32 + 2 * 32 * 4  # 768
    assert p.to_dict()["schema"] == "mlcost.profile/1"
    p2 = mlcost.profile(f"{models}:bare", torch.zeros(3, 8))  # inputs given as tensors for a path
    assert p2.macs_forward == 3 * 8 * 16 + 3 * 16 * 4  # 576
    p3 = mlcost.profile(_two(), input_shapes=[(2, 8)])
    assert p3.macs_forward == MACS
    assert p3.flops_forward == 2 * MACS
    with pytest.raises(UsageError, match="unknown profile option"):
        mlcost.profile(_two(), X, bogus=1)
    with pytest.raises(UsageError, match="needs inputs"):
        mlcost.profile(_two())
    with pytest.raises(UsageError, match="unknown backend .nope.; choose one of auto, fvcore, torch"):
        mlcost.profile(_two(), X, backend="nope")
    with pytest.raises(ModelLoadError):
        mlcost.profile(f"{models}:boom")


def test_shared_tiny_model_through_all_forms(cli, tmp_path):
    """tests/models/tiny.py:build_convnet as a module, TorchScript and torch.export: same MACs."""
    spec = importlib.util.spec_from_file_location("_h2_tiny", Path(__file__).parent / "models" / "tiny.py")
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    model, (x,) = tiny.build_convnet()
    model.eval()
    ts, ep = tmp_path / "c.ts", tmp_path / "c.pt2"
    torch.jit.save(torch.jit.trace(model, (x,)), str(ts))
    torch.export.save(torch.export.export(model, (x,)), str(ep))
    a = mlcost.profile(model, x).macs_forward
    b = cli("profile", ts, "--as", "torchscript", "--input-shape", "1,3,8,8", "-f", "json").json()["macs"]["forward"]
    c = cli("profile", ep, "-f", "json").json()["macs"]["forward"]
    assert a == b == c
    # conv 8*8*8 * 3*3*3 = 13,824; convT 8*4*4 * 4*2*2 = 2,048; linear 4*2 = 8 (docstring of tiny.ConvNet)
    assert a >= 13_824 + 2_048 + 8


def test_corrupt_archives_one_line(cli, tmp_path):
    import zipfile

    bad_export = tmp_path / "bad.pt2"
    with zipfile.ZipFile(bad_export, "w") as z:
        z.writestr("bad/junk.bin", b"123")
    bad_ts = tmp_path / "bad.ts"
    with zipfile.ZipFile(bad_ts, "w") as z:
        z.writestr("bad/code/m.py", b"123")
        z.writestr("bad/constants.pkl", b"zz")
    assert "cannot load torch.export archive" in one_error_line(cli("profile", bad_export))
    assert "cannot load TorchScript archive" in one_error_line(cli("profile", bad_ts, "--input-shape", "1,2"))


def test_readme_library_example():
    p = mlcost.profile(nn.Linear(4, 3), torch.zeros(2, 4))
    assert (p.macs_forward, p.flops_forward) == (2 * 4 * 3, 2 * 2 * 4 * 3)  # (24, 48)
    assert mlcost.Profile.from_dict(p.to_dict()) == p


def test_export_archive_fills_module_rows_torchscript_says_it_cannot(cli, tmp_path):
    model = _two()  # Sequential(Linear(8,16), Linear(16,4)) on (2, 8)
    ep = tmp_path / "two.pt2"
    torch.export.save(torch.export.export(model, (X,)), str(ep))
    d = cli("profile", ep, "--training", "-f", "json").json()
    rows = {r["name"]: r for r in d["by_module"]}
    assert rows["0"]["flops"] == 2 * 2 * 8 * 16 and rows["1"]["flops"] == 2 * 2 * 16 * 4  # 512, 256: were 0
    # backward: layer 0 grad-weight only (the input needs no grad) + bias sum; layer 1 grad-input + grad-weight
    assert rows["0"]["flops_backward"] == 2 * 2 * 8 * 16 + 2 * 16
    assert rows["1"]["flops_backward"] == 2 * 2 * (2 * 16 * 4) + 2 * 4
    ts = tmp_path / "two.ts.pt"
    torch.jit.save(torch.jit.script(model), str(ts))
    t = cli("profile", ts, "--input-shape", "2,8", "-f", "json").json()
    assert t["macs"]["forward"] == MACS and any(a.startswith("by_module: a TorchScript archive") for a in t["assumptions"])
