"""torch.export archives (``.pt2``, written by ``torch.export.save``).

The archive carries its example inputs, used unless ``--input-shape`` is given (an exported program
only accepts the shapes it was exported for, or its declared dynamic dimensions).  The program's
``module()`` is what mlcost counts, so operator names are the exported ATen ops.
"""
from __future__ import annotations

import logging
import types
import warnings
from pathlib import Path

from mlcost.errors import MlcostError, ModelLoadError
from mlcost.formats import ProfileOptions
from mlcost.formats.torch_entry import _first_line, _torch, count, make_inputs, specs_of
from mlcost.results import Profile


def load(path: str | Path, trust_pickle: bool = False):
    """The archive's ExportedProgram; a corrupt archive is a one-line ModelLoadError.

    Without TRUST_PICKLE it is read by ``torch_archive.load_export`` (no pickle or Python expression runs:
    a payload is UnsafeFileError); with it, by ``torch.export.load``, which unpickles freely."""
    torch = _torch()
    from mlcost.formats import torch_archive

    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.ERROR)  # torch logs a traceback as a warning before raising: one line is enough
    try:
        if not trust_pickle:
            return torch_archive.load_export(path, str(path))
        torch_archive.check_zip(path, str(path))
        return torch.export.load(str(path))
    except MlcostError:
        raise
    except Exception as exc:
        root: BaseException = exc
        while root.__cause__ or root.__context__:  # torch re-raises a generic message; the first error names the problem
            root = root.__cause__ or root.__context__
        why = _first_line(root)
        if "warnings above" in why:  # torch logged the real error (silenced above) and raised this generic one
            why = "corrupt, or written by an incompatible torch version"
        raise ModelLoadError(f"{path}: cannot load torch.export archive: {why}") from exc
    finally:
        log.setLevel(level)


def torch_unflatten(program):
    """The exported program with its original module hierarchy (``torch.export.unflatten``)."""
    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.unflatten(program)


def profile_file(spec: str | Path, opts: ProfileOptions) -> Profile:
    program = load(spec, opts.trust_pickle)
    try:  # the unflattened module calls its submodules, so the per-module rows are filled in
        module = torch_unflatten(program)
    except Exception:  # a program unflatten cannot rebuild: one graph, counts on the root row only
        module = program.module()
    # torch.export's module refuses train()/eval(): its train/eval behaviour was fixed when it was
    # exported, so the counters' mode switch is made a no-op (recorded below) instead of an error.
    for name in ("train", "eval"):
        if name in module.__dict__:
            setattr(module, name, types.MethodType(lambda self, mode=True: self, module))
    if opts.input_shapes:
        args, specs = make_inputs(opts, "cpu")
        kwargs: dict = {}
    else:
        example = program.example_inputs
        if example is None:
            from mlcost.errors import UsageError

            raise UsageError(f"{spec}: the archive stores no example inputs; pass --input-shape")
        args, kwargs = tuple(example[0]), dict(example[1])
        specs = specs_of(args, kwargs)
    assumptions = ("torch.export archive: the exported ATen graph is counted with its stored weights, "
                   "in the train/eval mode it was exported in",)
    return count(module, args, kwargs, opts, model_name=str(spec), model_format="export", inputs=specs,
                 assumptions=assumptions)
