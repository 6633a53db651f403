"""ONNX models in `mlcost profile`: exported from PyTorch in the test, counted like the module itself."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from mlcost.counting import count_module  # noqa: E402
from mlcost.errors import InputError, UnsupportedOperatorError, UsageError  # noqa: E402
from mlcost.formats import ProfileOptions, detect_format  # noqa: E402
from mlcost.formats.onnx import profile_file  # noqa: E402
from tests.models import gpt2, resnet, tiny  # noqa: E402


def export(model, args, path, **kw):
    """Legacy (TorchScript) exporter; eval-mode BatchNorm kept as a node (PRESERVE), not fused into Conv."""
    model.eval()
    kw.setdefault("training", torch.onnx.TrainingMode.PRESERVE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), dynamo=False, **kw)
    return path


def module_profile(model, args):
    with torch.no_grad():
        return count_module(model.eval(), tuple(args))


def assert_rows_sum(p):
    assert sum(r.flops for r in p.by_operator) == p.flops_forward
    assert sum(r.macs for r in p.by_operator) == p.macs_forward
    root = p.by_module[0]
    assert (root.name, root.flops, root.macs, root.params) == ("", p.flops_forward, p.macs_forward, p.params.total)
    top = [r for r in p.by_module if r.depth == 1]
    assert sum(r.macs for r in top) <= root.macs


def make(tmp_path, name, nodes, inputs, outputs, inits=(), opset=20, **kw):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kw)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


# --- exported tiny models: exact integers --------------------------------------------------------

def test_linear_stack_exact(tmp_path):
    m, args = tiny.build()
    p = profile_file(export(m, args, tmp_path / "lin.onnx"), ProfileOptions())
    assert (p.format, p.backend) == ("onnx", "onnx")
    assert p.params.total == 8 * 16 + 16 + 16 * 4 + 4 == 212
    assert p.macs_forward == 2 * 8 * 16 + 2 * 16 * 4 == 384
    assert p.flops_forward == 2 * 384 + 2 * 16  # Gemm MACs + one ReLU FLOP per element of (2, 16)
    assert {r.op: (r.calls, r.macs) for r in p.by_operator} == {"Gemm": (2, 384), "Relu": (1, 0)}
    assert p.params.bytes_by_dtype == {"float32": 212 * 4}
    assert p.inputs[0].shape == (2, 8) and p.inputs[0].dtype == "float32"
    rows = {r.name: r for r in p.by_module}
    assert rows["layers.0"].macs == 2 * 8 * 16 and rows["layers.0"].params == 8 * 16 + 16
    assert rows["layers.1"].macs == 2 * 16 * 4 and rows["layers"].params == 212
    assert_rows_sum(p)
    q = module_profile(m, args)
    assert (q.params.total, q.macs_forward, q.flops_forward) == (p.params.total, p.macs_forward, p.flops_forward)


def test_convnet_exact_and_matches_module(tmp_path):
    m, args = tiny.build_convnet()
    p = profile_file(export(m, args, tmp_path / "conv.onnx"), ProfileOptions())
    assert p.params.total == 3 * 8 * 9 + 8 + 2 * 8 + 8 * 4 * 4 + 4 + 4 * 2 + 2 == 382  # BN running stats are buffers
    assert p.macs_forward == 8 * 8 * 8 * 3 * 3 * 3 + 8 * 4 * 4 * 4 * 2 * 2 + 4 * 2 == 15_880
    ops = {r.op: r.flops for r in p.by_operator}
    assert ops["Conv"] == 2 * 8 * 8 * 8 * 3 * 3 * 3
    assert ops["ConvTranspose"] == 2 * 8 * 4 * 4 * 4 * 2 * 2
    assert ops["BatchNormalization"] == 8 * 8 * 8 * (2 + 2)  # eval BN 2/element + affine 2
    assert ops["MaxPool"] == 8 * 4 * 4 * 2 * 2
    assert ops["GlobalAveragePool"] == 4 * 8 * 8
    assert p.details["buffers"] == 2
    assert_rows_sum(p)
    q = module_profile(m, args)
    assert (q.params.total, q.macs_forward, q.flops_forward) == (p.params.total, p.macs_forward, p.flops_forward)


def test_convnet_dynamo_export_tree_and_fused_bn(tmp_path):
    """torch 2.13's default (dynamo) exporter: node names carry no scope (the module tree comes from the
    name_scopes metadata) and onnxscript folds the eval BatchNorm into the Conv; the difference is stated."""
    m, args = tiny.build_convnet()
    m.eval()
    path = tmp_path / "conv_dynamo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, args, str(path), dynamo=True, verbose=False)
    p = profile_file(path, ProfileOptions())
    q = module_profile(m, args)
    assert p.macs_forward == q.macs_forward == 15_880
    assert p.params.total == q.params.total - 2 * 8 == 366  # BN weight + bias, 8 channels, folded into the conv
    assert p.flops_forward == q.flops_forward - 8 * 8 * 8 * (2 + 2)  # eval BN 2/element + affine 2, on 8x8x8
    assert any("1 BatchNorm layer(s) were folded" in a and "16 parameters" in a and "2048 FLOPs" in a for a in p.assumptions)
    rows = {r.name: r for r in p.by_module}
    # the fused node carries the BatchNorm's name scope; its MACs and (fused) weights are the convolution's
    assert rows["conv"].macs == 8 * 8 * 8 * 3 * 3 * 3 and rows["conv"].params == 3 * 8 * 9 + 8
    assert "bn" not in rows  # folded away: nothing of it is left in the graph (the assumption says so)
    assert rows["up"].macs == 8 * 4 * 4 * 4 * 2 * 2 and rows["up"].params == 8 * 4 * 4 + 4
    assert rows["fc"].macs == 4 * 2 and rows["fc"].params == 4 * 2 + 2
    assert_rows_sum(p)


def test_matmul_einsum_exact(tmp_path):
    m, args = tiny.build_matmul()
    p = profile_file(export(m, args, tmp_path / "mm.onnx"), ProfileOptions())
    assert p.macs_forward == 3 * 2 * 3 * 4 * 5 == 360
    assert {r.op: r.macs for r in p.by_operator if r.macs} == {"MatMul": 2 * 120, "Einsum": 120}
    assert p.macs_forward == module_profile(m, args).macs_forward


class CausalSDPA(torch.nn.Module):
    def forward(self, q, k, v):  # the legacy exporter cannot write enable_gqa, so heads match here
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


def test_sdpa_decomposed_matches_module_macs(tmp_path):
    m, args = CausalSDPA(), tuple(torch.zeros(1, 4, 6, 8) for _ in range(3))
    p = profile_file(export(m, args, tmp_path / "sdpa.onnx"), ProfileOptions())
    assert p.macs_forward == 1 * 4 * 6 * 6 * 8 * 2 == 2304  # QK^T + AV, dense (causal not discounted)
    assert p.macs_forward == module_profile(m, args).macs_forward
    assert "causal" in p.conventions["attention"]


def test_norms_match_module(tmp_path):
    m, args = torch.nn.Sequential(torch.nn.LayerNorm(6)), (torch.zeros(2, 4, 6),)
    p = profile_file(export(m, args, tmp_path / "norms.onnx", opset_version=18), ProfileOptions())
    assert p.params.total == 12
    assert {r.op: r.flops for r in p.by_operator}["LayerNormalization"] == 2 * 4 * 6 * (5 + 2)
    assert p.macs_forward == 0
    assert p.unsupported_ops == ()


# --- ResNet-50 and GPT-2-small shapes --------------------------------------------------------------

def test_resnet50_matches_module(tmp_path):
    torch.manual_seed(0)
    m, args = resnet.build_with_inputs()
    p = profile_file(export(m, args, tmp_path / "r50.onnx"), ProfileOptions())
    assert p.params.total == 25_557_032
    assert p.macs_forward == 4_089_184_256  # fvcore's ResNet-50 count at 224x224: convs + fc
    q = module_profile(m, args)
    assert (q.params.total, q.macs_forward) == (p.params.total, p.macs_forward)
    rows = {r.name: r for r in p.by_module}
    assert rows["conv1"].macs == 64 * 112 * 112 * 3 * 7 * 7
    assert rows["layer1.0.conv1"].type == "Conv"
    assert rows["fc"].macs == 2048 * 1000 and rows["fc"].params == 2048 * 1000 + 1000
    assert_rows_sum(p)
    assert p.unsupported_ops == ()


def test_resnet_fused_bn_export_keeps_macs(tmp_path):
    """The default eval export folds BatchNorm into Conv: same MACs, BN's FLOPs and 2 params/channel gone."""
    m, args = resnet.build_with_inputs(size=64)
    fused = profile_file(export(m, args, tmp_path / "fused.onnx", training=torch.onnx.TrainingMode.EVAL), ProfileOptions())
    kept = profile_file(export(m, args, tmp_path / "kept.onnx"), ProfileOptions())
    assert fused.macs_forward == kept.macs_forward
    assert "BatchNormalization" not in {r.op for r in fused.by_operator}


