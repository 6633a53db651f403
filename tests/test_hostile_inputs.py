"""Hostile inputs against every reader and every path or number option: each run is a real `mlcost`
process under a memory cap and a timeout, and must end with exit 2 and exactly one stderr line (no
traceback), within HOSTILE_SECONDS and PEAK_RSS_BYTES, touching nothing outside its own folder.

One small generated file per bound (limits.py names them); nothing is checked in.
"""
from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from _hostile import HOSTILE_SECONDS, PEAK_RSS_BYTES, run_bounded, snapshot

GiB = 1 << 30


def _sparse(path: Path, size: int = GiB) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)  # holes: no disk used
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _safetensors(path: Path, name: str = "w") -> Path:
    header = json.dumps({name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    return path


def _gguf_deep_name(path: Path) -> Path:
    name = ".".join(["a"] * 20_000).encode()
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + struct.pack("<Q", len(name)) + name
    head += struct.pack("<I", 1) + struct.pack("<Q", 32) + struct.pack("<IQ", 0, 0)
    head += b"\0" * (-len(head) % 32)
    path.write_bytes(head + b"\0" * 128)
    return path


def _zip_bomb(path: Path, lie: bool) -> Path:
    """A torch.save-looking zip whose data.pkl inflates to 300 MiB (from about 300 KB); LIE declares 100 bytes."""
    raw = b"\0" * (300 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = comp.compress(raw) + comp.flush()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/version", b"3\n")
        z.writestr(zipfile.ZipInfo("archive/data.pkl"), b"")  # placeholder, patched below
    data = path.read_bytes()
    # Rebuild by hand: one deflated member with the declared sizes we choose.
    name = b"archive/data.pkl"
    size = 100 if lie else len(raw)
    crc = zlib.crc32(raw)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(deflated), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    body = local + deflated
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    del data
    path.write_bytes(body + central + end)
    return path


def _stored_size_lie(path: Path) -> Path:
    """A stored (uncompressed) data.pkl whose central directory declares 1 TiB: torch would allocate that."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    data = bytearray(path.read_bytes())
    at = data.rindex(b"PK\x01\x02")  # central directory entry: uncompressed size at offset 24
    data[at + 24:at + 28] = struct.pack("<I", 0xFFFFFFFF - 1)
    path.write_bytes(bytes(data))
    return path


def _billion_laughs(path: Path) -> Path:
    import torch

    node: object = [torch.zeros(2)]
    for _ in range(30):  # 2**30 paths through 31 lists: a walk that follows every path would take hours
        node = [node, node]
    torch.save(node, path)
    return path


def _onnx(path: Path, build) -> Path:
    import onnx
    from onnx import TensorProto, helper

    path.write_bytes(build(onnx, TensorProto, helper).SerializeToString())
    return path


def _onnx_inline_bomb(onnx, TensorProto, helper):
    """f0 = Relu; f(k) calls f(k-1) twice: 40 levels inline to 2**40 nodes from a 2 KB file."""
    funcs = [helper.make_function("local", "f0", ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"])],
                                  [helper.make_opsetid("", 18)])]
    for k in range(1, 41):
        nodes = [helper.make_node(f"f{k - 1}", ["x"], ["t"], domain="local"),
                 helper.make_node(f"f{k - 1}", ["t"], ["y"], domain="local")]
        funcs.append(helper.make_function("local", f"f{k}", ["x"], ["y"], nodes, [helper.make_opsetid("", 18),
                                                                                   helper.make_opsetid("local", 1)]))
    graph = helper.make_graph([helper.make_node("f40", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, functions=funcs, opset_imports=[helper.make_opsetid("", 18),
                                                                      helper.make_opsetid("local", 1)])


def _onnx_deep_name(onnx, TensorProto, helper):
    name = "/" + "/".join(f"m{i}" for i in range(20_000)) + "/Relu"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name=name)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _onnx_big_folds(onnx, TensorProto, helper):
    """Range(0, 1e9) and ConstantOfShape([1e5, 1e5]) on constants: 4 GB and 40 GB if folded before checking."""
    c = [helper.make_node("Constant", [], [n], value=helper.make_tensor(n, TensorProto.INT64, [], [v]))
         for n, v in (("s", 0), ("l", 1_000_000_000), ("d", 1))]
    shape = helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("shape", TensorProto.INT64, [2],
                                                                                   [100_000, 100_000]))
    nodes = c + [shape, helper.make_node("Range", ["s", "l", "d"], ["r"]),
                 helper.make_node("ConstantOfShape", ["shape"], ["z"]),
                 helper.make_node("Relu", ["x"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]),
                               helper.make_tensor_value_info("r", TensorProto.INT64, ["R"]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, ["A", "B"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _hf_config(folder: Path, **changes) -> Path:
    folder.mkdir()
    cfg = {**dict(model_type="llama", vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32), **changes}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _check_config(d: Path) -> Path:
    _safetensors(d / "m.safetensors")
    (d / "mlcost.toml").write_text('[[models]]\nname = "m"\nmodel = "m.safetensors"\n[models.budgets]\nmax_params = 10\n')
    return d / "mlcost.toml"


# (id, setup(d) -> (args, env), expected stderr fragment).  Every path/number option and every reader.
CASES = [
    ("model FIFO .gguf", lambda d: (["profile", _fifo(d / "m.gguf")], None), "is a FIFO"),
    ("model FIFO .pt", lambda d: (["profile", _fifo(d / "m.pt")], None), "is a FIFO"),
    ("model FIFO .pt2", lambda d: (["profile", _fifo(d / "m.pt2")], None), "is a FIFO"),
    ("model FIFO .bin --as state_dict", lambda d: (["profile", _fifo(d / "m.bin"), "--as", "state_dict"], None), "is a FIFO"),
    ("model FIFO .onnx", lambda d: (["profile", _fifo(d / "m.onnx")], None), "is a FIFO"),
    ("model FIFO .safetensors", lambda d: (["profile", _fifo(d / "m.safetensors")], None), "is a FIFO"),
    ("safetensors index FIFO", lambda d: (["profile", _fifo(d / "model.safetensors.index.json")], None), "is a FIFO"),
    ("/dev/zero as .pt", lambda d: (["profile", "/dev/zero", "--as", "state_dict"], None), "is a character device"),
    ("/dev/zero as ONNX", lambda d: (["profile", "/dev/zero", "--as", "onnx"], None), "is a character device"),
    ("sparse 1 GiB .pt", lambda d: (["profile", _sparse(d / "m.pt")], None), "not a readable torch.save file"),
    ("sparse 3 GiB .onnx", lambda d: (["profile", _sparse(d / "m.onnx", 3 * GiB)], None), "over the 2 GiB limit"),
    ("zip bomb .pt (honest size)", lambda d: (["profile", _zip_bomb(d / "b.pt", lie=False)], None),
     "declares 314572800 bytes, over the 256 MiB limit"),
    ("zip bomb .pt (lying size)", lambda d: (["profile", _zip_bomb(d / "b.pt", lie=True)], None),
     "corrupt archive (Bad CRC-32"),  # zipfile and torch's reader inflate no more than the declared size
    ("stored member declaring 4 GiB", lambda d: (["profile", _stored_size_lie(d / "s.pt")], None),
     "declares 4294967294 bytes, but the"),
    ("safetensors name of 100 parts", lambda d: (["profile", _safetensors(d / "m.safetensors", ".".join(["a"] * 100))], None),
     "100 dotted parts, over the 64-part limit"),
    ("safetensors name of 20,000 parts", lambda d: (["profile", _safetensors(d / "m.safetensors", ".".join(["a"] * 20_000))], None),
     "a name of 39999 characters, over the 1024-character limit"),
    ("GGUF name of 20,000 parts", lambda d: (["profile", _gguf_deep_name(d / "m.gguf")], None), "over the 1024-character limit"),
    ("ONNX node name of 20,000 scopes", lambda d: (["profile", _onnx(d / "m.onnx", _onnx_deep_name)], None),
     "over the 1024-character limit"),
    ("ONNX functions inlining to 2**40 nodes", lambda d: (["profile", _onnx(d / "m.onnx", _onnx_inline_bomb)], None),
     "would give 1000001 nodes, over the limit of 1000000"),
    ("HF num_hidden_layers 1000000", lambda d: (["profile", _hf_config(d / "hf", num_hidden_layers=1_000_000)], None),
     "num_hidden_layers = 1000000 is over mlcost's sanity bound of 1024"),
    ("HF config.json FIFO", lambda d: (["profile", _fifo(d / "config.json")], None), "is a FIFO"),
    ("infer: HF num_hidden_layers 1000000", lambda d: (["infer", _hf_config(d / "hf", num_hidden_layers=1_000_000), "--chip",
                                                       "h100", "--prompt-tokens", "8", "--new-tokens", "8"], None),
     "is over mlcost's sanity bound of 1024"),
    ("infer: model FIFO .gguf", lambda d: (["infer", _fifo(d / "m.gguf"), "--chip", "h100", "--prompt-tokens", "8",
                                            "--new-tokens", "8"], None), "is a FIFO"),
    ("track --estimate FIFO", lambda d: (["track", "--estimate", _fifo(d / "e.json"), "--", "true"], None), "is a FIFO"),
    ("track --ledger FIFO", lambda d: (["track", "--ledger", _fifo(d / "l.csv"), "--", "true"], None), "is a FIFO"),
    ("--profile FIFO", lambda d: (["compute", "--profile", _fifo(d / "p.json"), "--samples", "1"], None), "is a FIFO"),
    ("--profile /dev/zero", lambda d: (["compute", "--profile", "/dev/zero", "--samples", "1"], None), "character device"),
    ("--profile sparse 1 GiB", lambda d: (["compute", "--profile", _sparse(d / "p.json"), "--samples", "1"], None),
     "over the 100 MiB limit"),
    ("--compute-json FIFO", lambda d: (["carbon", "--compute-json", _fifo(d / "c.json"), "--gpu", "a100"], None), "is a FIFO"),
    ("--ledger sparse 1 GiB", lambda d: (["carbon", "--gpu", "a100", "--hours", "1", "--ledger", _sparse(d / "l.csv")], None),
     "over the 256 MiB limit"),
    ("track --summary FIFO", lambda d: (["track", "--summary", _fifo(d / "l.csv")], None), "FIFO"),
    ("--config FIFO", lambda d: (["check", "--config", _fifo(d / "mlcost.toml")], None), "is a FIFO"),
    ("--config sparse 1 GiB", lambda d: (["check", "--config", _sparse(d / "mlcost.toml")], None), "over the 10 MiB limit"),
    ("--baseline FIFO", lambda d: (["check", "--config", _check_config(d), "--baseline", _fifo(d / "b.json")], None), "is a FIFO"),
    ("$GITHUB_STEP_SUMMARY FIFO", lambda d: (["check", "--config", _check_config(d), "--format", "github"],
                                             {"GITHUB_STEP_SUMMARY": str(_fifo(d / "summary"))}), "a FIFO with no reader"),
    ("--output over README.md", lambda d: ((d / "README.md").write_text("# mine\n"),
                                           ["compute", "--params", "1e9", "--tokens", "1e9", "-o", d / "README.md"], None)[1:],
     "refusing to replace"),
    ("--output FIFO without reader", lambda d: (["compute", "--params", "1e9", "--tokens", "1e9", "-o", _fifo(d / "o")], None),
     "a FIFO with no reader"),
    ("--output a folder", lambda d: (["compute", "--params", "1e9", "--tokens", "1e9", "-o", d], None), "is a folder"),
    ("--save-baseline over config.json", lambda d: ((d / "config.json").write_text("{}"),
                                                    ["check", "--config", _check_config(d), "--save-baseline", d / "config.json"], None)[1:],
     "refusing to replace"),
    ("--plot over a user's PNG", lambda d: ((d / "p.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30),
                                            ["compute", "--params", "1e9", "--tokens", "1e9", "--plot", d / "p.png"], None)[1:],
     "refusing to replace"),
    ("--dim 1e308", lambda d: (["profile", _onnx(d / "m.onnx", _onnx_deep_name), "--dim", "n=1e308"], None), "--dim"),
    ("--seq-len -1", lambda d: (["profile", _hf_config(d / "hf"), "--seq-len", "-1"], None), "--seq-len"),
    ("--input-shape 0", lambda d: (["profile", "x.py:f", "--input-shape", "0,3"], None), "--input-shape"),
    ("--hours nan", lambda d: (["carbon", "--gpu", "a100", "--hours", "nan"], None), "--hours"),
    ("--params 1e999", lambda d: (["compute", "--params", "1e999", "--tokens", "1e9"], None), "out of range"),
    ("--epochs nan", lambda d: (["compute", "--params", "1e9", "--tokens", "1e9", "--epochs", "nan"], None), "--epochs"),
    ("--peak-tflops 0", lambda d: (["compute", "--gpu", "a100", "--hours", "1", "--peak-tflops", "0"], None), "must be positive"),
    ("--count 0", lambda d: (["carbon", "--gpu", "a100", "--hours", "1", "--count", "0"], None), "--count"),
    ("--pue 0.5", lambda d: (["carbon", "--gpu", "a100", "--hours", "1", "--pue", "0.5"], None), "--pue"),
    ("--power-fraction 7", lambda d: (["carbon", "--gpu", "a100", "--hours", "1", "--power-fraction", "7"], None), "--power-fraction"),
    ("--utilization 2", lambda d: (["carbon", "--gpu", "a100", "--flops", "1e30", "--utilization", "2"], None), "--utilization"),
    ("--days 1e308", lambda d: (["carbon", "--gpu", "a100", "--days", "1e308"], None), "out of range"),
    ("--depth -1", lambda d: (["profile", "x.py:f", "--depth", "-1"], None), "--depth"),
    ("--batch-size 0", lambda d: (["profile", "x.py:f", "--batch-size", "0"], None), "--batch-size"),
]


@pytest.mark.parametrize("setup,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_exit_2_bounded(tmp_path, setup, expected):
    work = tmp_path / "work"
    work.mkdir()
    args, env = setup(work)
    cwd = tmp_path / "cwd"  # the run's working directory and HOME: must stay empty
    cwd.mkdir()
    before = snapshot(work)
    code, out, err, seconds, rss = run_bounded([str(a) for a in args], cwd, env)
    lines = err.strip().splitlines()
    assert code == 2, (code, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("mlcost: error: ") and "Traceback" not in err, err[-2000:]
    assert expected in lines[0], lines[0]
    assert out == "" or env  # (with $GITHUB_STEP_SUMMARY the report is out before the summary fails)
    assert seconds < HOSTILE_SECONDS and rss < PEAK_RSS_BYTES, (seconds, rss)
    assert snapshot(work) == before and list(cwd.iterdir()) == []


def test_billion_laughs_pt_is_walked_once_per_object(tmp_path):
    """31 nested lists sharing references (2**30 paths): counted as the one tensor it holds, at once."""
    pytest.importorskip("torch")
    path = _billion_laughs(tmp_path / "laughs.pt")
    assert path.stat().st_size < 4096
    code, out, err, seconds, rss = run_bounded(["profile", str(path), "-f", "json"], tmp_path)
    assert code == 0, err
    assert json.loads(out)["params"]["total"] == 2  # torch.zeros(2), reached through every path, counted once
    assert seconds < HOSTILE_SECONDS and rss < PEAK_RSS_BYTES


def test_onnx_huge_folds_are_not_evaluated(tmp_path):
    """Range(0, 1e9) and ConstantOfShape([1e5, 1e5]) are left unfolded (sizes checked first): the model profiles."""
    pytest.importorskip("onnx")
    path = _onnx(tmp_path / "m.onnx", _onnx_big_folds)
    code, out, err, seconds, rss = run_bounded(["profile", str(path), "-f", "json"], tmp_path)
    assert code == 0, err
    assert json.loads(out)["flops"]["forward"] == 1  # the one Relu on one element
    assert seconds < HOSTILE_SECONDS and rss < PEAK_RSS_BYTES
