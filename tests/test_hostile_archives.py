"""Malicious torch.export archives: a payload in any member kind is refused (exit 2, one line) and never runs.

torch.export.load itself runs every one of these (its sample inputs, pickled weights and constants fall back
to full unpickling, opaque constants are pickle.loads'ed, and shape expressions go through sympy's eval);
mlcost reads the archive with its own restricted loader, whatever the file's suffix.
"""
from __future__ import annotations

import json
import zipfile

import pytest

torch = pytest.importorskip("torch")

from _hostile import edit_json_member, payload_pickle, rewrite_zip  # noqa: E402


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("pt2")
    ep = torch.export.export(_Net(), (torch.randn(2, 4),), dynamic_shapes=({0: torch.export.Dim("n")},))
    path = d / "good.pt2"
    torch.export.save(ep, str(path))
    return path


def _weights_config(good, edit):
    return edit_json_member(good, "data/weights/model_weights_config.json", edit)


def _constants(entry: dict) -> bytes:
    return json.dumps({"config": {"c0": entry}}).encode()


def _archives(good, marker):
    """(label, {member: bytes or None}, {added member: bytes}) for every member kind torch would unpickle."""
    payload = payload_pickle(marker)

    def pickled_weight(cfg):
        cfg["config"]["fc.weight"]["use_pickle"] = True
    sym = "Symbol('s77', positive=True, integer=True)"
    evil = f"__import__('os').system('touch {marker}')"
    return [
        ("sample inputs", {"data/sample_inputs/model.pt": payload_pickle(marker, lambda p: ((torch.zeros(2, 4), p), {}))}, {}),
        ("pickled weight", {"data/weights/model_weights_config.json": _weights_config(good, pickled_weight),
                            "data/weights/weight_0": payload}, {}),
        ("pickled tensor constant", {"data/constants/model_constants_config.json": _constants(
            {"path_name": "tensor_0", "is_param": False, "use_pickle": True, "tensor_meta": None})},
         {"data/constants/tensor_0": payload}),
        ("opaque constant", {"data/constants/model_constants_config.json": _constants(
            {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None})},
         {"data/constants/opaque_obj_0": __import__("pickle").dumps(__import__("_hostile").Payload(marker))}),
        ("torchbind constant", {"data/constants/model_constants_config.json": _constants(
            {"path_name": "custom_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None})},
         {"data/constants/custom_obj_0": payload}),
        ("legacy weights file", {"data/weights/model_weights_config.json": None}, {"data/weights/model.pt": payload}),
        ("shape expression", {"models/model.json": edit_json_member(
            good, "models/model.json", lambda j: j.update(json.loads(json.dumps(j).replace(sym, evil))))}, {}),
    ]


KINDS = ["sample inputs", "pickled weight", "pickled tensor constant", "opaque constant", "torchbind constant",
         "legacy weights file", "shape expression"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
def test_payload_in_each_member_is_refused(cli, good, tmp_path, kind, suffix):
    marker = tmp_path / "PAYLOAD_RAN"
    label, replace, add = next(a for a in _archives(good, marker) if a[0] == kind)
    bad = rewrite_zip(good, tmp_path / f"bad{suffix}", replace, add)
    r = cli("profile", bad)
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlcost: error: ") and "refusing" in lines[0], r.stderr
    assert "--trust-pickle" in lines[0] or "shape expression" in lines[0]
    assert not marker.exists()


def test_compute_takes_the_same_safe_path(cli, good, tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    _, replace, add = _archives(good, marker)[0]
    bad = rewrite_zip(good, tmp_path / "x.pt2", replace, add)
    r = cli("compute", bad, "--samples", "10")
    assert r.exit_code == 2 and "refusing to unpickle sample inputs" in r.stderr and not marker.exists()


def test_clean_archive_still_counts(cli, good):
    r = cli("profile", good, "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["macs"]["forward"] == 2 * 4 * 3  # batch 2 (the stored example input) x Linear(4, 3)
    trusted = cli("profile", good, "-f", "json", "--trust-pickle")  # torch.export.load: the same program
    assert trusted.exit_code == 0 and trusted.json()["macs"] == r.json()["macs"]


def test_archive_before_torch_2_7_format_is_refused(cli, tmp_path):
    old = tmp_path / "old.pt2"
    with zipfile.ZipFile(old, "w") as z:
        z.writestr("version", "8.0")
        z.writestr("serialized_exported_program.json", "{}")
        z.writestr("serialized_state_dict.json", b"")
        z.writestr("archive_format", "pt2")
    r = cli("profile", old)
    assert r.exit_code == 2 and "format before torch 2.7" in r.stderr and len(r.stderr.splitlines()) == 1