def test_gpt2_small_shape_matches_module(tmp_path):
    """GPT-2 small's width/heads/vocab (2 layers to stay fast).  Constant folding turns the position table
    into its first seq rows and the tied head into a transposed copy; mlcost finds the copy and says so."""
    torch.manual_seed(0)
    d, layers, vocab, ctx, seq = 768, 2, 50257, 1024, 16
    m, args = gpt2.build(n_layers=layers, seq_len=seq)
    q = module_profile(m, args)
    assert q.params.total == vocab * d + ctx * d + layers * (12 * d * d + 13 * d) + 2 * d
    p = profile_file(export(m, args, tmp_path / "gpt2.onnx"), ProfileOptions())
    assert p.macs_forward == q.macs_forward
    # wpe (ctx x d) folds to wpe[:seq] (seq x d); the tied lm_head copy is counted once
    assert p.params.total == q.params.total - (ctx - seq) * d
    assert any("tied weight" in a and "wte.weight" in a for a in p.assumptions)
    assert any("exporter-generated names" in a for a in p.assumptions)
    # unfolded export keeps the original parameters: exact agreement
    u = profile_file(export(m, args, tmp_path / "gpt2_u.onnx", do_constant_folding=False), ProfileOptions())
    assert (u.params.total, u.macs_forward) == (q.params.total, q.macs_forward)
    assert_rows_sum(u)


