"""No ignored option: one table says which profile options each format applies; anything else is a
one-line usage error naming the format, checked before the model is read.  Plus the HF input kinds
(pixel_values, input_features, dual encoders), transformers' own rejection reason, factories' stdout."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from _profile_helpers import one_error_line, write_models
from mlcost.formats import FORMAT_MODULES, ProfileOptions
from mlcost.formats import options


def test_every_option_has_a_row_and_every_format_a_column():
    assert set(FLAGS := options.FLAGS) == {f.name for f in dataclasses.fields(ProfileOptions)}, \
        "a new ProfileOptions field must say in mlcost/formats/options.py which formats apply it"
    assert set(options.ACCEPTS) == set(FORMAT_MODULES) | {"module"}
    assert all(n in FLAGS for accepts in options.ACCEPTS.values() for n in accepts)
    assert [f for f, _ in options.table()] == list(FORMAT_MODULES)


def _hf(folder: Path, cfg: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


GPT2_TINY = dict(model_type="gpt2", vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                 bos_token_id=0, eos_token_id=0, architectures=["GPT2LMHeadModel"])


@pytest.fixture
def models(tmp_path):
    return write_models(tmp_path)


@pytest.mark.parametrize("args,line", [
    (["{hf}", "--arg", "n_layer=2"], "--arg does not apply to a Hugging Face model (hf format): the model is built "
                                     "from config.json; edit the config to change its size"),
    (["{hf}", "--device", "cpu"], "--device does not apply to a Hugging Face model (hf format): it applies to torch, "
                                  "torchscript"),
    (["{st}", "--training"], "--training does not apply to a safetensors checkpoint (safetensors format): it applies "
                             "to torch, torchscript, export, state_dict, hf"),
    (["{st}", "--seq-len", "8"], "--seq-len does not apply to a safetensors checkpoint (safetensors format): it "
                                 "applies to hf"),
    (["{models}:build", "--seq-len", "8"], "--seq-len does not apply to a PyTorch factory (torch format): a factory "
                                           "takes its own arguments: pass --arg seq_len=N, or --input-shape"),
    (["{models}:build", "--trust-remote-code"], "--trust-remote-code does not apply to a PyTorch factory (torch "
                                                "format): it applies to hf"),
    (["{hf}", "--precision", "bf16"], "--precision describes the training step: add --training (an inference "
                                      "profile uses the model's own dtypes)"),
    (["{models}:build", "--optimizer", "sgd"], "--optimizer describes the training step: add --training (an "
                                               "inference profile uses the model's own dtypes)"),
    (["{models}:build", "--input-dtype", "int64"], "--input-dtype gives the dtype of each --input-shape: give "
                                                   "--input-shape too"),
    (["{hf}", "--input-shape", "1,8", "--seq-len", "8"], "give --input-shape, or --batch-size/--seq-len, not both"),
])
def test_option_a_format_cannot_apply_is_one_usage_line(cli, tmp_path, models, args, line):
    from tests.test_safetensors import write_st

    hf = _hf(tmp_path / "gpt2", GPT2_TINY)
    st = tmp_path / "w.safetensors"
    write_st(st, {"w": ("F32", (2,))})
    argv = [a.format(hf=hf, st=st, models=models) for a in args]
    r = cli("profile", *argv)
    assert r.exit_code == 2 and r.stdout == ""
    assert one_error_line(r) == f"mlcost: error: {line}"


def test_checked_before_the_model_is_read(tmp_path):
    """The table is consulted before a file is opened: a bad option on an unreadable file is the option's error."""
    import mlcost
    from mlcost.errors import UsageError

    bad = tmp_path / "junk.gguf"
    bad.write_bytes(b"not gguf")
    with pytest.raises(UsageError, match="--training does not apply to a GGUF file"):
        mlcost.profile(bad, training=True)
    with pytest.raises(UsageError, match="--arg does not apply to an nn.Module passed to mlcost.profile"):
        import torch
        mlcost.profile(torch.nn.Linear(2, 2), torch.zeros(1, 2), factory_args={"x": 1})


# ---- factories cannot corrupt stdout ----

PRINTER = '''
import torch
print("importing the factory file")
class Loud(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        print("forward ran")
        return self.fc(x)
def build():
    print("building")
    return Loud(), (torch.zeros(2, 4),)
'''


