"""TorchScript archives written by ``torch.jit.save``.

The archive is loaded onto the meta device (``map_location="meta"``), so its weights are never
materialised; TorchScript stores no example inputs, so ``--input-shape`` is required.
Loading TorchScript runs no arbitrary Python: its code is TorchScript, run by torch's interpreter.
"""
from __future__ import annotations

from pathlib import Path

from mlcost.errors import ModelLoadError, UsageError
from mlcost.formats import ProfileOptions
from mlcost.formats.torch_entry import _first_line, _torch, count, make_inputs
from mlcost.results import Profile


def load(path: str | Path, device: str = "meta"):
    """torch.jit.load onto DEVICE; a corrupt archive is a one-line ModelLoadError."""
    torch = _torch()
    from mlcost.formats.torch_archive import check_zip

    check_zip(path, str(path))  # bounded members before torch's reader inflates anything
    try:
        return torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # RuntimeError from the archive reader, or a TorchScript deserialisation error
        raise ModelLoadError(f"{path}: cannot load TorchScript archive: {_first_line(exc)}") from exc


def profile_file(spec: str | Path, opts: ProfileOptions) -> Profile:
    device = opts.device or "meta"
    module = load(spec, device)
    if not opts.input_shapes:
        raise UsageError(f"{spec}: a TorchScript archive carries no example inputs; pass --input-shape (one per input)")
    args, specs = make_inputs(opts, device)
    assumptions = ("TorchScript archive loaded on the meta device: shapes only",) if device == "meta" else ()
    # A scripted module runs as compiled code: its submodules' hooks never fire, so nothing is attributed to them.
    assumptions += ("by_module: a TorchScript archive runs as one compiled graph, so only the root row "
                    "carries counts (its submodules show 0)",)
    return count(module, args, {}, opts, model_name=str(spec), model_format="torchscript", inputs=specs,
                 assumptions=assumptions)