# --- dynamic dims -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dynamic_gpt2(tmp_path_factory):
    m, args = gpt2.build_small(seq_len=8)
    path = tmp_path_factory.mktemp("dyn") / "gpt2_dyn.onnx"
    export(m, args, path, input_names=["ids"], dynamic_axes={"ids": {0: "batch", 1: "seq"}})
    return path, m


def test_dim_binding(dynamic_gpt2, tmp_path):
    path, m = dynamic_gpt2
    p = profile_file(path, ProfileOptions(dims={"batch": 2, "seq": 8}))
    assert p.inputs[0].shape == (2, 8) and p.inputs[0].name == "ids" and p.inputs[0].dtype == "int64"
    q = module_profile(m, (torch.zeros(2, 8, dtype=torch.long),))
    assert p.macs_forward == q.macs_forward
    assert p.unsupported_ops == ()
    same = profile_file(path, ProfileOptions(input_shapes=((2, 8),)))
    assert same.macs_forward == p.macs_forward


def test_unbound_dim_is_named(dynamic_gpt2):
    path, _ = dynamic_gpt2
    with pytest.raises(InputError, match=r"'ids'.*'seq'.*--dim seq=VALUE"):
        profile_file(path, ProfileOptions(dims={"batch": 1}))


def test_unknown_dim_and_bad_shapes(dynamic_gpt2):
    path, _ = dynamic_gpt2
    with pytest.raises(UsageError, match="no input .* named 'sequence'"):
        profile_file(path, ProfileOptions(dims={"batch": 1, "seq": 4, "sequence": 4}))
    with pytest.raises(UsageError, match="rank 3"):
        profile_file(path, ProfileOptions(input_shapes=((1, 2, 3),)))
    with pytest.raises(UsageError, match="1 input"):
        profile_file(path, ProfileOptions(input_shapes=((1, 2), (1, 2))))


def test_fixed_dim_mismatch(tmp_path):
    path = make(tmp_path, "relu", [helper.make_node("Relu", ["x"], ["y"], name="/act/Relu")],
                [vi("x", [2, 3])], [vi("y", [2, 3])])
    with pytest.raises(UsageError, match="dimension 1 is fixed at 3"):
        profile_file(path, ProfileOptions(input_shapes=((2, 4),)))
    p = profile_file(path, ProfileOptions())
    assert p.flops_forward == 6 and [r.name for r in p.by_module] == ["", "act"]


# --- hand-built graphs: ops the exporter does not emit -----------------------------------------

def test_onnx_attention_op(tmp_path):
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], name="/attn/Attention", is_causal=1)
    path = make(tmp_path, "attn", [node], [vi("q", [1, 4, 6, 8]), vi("k", [1, 2, 6, 8]), vi("v", [1, 2, 6, 8])],
                [vi("y", [1, 4, 6, 8])], opset=23)
    p = profile_file(path, ProfileOptions())
    scores = 1 * 4 * 6 * 6
    assert p.macs_forward == scores * (8 + 8) == 2304
    assert p.flops_forward == 2 * 2304 + scores * (1 + 5)  # scale + softmax per score


