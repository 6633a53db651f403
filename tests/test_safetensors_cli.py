"""`mlcost profile` on safetensors, GGUF and Hugging Face inputs, through the CLI with exact JSON."""
from __future__ import annotations

import json

import pytest

from test_safetensors import llama2_7b_tensors, write_sharded, write_st
from _cli import run as run_err


def test_profile_sharded_llama_json(cli, tmp_path):
    write_sharded(tmp_path, llama2_7b_tensors(), shards=2)
    r = cli("profile", tmp_path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["schema"] == "mlcost.profile/1" and d["format"] == "safetensors" and d["backend"] == "header"
    assert d["params"]["total"] == d["params"]["trainable"] == 6_738_415_616
    assert d["params"]["bytes_by_dtype"] == {"bfloat16": 13_476_831_232}
    assert d["memory"]["weights_bytes"] == 13_476_831_232
    assert d["flops"] == {"forward": None, "backward": None, "training_step": None}
    assert d["details"]["files"] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    rows = {r["name"]: r for r in d["by_module"]}
    assert rows[""]["params"] == 6_738_415_616 and rows["model.layers.31"]["params"] == 202_383_360


def test_profile_table_and_as_override(cli, tmp_path):
    p = tmp_path / "weights.bin"
    write_st(p, {"a.weight": ("F16", (4, 4))})
    r = cli("profile", p, "--as", "safetensors", "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["params"]["by_dtype"] == {"float16": 16}
    t = cli("profile", p, "--as", "safetensors")
    assert t.exit_code == 0 and "16" in t.stdout


@pytest.mark.parametrize("raw,message", [(b"\x01", "truncated"), (b"\xff" * 8 + b"{}", "exceeds")])
def test_bad_file_is_one_line_exit_2(cli, tmp_path, raw, message):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(raw)
    code, out, err = run_err("profile", p, "--format", "json")
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("mlcost: error: ")


def test_gguf_cli(cli, tmp_path):
    pytest.importorskip("gguf")
    from test_gguf import write_gguf

    r = cli("profile", write_gguf(tmp_path / "t.gguf"), "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["format"] == "gguf" and d["params"]["total"] == 14912
    assert d["details"]["bytes_by_type"] == {"F16": 8192, "F32": 10496, "Q8_0": 8704}


def test_hf_cli(cli, tmp_path):
    pytest.importorskip("transformers")
    from test_hf import TINY_MIXTRAL, write_config

    folder = write_config(tmp_path / "mx", TINY_MIXTRAL)
    r = cli("profile", folder, "--seq-len", "16", "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["format"] == "hf" and d["params"]["total"] == 350_016 and d["params"]["active"] == 251_712
    assert d["inputs"] == [{"shape": [1, 16], "dtype": "int64", "name": "input_ids"}]
    assert d["details"]["moe"]["experts_per_token"] == 2
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "auto_map": {"AutoModel": "m.M"}}))
    code, _, err = run_err("profile", folder, "--format", "json")
    assert code == 2 and "--trust-remote-code" in err
