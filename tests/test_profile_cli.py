"""`mlcost profile` through the CLI: MODEL forms, output formats, --output and every bad input."""
from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest

from _profile_helpers import one_error_line, write_models


@pytest.fixture
def models(tmp_path):
    return write_models(tmp_path)


def test_file_factory_json_exact(cli, models):
    r = cli("profile", f"{models}:build", "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["schema"] == "mlcost.profile/1"
    assert d["format"] == "torch"
    assert d["inputs"] == [{"shape": [2, 8], "dtype": "float32"}]
    assert d["params"]["total"] == 212  # 8*16+16 + 16*4+4
    assert d["params"]["trainable"] == 212
    assert d["params"]["by_dtype"] == {"float32": 212}
    assert d["macs"]["forward"] == 384  # 2*8*16 + 2*16*4
    assert d["flops"]["forward"] == 768  # 2 FLOPs per MAC
    assert d["flops"]["backward"] is None
    assert d["memory"]["weights_bytes"] == 848  # 212 * 4 bytes
    assert d["memory"]["training_peak_bytes"] is None
    assert d["conventions"]["flops_per_mac"] == 2
    assert sum(o["flops"] for o in d["by_operator"]) == d["flops"]["forward"]
    assert sum(o["macs"] for o in d["by_operator"]) == d["macs"]["forward"]
    assert any("meta device" in a for a in d["assumptions"])
    assert d["unsupported_ops"] == []


def test_arg_passes_literals_and_strings(cli, models):
    # hidden=32 (int literal), batch=3, tag=hello (not a literal: stays a string)
    r = cli("profile", f"{models}:build", "--arg", "hidden=32", "--arg", "batch=3", "--arg", "tag=hello", "-f", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["macs"]["forward"] == 3 * 8 * 32 + 3 * 32 * 4  # 768 + 384 = 1152
    assert d["params"]["total"] == 8 * 32 + 32 + 32 * 4 + 4  # 420


def test_package_module_factory(cli, tmp_path, monkeypatch):
    pkg = tmp_path / "h2pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_models(pkg)
    monkeypatch.chdir(tmp_path)
    r = cli("profile", "h2pkg.models_h2:build", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["macs"]["forward"] == 384  # 2*8*16 + 2*16*4
    assert r.json()["model"] == "h2pkg.models_h2:build"
    sys.modules.pop("h2pkg.models_h2", None)
    sys.modules.pop("h2pkg", None)


def test_input_shape_for_bare_module(cli, models):
    r = cli("profile", f"{models}:bare", "--input-shape", "3,8", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["macs"]["forward"] == 3 * 8 * 16 + 3 * 16 * 4  # 576
    assert r.json()["inputs"] == [{"shape": [3, 8], "dtype": "float32"}]


def test_int_input_dtype_makes_token_ids(cli, models):
    r = cli("profile", f"{models}:embed", "--input-shape", "1,5", "--input-dtype", "int64", "-f", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["inputs"] == [{"shape": [1, 5], "dtype": "int64"}]
    assert d["macs"]["forward"] == 5 * 4 * 2  # 40: the lookup costs no MACs
    assert d["params"]["total"] == 10 * 4 + 4 * 2  # 48


def test_device_cpu_runs_real_tensors(cli, models):
    r = cli("profile", f"{models}:build", "--device", "cpu", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["macs"]["forward"] == 384  # same count as on meta
    assert not any("meta device" in a for a in r.json()["assumptions"])


def test_csv_layout_rows_sum_to_total(cli, models):
    r = cli("profile", f"{models}:build", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["section", "name", "detail", "calls", "params", "flops", "macs", "flops_backward", "value"]
    total = next(x for x in rows if x["section"] == "total" and x["name"] == "forward")
    assert (int(total["flops"]), int(total["macs"]), int(total["params"])) == (768, 384, 212)
    ops = [x for x in rows if x["section"] == "operator"]
    assert ops and sum(int(x["flops"]) for x in ops) == 768
    assert sum(int(x["macs"]) for x in ops) == 384
    conv = {x["name"]: x["value"] for x in rows if x["section"] == "convention"}
    assert conv["flop"] == "1 multiply-add (MAC) = 2 FLOPs"
    assert {"section": "meta", "name": "schema"}.items() <= rows[0].items()
    assert rows[0]["value"] == "mlcost.profile/1"


def test_markdown_and_table_state_convention(cli, models):
    md = cli("profile", f"{models}:build", "-f", "markdown")
    assert md.exit_code == 0, md.stderr
    assert "1 multiply-add (MAC) = 2 FLOPs" in md.stdout
    assert "### Unsupported operators (not counted)" in md.stdout
    assert "| **forward** | 768 FLOPs (768 FLOPs, 384 MACs) |" in md.stdout
    table = cli("profile", f"{models}:build")
    assert table.exit_code == 0, table.stderr
    assert "1 multiply-add (MAC) = 2 FLOPs" in table.stdout
    assert "384 MACs" in table.stdout and re.search(r"^unsupported ops +none$", table.stdout, re.M)
    assert table.stderr == ""


def test_output_writes_file(cli, models, tmp_path):
    out = tmp_path / "p.json"
    r = cli("profile", f"{models}:build", "-f", "json", "--output", str(out))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert json.loads(out.read_text())["macs"]["forward"] == 384
    # A user's non-output file is never overwritten.
    keep = tmp_path / "model.py"
    keep.write_text("precious")
    one_error_line(cli("profile", f"{models}:build", "--output", str(keep)))
    assert keep.read_text() == "precious"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{tmp}/missing.py:build"], "no such file"),
        ([" "], "no such file or directory: ' '"),  # a blank name is quoted (it read 'directory:  ')
        (["{tmp}/weird.xyz"], "unknown model format"),
        (["{models}:nope"], "no factory named 'nope'"),
        (["{models}:boom"], "kaboom from the factory"),
        (["{models}:not_a_model"], "must return an nn.Module"),
        (["{models}:build", "--input-shape", "2,5"], "on its inputs"),
        (["{models}:bare"], "needs 1 input(s) (x)"),
        (["{models}:bare", "--input-shape", "a,b"], "--input-shape"),
        (["{models}:bare", "--input-shape", "2,8", "--input-dtype", "float99"], "unknown --input-dtype"),
        (["{models}:build", "--arg", "=3"], "expected NAME=VALUE"),
        (["{models}:build", "--arg", "nonsense=1"], "unexpected keyword argument"),
        (["{models}:build", "--format", "yaml"], "unknown --format"),
        (["{models}:build", "--backend", "magic"], "unknown --backend"),
        (["{models}:build", "--device", "warp"], "--device"),
        (["no_such_pkg_h2.mod:build"], "no module named 'no_such_pkg_h2'"),
        (["{tmp}/rand.pt"], "random bytes"),
        (["{tmp}/reduce.pt"], "not a readable torch.save file (corrupt, truncated or random bytes)"),
        (["{tmp}/trunc.pt"], "corrupt"),
        (["{tmp}/syntax.py:build"], "SyntaxError"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, models, tmp_path, args, needle):
    (tmp_path / "weird.xyz").write_bytes(b"hello")
    (tmp_path / "rand.pt").write_bytes(bytes(range(7, 250)) * 5)
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    (tmp_path / "reduce.pt").write_bytes(b"R" * 64)  # pickle REDUCE on an empty stack: torch raises IndexError
    (tmp_path / "syntax.py").write_text("def build(:\n")
    argv = [a.format(tmp=tmp_path, models=models) for a in args]
    line = one_error_line(cli("profile", *argv))
    assert needle in line, line


def test_data_dependent_model_on_meta_points_to_device_cpu(cli, tmp_path):
    (tmp_path / "dd.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class D(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 8)\n"
        "    def forward(self, x):\n        return self.a(x) if x.sum() > 0 else self.b(x)\n"
        "def build():\n    return D(), (torch.ones(2, 4),)\n")
    line = one_error_line(cli("profile", f"{tmp_path / 'dd.py'}:build"))
    assert "meta tensors" in line and "--device cpu" in line, line
    d = cli("profile", f"{tmp_path / 'dd.py'}:build", "--device", "cpu", "-f", "json").json()
    assert d["macs"]["forward"] == 2 * 4 * 4  # 32: ones sum > 0, so only branch a runs


def test_debug_env_shows_traceback(cli, models):
    r = cli("profile", f"{models}:boom", env={"MLCOST_DEBUG": "1"})
    assert r.exit_code == 2
    assert "Traceback" in r.stderr and "kaboom from the factory" in r.stderr


def test_help_lists_options(cli):
    r = cli("profile", "--help")
    assert r.exit_code == 0
    for opt in ("--input-shape", "--input-dtype", "--arg", "--device", "--backend", "--training", "--optimizer",
                "--precision", "--depth", "--strict", "--trust-pickle", "--format", "--output", "--as", "--dim",
                "--seq-len", "--batch-size", "--trust-remote-code"):
        assert opt in r.stdout, opt




def _tiny(name: str) -> str:
    from pathlib import Path

    return f"{Path(__file__).parent / 'models' / 'tiny.py'}:{name}"


def test_unsupported_ops_listed_in_every_format(cli):
    model = _tiny("build_unsupported")  # torch.fft.rfft twice in module "spectral" (aten::_fft_r2c in dispatch)
    d = cli("profile", model, "-f", "json").json()
    assert d["unsupported_ops"] == [{"op": "aten::_fft_r2c", "module": "spectral", "count": 2}]
    assert d["macs"]["forward"] == 2 * 8 * 8  # 128: only the Linear is counted
    rows = list(csv.DictReader(io.StringIO(cli("profile", model, "-f", "csv").stdout)))
    assert [(r["name"], r["detail"], r["calls"]) for r in rows if r["section"] == "unsupported"] == [("aten::_fft_r2c", "spectral", "2")]
    md = cli("profile", model, "-f", "markdown").stdout
    assert "| `aten::_fft_r2c` | `spectral` | 2 |" in md
    table = cli("profile", model).stdout
    assert "unsupported operators (not counted)" in table and "aten::_fft_r2c" in table and "spectral" in table


def test_strict_fails_on_unsupported(cli):
    line = one_error_line(cli("profile", _tiny("build_unsupported"), "--strict"))
    assert "aten::_fft_r2c" in line


def test_training_measures_backward(cli, models):
    d = cli("profile", f"{models}:build", "--training", "--optimizer", "adam", "-f", "json").json()
    # backward: fc2 grad_input 2*4*16 + fc2 grad_weight 4*2*16 + fc1 grad_weight 16*2*8 = 512 MACs = 1024 FLOPs,
    # plus the bias gradients' sums over the batch: 2*4 + 2*16 = 40 FLOPs (the input needs no gradient)
    assert d["flops"]["backward"] == 2 * (2 * 4 * 16 + 4 * 2 * 16 + 16 * 2 * 8) + (2 * 4 + 2 * 16)  # 1064
    assert d["flops"]["training_step"] == d["flops"]["forward"] + d["flops"]["backward"]
    t = d["memory"]["training"]
    assert t["optimizer_states_bytes"] == 212 * 8 + 4 * 4  # adam: two fp32 moments per parameter + a step scalar per tensor
    assert d["memory"]["training_peak_bytes"] >= 848 + 848 + 212 * 8  # weights + grads + states


def test_backends_agree(cli, models):
    fv = cli("profile", f"{models}:build", "--backend", "fvcore", "-f", "json").json()
    th = cli("profile", f"{models}:build", "--backend", "torch", "-f", "json").json()
    assert (fv["backend"], th["backend"]) == ("fvcore", "torch")
    assert fv["macs"]["forward"] == th["macs"]["forward"] == 384  # 2*8*16 + 2*16*4


def test_markdown_module_table_shows_backward_with_training(cli, models):
    md = cli("profile", f"{models}:build", "--training", "-f", "markdown").stdout
    assert "| module | type | params | FLOPs | MACs | backward FLOPs |" in md
    # backward 2*(2*4*16 + 4*2*16 + 16*2*8) + bias sums 2*4 + 2*16 = 1,064 (as test_training_measures_backward)
    assert "| (root) | Two | 212 | 768 | 384 | 1,064 |" in md
    plain = cli("profile", f"{models}:build", "-f", "markdown").stdout
    assert "| module | type | params | FLOPs | MACs |\n" in plain


def test_backend_fvcore_on_meta_conv_points_to_device_cpu(cli):
    conv = ["torch.nn:Conv2d", "--arg", "in_channels=3", "--arg", "out_channels=8", "--arg", "kernel_size=3",
            "--input-shape", "1,3,32,32", "--backend", "fvcore"]
    line = one_error_line(cli("profile", *conv))
    assert "--backend torch" in line and "--device cpu" in line, line
    d = cli("profile", *conv, "--device", "cpu", "-f", "json").json()
    assert d["backend"] == "fvcore" and d["macs"]["forward"] == 8 * 30 * 30 * 3 * 3 * 3  # 194,400


def test_identical_numbered_blocks_fold_into_one_row_in_table_and_markdown(cli):
    """tests/models/llama.py's small decoder has two identical blocks: shown once, 'layers.0–1 ×2 (each)',
    with the first block's children standing for each; JSON keeps every module."""
    spec = f"{Path(__file__).parent / 'models' / 'llama.py'}:build_small"
    table = cli("profile", spec, "--depth", "3")
    assert table.exit_code == 0, table.stderr
    # the tree names each module relative to its parent: "layers" > "0–1 ×2 (each)" > "attention"
    assert re.search(r"^├─ layers +ModuleList", table.stdout, re.M) and "0–1 ×2 (each)" in table.stdout
    assert re.search(r"^│  └─ 0–1 ×2 \(each\) +Block", table.stdout, re.M) and "layers.1" not in table.stdout
    assert re.search(r"^│     ├─ attention +Attention", table.stdout, re.M)
    md = cli("profile", spec, "--depth", "3", "--format", "markdown").stdout
    assert "`layers.0–1 ×2 (each)`" in md and "`layers.1" not in md
    data = cli("profile", spec, "--format", "json").json()
    rows = {r["name"]: r for r in data["by_module"]}
    assert rows["layers.0"]["flops"] == rows["layers.1"]["flops"] > 0 and "layers.1.attention" in rows


@pytest.mark.parametrize("args, message", [
    # a batch of 1e19 reached torch.zeros and overflowed its int64 sizes (exit 70, 'internal error'); a KV cache
    # at 1e33 tokens and 1e26 GPUs were accepted past the 1e30 bound every option keeps
    (["--batch-size", str(10**19)], "--batch-size must be a whole number from 1 to 2,147,483,647, "
                                    "got 10000000000000000000"),
    (["--kv-tokens", str(10**33)], "--kv-tokens must be a whole number from 1 to 2,147,483,647, "
                                   "got an integer of 34 digits"),
    (["--training", "--gpus", str(10**26)], "--gpus must be a whole number from 1 to 2,147,483,647, "
                                            "got an integer of 27 digits"),
    (["--seq-len", "0"], "--seq-len must be a whole number from 1 to 2,147,483,647, got 0"),
])
def test_sizes_are_bounded_in_one_line(cli, tmp_path, args, message):
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text(json.dumps(dict(
        model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=1000, hidden_size=64,
        intermediate_size=128, num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=256)))
    assert one_error_line(cli("profile", tmp_path, *args)) == f"mlcost: error: {message}"


def test_input_shape_dimension_is_bounded(cli, models):
    line = one_error_line(cli("profile", f"{models}:bare", "--input-shape", f"2,{10**27}"))
    assert line == (f"mlcost: error: --input-shape '2,{10**27}': each dimension must be a whole number from 1 to "
                    "2,147,483,647, got an integer of 28 digits")
