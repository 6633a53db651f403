"""PyTorch models given as an entry point: ``path/to/file.py:factory`` or ``package.module:factory``.

The factory returns an ``nn.Module``, or ``(module, example_inputs)`` where example_inputs is a
tensor, a tuple/list of positional inputs, a dict of keyword inputs, or ``(args, kwargs)``.
It is called under ``torch.device("meta")`` by default, so no weights are allocated (``--device
cpu`` builds real tensors).  ``--input-shape``/``--input-dtype`` override the example inputs.

The helpers here (``make_inputs``, ``count``, ``parse_dtype``) are shared by the other torch
formats (torchscript, export, torch_save).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mlcost.errors import InputError, MlcostError, ModelLoadError, UsageError, import_optional, raised_in_mlcost
from mlcost.formats import ProfileOptions, split_entry_point
from mlcost.results import InputSpec, Profile

# Friendly names -> torch dtype attribute names.
_DTYPE_ALIASES = {
    "fp32": "float32", "float": "float32", "f32": "float32",
    "fp16": "float16", "half": "float16", "f16": "float16",
    "bf16": "bfloat16", "fp64": "float64", "double": "float64",
    "long": "int64", "int": "int32", "i64": "int64", "i32": "int32",
}


def _torch() -> Any:
    return import_optional("torch", "torch", "profiling PyTorch models")


def parse_dtype(name: str) -> Any:
    """'float32', 'bf16', 'int64', 'bool' -> torch.dtype (UsageError for anything else)."""
    torch = _torch()
    key = _DTYPE_ALIASES.get(name.strip().lower(), name.strip().lower())
    dtype = getattr(torch, key, None)
    if not isinstance(dtype, torch.dtype):
        raise UsageError(f"unknown --input-dtype {name!r} (use e.g. float32, bfloat16, float16, int64, int32, bool)")
    return dtype


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def make_inputs(opts: ProfileOptions, device: str) -> tuple[tuple[Any, ...], tuple[InputSpec, ...]]:
    """Positional inputs from --input-shape/--input-dtype on DEVICE.

    Integer dtypes make token ids (zeros: a valid id for any vocabulary); floats are random normal
    on a real device (meta tensors hold no values at all).
    """
    torch = _torch()
    shapes, dtypes = opts.input_shapes, opts.input_dtypes
    if len(dtypes) > len(shapes):
        raise UsageError(f"{len(dtypes)} --input-dtype values but only {len(shapes)} --input-shape; give one shape per input")
    if len(dtypes) not in (0, 1, len(shapes)):
        raise UsageError(f"{len(dtypes)} --input-dtype values for {len(shapes)} inputs: give one per --input-shape, or one for all")
    args, specs = [], []
    for i, shape in enumerate(shapes):
        if not shape or any(int(d) <= 0 for d in shape):
            raise UsageError(f"--input-shape {','.join(map(str, shape))}: every dimension must be a positive integer")
        name = dtypes[i] if len(dtypes) == len(shapes) else (dtypes[0] if dtypes else "float32")
        dtype = parse_dtype(name)
        if dtype.is_floating_point or dtype.is_complex:
            t = torch.randn(shape, dtype=dtype, device=device) if device != "meta" else torch.empty(shape, dtype=dtype, device=device)
        else:
            t = torch.zeros(shape, dtype=dtype, device=device)
        args.append(t)
        specs.append(InputSpec(tuple(int(d) for d in shape), dtype_name(dtype)))
    return tuple(args), tuple(specs)


def specs_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[InputSpec, ...]:
    """InputSpec for every tensor among the inputs (non-tensors are not described)."""
    torch = _torch()
    out = [InputSpec(tuple(a.shape), dtype_name(a.dtype)) for a in args if isinstance(a, torch.Tensor)]
    out += [InputSpec(tuple(v.shape), dtype_name(v.dtype), k) for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
    return tuple(out)


def required_inputs(module: Any) -> list[str]:
    """Names of forward()'s positional parameters without a default (what the model needs to run)."""
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds and p.default is inspect.Parameter.empty]


def count(module: Any, args: tuple, kwargs: dict | None, opts: ProfileOptions, *, model_name: str, model_format: str,
          inputs: tuple[InputSpec, ...], assumptions: tuple[str, ...] = ()) -> Profile:
    """Run mlcost's counter; a forward that fails on the given inputs is the user's input error."""
    from mlcost.counting import count_module

    try:
        return count_module(
            module, args, kwargs, backend=opts.backend, training=opts.training, optimizer=opts.optimizer,
            precision=opts.precision, strict=opts.strict, model_name=model_name, model_format=model_format,
            inputs=inputs, assumptions=assumptions, checkpointing=getattr(opts, "checkpointing", False),
            workspace=getattr(opts, "workspace", "none"),
        )
    except MlcostError:
        raise
    except BaseException as exc:  # torch raises RuntimeError/ValueError/IndexError/TypeError for shapes that do not fit
        if raised_in_mlcost(exc):  # a formula or the counter itself failed: a bug of ours (exit 70), not the model's
            raise
        shapes = "; ".join(f"{list(s.shape)} {s.dtype}" for s in inputs) or "no inputs"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{model_name}: the model failed on inputs ({shapes}): {type(exc).__name__}: {first}") from exc


