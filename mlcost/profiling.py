"""The library call behind ``mlcost profile``: ``mlcost.profile(module_or_path, inputs=None, **options)``.

>>> import mlcost, torch
>>> p = mlcost.profile(torch.nn.Linear(4, 3), torch.zeros(2, 4))
>>> p.macs_forward, p.flops_forward          # 2 * 4 * 3 MACs; 1 MAC = 2 FLOPs
(24, 48)
>>> p.to_dict()["schema"]
'mlcost.profile/1'

Options mirror :class:`mlcost.formats.ProfileOptions` (``backend``, ``training``, ``optimizer``,
``precision``, ``strict``, ``input_shapes``, ``input_dtypes``, ``factory_args``, ``device``,
``trust_pickle``, ``dims``, ``seq_len``, ``batch_size``, ``trust_remote_code``, ``chip``,
``workspace``: ``"cpu"`` adds PyTorch's CPU oneDNN kernel workspaces to the memory peaks).  With
``chip`` the profile carries a ``roofline`` (time floors per operator call on that accelerator).
"""
from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

from mlcost.choices import Attention, Backend, EnergyModel, Optimizer, Shard, TrainingPrecision, Workspace, choose
from mlcost.errors import UsageError
from mlcost.formats import FORMAT_MODULES, ProfileOptions, detect_format
from mlcost.results import Profile

_CHOICES = {"energy_model": EnergyModel, "backend": Backend, "optimizer": Optimizer, "precision": TrainingPrecision,
            "shard": Shard, "attn": Attention, "workspace": Workspace}


def make_options(**options: Any) -> ProfileOptions:
    """ProfileOptions from keyword options, with one clear line for an unknown name or value."""
    known = {f.name for f in dataclasses.fields(ProfileOptions)}
    unknown = sorted(set(options) - known - {"as_format"})
    if unknown:
        raise UsageError(f"unknown profile option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    fixed = {k: v for k, v in options.items() if k in known}
    for name, enum in _CHOICES.items():
        if fixed.get(name) is not None:  # None: the option's default (energy_model: none)
            fixed[name] = choose(enum, fixed[name], name)
    if fixed.get("chip") is not None:
        from mlcost.refdata import find_accelerator

        fixed["chip"] = find_accelerator(str(fixed["chip"])).name  # unknown names: one line, closest spellings
    for key in ("input_shapes", "input_dtypes"):
        if key in fixed:
            fixed[key] = tuple(tuple(s) if key == "input_shapes" else s for s in fixed[key])
    return ProfileOptions(**fixed)


def _split_inputs(inputs: Any) -> tuple[tuple, dict]:
    """A tensor, a tuple/list of positional inputs, a dict of keyword inputs, or (args, kwargs)."""
    if inputs is None:
        return (), {}
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        if len(inputs) == 2 and isinstance(inputs[0], (tuple, list)) and isinstance(inputs[1], dict):
            return tuple(inputs[0]), dict(inputs[1])
        return tuple(inputs), {}
    return (inputs,), {}


def profile(module_or_path: Any, inputs: Any = None, *, as_format: str | None = None, **options: Any) -> Profile:
    """Profile an ``nn.Module`` (with example INPUTS) or a model path / entry point string.

    Returns the :class:`mlcost.results.Profile` that ``mlcost profile`` renders: FLOPs and MACs
    (1 MAC = 2 FLOPs), parameters, memory in bytes, per-module and per-operator rows, unsupported
    operators and the assumptions made.  ``to_dict()`` gives the ``mlcost.profile/1`` JSON.
    """
    opts = make_options(**options)
    if isinstance(module_or_path, (str, Path)):
        if inputs is not None:
            from mlcost.formats.torch_entry import specs_of

            args, kwargs = _split_inputs(inputs)
            if kwargs:
                raise UsageError("keyword inputs are only supported with an nn.Module; give positional tensors")
            specs = specs_of(args, {})
            opts = dataclasses.replace(opts, input_shapes=tuple(s.shape for s in specs),
                                       input_dtypes=tuple(s.dtype for s in specs))
        return profile_path(module_or_path, opts, as_format)
    return _profile_module(module_or_path, inputs, opts)


def profile_path(spec: str | Path, opts: ProfileOptions, as_format: str | None = None) -> Profile:
    """Profile a model file, folder or entry point: detect its format and hand it to that format's module."""
    from mlcost.formats import options

    fmt = detect_format(spec, as_format)
    options.check(fmt, opts)  # an option this format cannot apply is refused before anything is read
    module = importlib.import_module(f"mlcost.formats.{FORMAT_MODULES[fmt]}")
    return _on_chip(module.profile_file(spec, opts), opts)


def _on_chip(prof: Profile, opts: ProfileOptions) -> Profile:
    """The profile judged on ``opts.chip`` (its roofline, costs.roofline) and by ``opts.energy_model``; and
    its memory plan (weights per dtype, KV cache, per-GPU sharding, fits: costs.memory_plan)."""
    from mlcost.costs import memory_plan

    prof = memory_plan.apply(prof, opts)
    if opts.chip is not None:
        from mlcost.costs.roofline import with_roofline

        prof = with_roofline(prof, opts.chip)
    if opts.energy_model is not None:
        from mlcost.costs.horowitz import with_energy_model

        prof = with_energy_model(prof, opts.energy_model)
    return prof


def _profile_module(module: Any, inputs: Any, opts: ProfileOptions) -> Profile:
    from mlcost.formats import options, torch_entry

    options.check("module", opts)
    torch = torch_entry._torch()
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"mlcost.profile expects an nn.Module or a path, got {type(module).__name__}")
    if inputs is None and opts.input_shapes:
        device = next((p.device.type for p in module.parameters()), "cpu")
        args, specs = torch_entry.make_inputs(opts, device)
        kwargs: dict = {}
    else:
        args, kwargs = _split_inputs(inputs)
        specs = torch_entry.specs_of(args, kwargs)
        if not args and not kwargs and torch_entry.required_inputs(module):
            raise UsageError(f"{type(module).__name__} needs inputs: pass inputs=(tensor, ...) or input_shapes=[...]")
    return _on_chip(torch_entry.count(module, args, kwargs, opts, model_name=type(module).__name__,
                                      model_format="torch", inputs=specs), opts)