def test_factory_prints_go_to_stderr_and_json_parses(cli, tmp_path):
    (tmp_path / "loud.py").write_text(PRINTER)
    before = sys.stdout
    r = cli("profile", f"{tmp_path / 'loud.py'}:build", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["macs"]["forward"] == 2 * 4 * 3  # stdout is the JSON document alone
    assert r.stderr.splitlines()[:3] == ["importing the factory file", "building", "forward ran"]
    assert sys.stdout is before  # the redirect is scoped
    c = cli("compute", f"{tmp_path / 'loud.py'}:build", "--samples", "10", "-f", "json")
    assert c.exit_code == 0 and json.loads(c.stdout)["schema"].startswith("mlcost.compute")


# ---- Hugging Face inputs beyond token ids (tiny configs written here; no downloads) ----

VIT = dict(model_type="vit", architectures=["ViTModel"], hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
           intermediate_size=32, image_size=32, patch_size=8, num_channels=3)
WHISPER = dict(model_type="whisper", architectures=["WhisperForConditionalGeneration"], vocab_size=100, num_mel_bins=8,
               d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
               encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=12, max_target_positions=20,
               decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2)
CLIP = dict(model_type="clip", architectures=["CLIPModel"], projection_dim=8,
            text_config=dict(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, max_position_embeddings=10, eos_token_id=2),
            vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                               image_size=32, patch_size=8, num_channels=3))