def test_einsum_resize_and_unsupported(tmp_path):
    nodes = [
        helper.make_node("Einsum", ["a", "b"], ["c"], name="/mix/Einsum", equation="bij,bjk->bik"),
        helper.make_node("Resize", ["c", "", "scales"], ["r"], name="/up/Resize", mode="linear"),
        helper.make_node("Det", ["sq"], ["det"], name="/odd/Det"),
        helper.make_node("Custom", ["r"], ["z"], name="/odd/Custom", domain="acme"),
    ]
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [3], [1.0, 2.0, 2.0])
    graph = helper.make_graph(nodes, "mixed", [vi("a", [2, 3, 4]), vi("b", [2, 4, 5]), vi("sq", [3, 3])],
                              [vi("z", [2, 6, 10]), vi("det", [])], [scales])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("acme", 1)])
    path = tmp_path / "mixed.onnx"
    onnx.save(model, str(path))
    p = profile_file(path, ProfileOptions())
    assert p.macs_forward == 2 * 3 * 4 * 5
    assert {r.op: r.flops for r in p.by_operator}["Resize"] == 4 * 2 * 6 * 10  # bilinear: 4 per output element
    assert {(u.op, u.module, u.count) for u in p.unsupported_ops} == {("Det", "odd", 1), ("acme::Custom", "odd", 1)}
    assert p.params.total == 0  # Resize's scales tensor is a hyperparameter, not a weight
    with pytest.raises(UnsupportedOperatorError, match="Det"):
        profile_file(path, ProfileOptions(strict=True))


# --- bad input ----------------------------------------------------------------------------------

def test_random_bytes_and_truncated(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="junk.onnx"):
        profile_file(junk, ProfileOptions())
    m, args = tiny.build()
    good = export(m, args, tmp_path / "good.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError):
        profile_file(cut, ProfileOptions())
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="no graph"):
        profile_file(empty, ProfileOptions())


def test_external_data_never_read(tmp_path):
    """Weights in an external file: counted from dims; the payload file may be garbage."""
    m, args = tiny.build(dims=(64, 64, 4))
    path = export(m, args, tmp_path / "ext.onnx")
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=0)
    (tmp_path / "w.bin").write_bytes(b"\0" * (tmp_path / "w.bin").stat().st_size)  # payload scrambled
    p = profile_file(path, ProfileOptions())
    assert p.params.total == 64 * 64 + 64 + 64 * 4 + 4
    assert detect_format(path) == "onnx"
    assert not any("not found beside the model" in a for a in p.assumptions)


def test_external_data_file_absent(tmp_path, cli):
    """Only the graph was copied (no weights file beside it): still profiled, and the absence is stated."""
    m, args = tiny.build(dims=(64, 64, 4))
    path = export(m, args, tmp_path / "ext.onnx")
    onnx.save(onnx.load(str(path)), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="w.bin", size_threshold=0)
    (tmp_path / "w.bin").unlink()
    r = cli("profile", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    assert d["params"]["total"] == 64 * 64 + 64 + 64 * 4 + 4  # 4,420: two Linear layers' weights and biases
    assert d["macs"]["forward"] == 2 * (64 * 64 + 64 * 4)  # batch 2 (tiny.build's input) x both weight matrices
    assert "external data file(s) w.bin not found beside the model" in d["assumptions"][0]
    assert onnx.load(str(path), load_external_data=False).graph.initializer[0].data_location == TensorProto.EXTERNAL


def test_cli_profile_onnx(tmp_path, cli):
    m, args = tiny.build()
    path = export(m, args, tmp_path / "lin.onnx")
    r = cli("profile", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert (data["schema"], data["format"], data["backend"]) == ("mlcost.profile/1", "onnx", "onnx")
    assert (data["params"]["total"], data["macs"]["forward"], data["flops"]["forward"]) == (212, 384, 800)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage\xff\xff\xff")
    r = cli("profile", junk, "--format", "json")
    assert r.exit_code == 2 and r.stdout == "" and "junk.onnx" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_full_gpt2_small_module_and_onnx_agree(tmp_path):
    """The issue's GPT-2-small-shaped model at full depth (12 layers, 124,439,808 params tied), 128 tokens:
    the module and its (unfolded) ONNX export agree on parameters and MACs exactly."""
    torch.manual_seed(0)
    m, args = gpt2.build(seq_len=128)
    q = module_profile(m, args)
    # 50257*768 wte + 1024*768 wpe + 12 * (12*768^2 + 13*768) + 2*768 ln_f (head tied to wte)
    assert q.params.total == 124_439_808
    p = profile_file(export(m, args, tmp_path / "gpt2.onnx", do_constant_folding=False), ProfileOptions())
    assert (p.params.total, p.macs_forward) == (124_439_808, q.macs_forward)
    # 128 * (12 * 12 * 768^2 + 50257 * 768) linear + 12 * 2 * (12 * 128 * 128 * 64) attention
    assert q.macs_forward == 128 * (12 * 12 * 768**2 + 50257 * 768) + 12 * 2 * (12 * 128 * 128 * 64)
    assert_rows_sum(p)