@contextmanager
def _on_path(folder: str) -> Iterator[None]:
    """Let the user's file import its siblings (and a package from the current folder), then tidy up."""
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _import_target(target: str) -> Any:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise InputError(f"no such file: {target}")
        path = path.resolve()
        # A unique, stable module name: two files called model.py must not collide in sys.modules.
        name = f"_mlcost_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import {target}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses and pickling look their module up here
        try:
            with _on_path(str(path.parent)):
                spec.loader.exec_module(mod)
        except BaseException as exc:  # a script that calls sys.exit() (or raises anything) at import fails to load
            sys.modules.pop(name, None)
            raise ModelLoadError(f"importing {target} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
        return mod
    try:
        with _on_path(os.getcwd()):
            return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            raise ModelLoadError(f"no module named {exc.name!r} (for {target}); check the spelling or install it") from exc
        raise ModelLoadError(f"importing {target} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    except BaseException as exc:
        raise ModelLoadError(f"importing {target} failed: {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def load_factory(spec: str) -> tuple[Any, str]:
    """'file.py:build' -> (the callable, its display name)."""
    parts = split_entry_point(spec)
    if parts is None:
        raise UsageError(f"{spec!r} is not an entry point: use path/to/file.py:factory or package.module:factory")
    target, factory = parts
    obj = _import_target(target)
    for attr in factory.split("."):
        if not hasattr(obj, attr):
            raise ModelLoadError(f"{target} has no factory named {factory!r}")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise ModelLoadError(f"{target}:{factory} is not callable")
    return obj, f"{target}:{factory}"


def _split_result(result: Any, name: str) -> tuple[Any, tuple | None, dict | None]:
    """Factory result -> (module, args or None, kwargs or None)."""
    torch = _torch()
    nn = torch.nn
    if isinstance(result, nn.Module):
        return result, None, None
    if isinstance(result, (tuple, list)) and result and isinstance(result[0], nn.Module):
        rest = list(result[1:])
        if len(rest) == 1:
            ex = rest[0]
            if isinstance(ex, torch.Tensor):
                return result[0], (ex,), {}
            if isinstance(ex, dict):
                return result[0], (), dict(ex)
            if isinstance(ex, (tuple, list)):
                if len(ex) == 2 and isinstance(ex[0], (tuple, list)) and isinstance(ex[1], dict):
                    return result[0], tuple(ex[0]), dict(ex[1])  # (args, kwargs)
                return result[0], tuple(ex), {}
        if len(rest) == 2 and isinstance(rest[0], (tuple, list)) and isinstance(rest[1], dict):
            return result[0], tuple(rest[0]), dict(rest[1])
    raise ModelLoadError(
        f"{name} returned {type(result).__name__}; a factory must return an nn.Module or (module, example_inputs)"
    )


def load(spec: str, opts: ProfileOptions) -> tuple[Any, tuple, dict, tuple[InputSpec, ...], str]:
    """Build the model: (module, args, kwargs, input specs, display name)."""
    torch = _torch()
    factory, name = load_factory(spec)
    device = opts.device or "meta"
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"unknown --device {device!r}: {_first_line(exc)}") from None
    from mlcost.counting import deferred_imports

    try:
        with torch_device, deferred_imports():  # nn.init on meta runs torch's Python kernels
            result = factory(**opts.factory_args)
    except MlcostError:
        raise
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from a factory fail it too: never a silent exit 0
        # No origin check: only the user's code runs here, and a TypeError for a wrong --arg is raised at this call.
        raise ModelLoadError(f"factory {name} raised {type(exc).__name__}: {_first_line(exc)}") from exc
    module, args, kwargs = _split_result(result, name)
    if opts.input_shapes:
        with torch_device:
            args, specs = make_inputs(opts, device)
        kwargs = {}
    elif args is not None:
        specs = specs_of(args, kwargs or {})
    else:
        needed = required_inputs(module)
        if needed:
            raise UsageError(
                f"{name} needs {len(needed)} input(s) ({', '.join(needed)}) and the factory returned none: "
                "pass --input-shape (and --input-dtype for token ids), or return (module, example_inputs)"
            )
        args, kwargs, specs = (), {}, ()
    return module, tuple(args), dict(kwargs or {}), specs, name


@contextmanager
def user_stdout_to_stderr() -> Iterator[None]:
    """While the user's code imports, builds and runs, its ``print`` goes to stderr: stdout carries
    mlcost's output alone (``-f json`` stays parseable).  Scoped: sys.stdout is restored on exit."""
    from contextlib import redirect_stdout

    with redirect_stdout(sys.stderr):
        yield


def profile_file(spec: str | Path, opts: ProfileOptions) -> Profile:
    """Profile the module a factory builds (meta device unless ``opts.device`` says otherwise)."""
    with user_stdout_to_stderr():
        module, args, kwargs, specs, name = load(str(spec), opts)
        assumptions = ()
        if (opts.device or "meta") == "meta":
            assumptions = ("built on the meta device: shapes only, no weights allocated",)
        return count(module, args, kwargs, opts, model_name=name, model_format="torch", inputs=specs,
                     assumptions=assumptions)