def _vit_macs(batch: int, image: int, d: int = 16, ff: int = 32, patch: int = 8, heads: int = 2) -> dict[str, int]:
    n = (image // patch) ** 2  # patches
    t = n + 1  # + [CLS]
    return {"aten::convolution": batch * n * d * 3 * patch * patch,  # patch embedding
            "aten::linear": batch * (t * (4 * d * d + 2 * d * ff) + d * d),  # q,k,v,o + MLP, pooler on [CLS]
            # QK^T and AV in one SDPA call per layer, the attention transformers builds by default
            "aten::scaled_dot_product_attention": batch * 2 * heads * t * t * (d // heads)}


def _macs(d: dict) -> dict[str, int]:
    return {o["op"]: o["macs"] for o in d["by_operator"] if o["macs"]}


def test_vit_builds_pixel_values_from_the_config(cli, tmp_path):
    hf = _hf(tmp_path / "vit", VIT)
    d = cli("profile", hf, "-f", "json").json()
    assert d["inputs"] == [{"shape": [1, 3, 32, 32], "dtype": "float32", "name": "pixel_values"}]
    assert _macs(d) == _vit_macs(1, 32) == {"aten::convolution": 49_152, "aten::linear": 35_072,
                                              "aten::scaled_dot_product_attention": 9_248}
    # --input-shape applies to HF models (a batch of 2 images here); a size the model was not built for is
    # transformers' one-line refusal
    d = cli("profile", hf, "--input-shape", "2,3,32,32", "-f", "json").json()
    assert d["inputs"][0]["shape"] == [2, 3, 32, 32] and _macs(d) == _vit_macs(2, 32)
    assert d["macs"]["forward"] == sum(_vit_macs(2, 32).values())
    assert "doesn't match model (32*32)" in one_error_line(cli("profile", hf, "--input-shape", "1,3,64,64"))
    line = one_error_line(cli("profile", hf, "--seq-len", "8"))
    assert line == ("mlcost: error: --seq-len: this model takes pixel_values, no token ids; "
                    "give --input-shape for its size")


def test_whisper_gets_input_features_and_decoder_ids(cli, tmp_path):
    d = cli("profile", _hf(tmp_path / "wh", WHISPER), "--seq-len", "6", "-f", "json").json()
    # 8 mel bins x 2*max_source_positions frames (the encoder's stride-2 conv halves them to 12 positions)
    assert [(i["name"], i["shape"]) for i in d["inputs"]] == [("input_features", [1, 8, 24]), ("decoder_input_ids", [1, 6])]
    enc, dec, s, f = 12, 6, 16, 32  # positions, decoder tokens, d_model, ffn
    assert _macs(d) == {
        "aten::convolution": 24 * s * 8 * 3 + enc * s * s * 3,  # conv1 (k3, 8 -> 16) on 24 frames, conv2 stride 2
        "aten::linear": (enc * (4 * s * s + 2 * s * f)  # encoder layer
                         + dec * (4 * s * s + 2 * s * s + 2 * s * f) + 2 * enc * s * s  # self, cross q/o, ffn; cross k/v
                         + dec * s * 100),  # proj_out to the vocabulary
        "aten::scaled_dot_product_attention": 2 * 2 * 8 * (enc * enc + dec * dec + dec * enc),  # QK^T + AV, 2 heads of 8
    }


def test_clip_dual_encoder_gets_ids_and_pixels(cli, tmp_path):
    d = cli("profile", _hf(tmp_path / "clip", CLIP), "-f", "json").json()
    assert [(i["name"], i["shape"]) for i in d["inputs"]] == [("input_ids", [1, 10]), ("pixel_values", [1, 3, 32, 32])]
    t, v, s, f = 10, 17, 16, 32  # text tokens (max_position_embeddings), 16 patches + [CLS], width, ffn
    assert _macs(d) == {
        "aten::convolution": 16 * s * 3 * 8 * 8,
        "aten::linear": (t + v) * (4 * s * s + 2 * s * f) + 2 * s * 8,  # both towers + the two projections
        "aten::scaled_dot_product_attention": 2 * 2 * 8 * (t * t + v * v),
        "aten::mm": 8,  # logits: 1 text embedding x 1 image embedding, projection_dim 8
    }


def test_text_input_shape_is_batch_and_seq(cli, tmp_path):
    d = cli("profile", _hf(tmp_path / "g", GPT2_TINY), "--input-shape", "3,5", "-f", "json").json()
    assert d["inputs"] == [{"shape": [3, 5], "dtype": "int64", "name": "input_ids"}]
    assert _macs(d)["aten::linear"] == 3 * 5 * 16 * 64  # the tied LM head


def test_transformers_reason_is_shown(cli, tmp_path):
    """transformers' validators put the reason on the line after 'Class validation error ...:'."""
    bad = _hf(tmp_path / "bad", dict(model_type="llama", vocab_size=10, hidden_size=100, num_hidden_layers=1,
                                     num_attention_heads=3))
    line = one_error_line(cli("profile", bad))
    assert "transformers rejects this config:" in line
    assert "The hidden size (100) is not a multiple of the number of attention heads (3)" in line, line


# ---- compute takes the profile's input options under the same names ----

def test_compute_seq_len_means_tokens_per_sequence(cli, tmp_path):
    hf = _hf(tmp_path / "g", GPT2_TINY)
    prof = cli("profile", hf, "--seq-len", "8", "--batch-size", "2", "-f", "json").json()
    est = cli("compute", hf, "--seq-len", "8", "--batch-size", "2", "--tokens", "1000", "-f", "json").json()
    assert est["inputs"]["flops_per_token"] == prof["flops"]["forward"] / 16  # per token of the profiled 2 x 8 input
    # the 6ND attention term keeps --seq-len as tokens per training sequence (n_ctx)
    six = cli("compute", "--params", "1e6", "--tokens", "1e6", "--layers", "2", "--seq-len", "8", "--d-model", "16",
              "-f", "json")
    assert six.exit_code == 0, six.stderr
    line = one_error_line(cli("compute", "--flops-per-sample", "10", "--samples", "5", "--seq-len", "8"))
    assert "--seq-len is tokens per training sequence" in line
    line = one_error_line(cli("compute", "--flops-per-sample", "10", "--samples", "5", "--batch-size", "2"))
    assert line == "mlcost: error: --batch-size describes a MODEL to profile; none was given"


def test_profile_dot_names_the_folder(cli, tmp_path, monkeypatch):
    from tests.test_safetensors import write_st

    folder = tmp_path / "my-ckpt"
    folder.mkdir()
    write_st(folder / "model.safetensors", {"w": ("F32", (2,))})
    monkeypatch.chdir(folder)
    assert cli("profile", ".", "-f", "json").json()["model"] == "my-ckpt"


def test_transformers_warnings_become_assumptions(cli, tmp_path):
    """transformers warns that GPT-2's default bos/eos ids (50256) lie outside a 64-token vocabulary: the
    warning is the profile's assumption, stderr stays empty (and an error stays one line)."""
    cfg = {k: v for k, v in GPT2_TINY.items() if k not in ("bos_token_id", "eos_token_id")}
    r = cli("profile", _hf(tmp_path / "g", cfg), "-f", "json")
    assert r.exit_code == 0 and r.stderr == ""
    warned = [a for a in r.json()["assumptions"] if a.startswith("transformers warned:")]
    assert any("bos_token_id" in a and "50256" in a for a in warned), warned
    bad = _hf(tmp_path / "b", {**cfg, "architectures": 5})
    assert one_error_line(cli("profile", bad)) == "mlcost: error: config.json: 'architectures' must be a list of class names, found 5"
