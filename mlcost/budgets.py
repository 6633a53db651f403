"""Model cost budgets: load ``[tool.mlcost]`` / ``mlcost.toml``, compare profiles (and a baseline) → BudgetReport.

Nothing here prints or exits: ``mlcost check`` renders the report and picks the exit status.
Budget values are in base units (params, FLOPs, MACs, bytes, pfs-days, kg CO2e); ``max_increase``
and ``warn_at`` are fractions (``"5%"`` == 0.05).  The config locator (file, line) lives in
``mlcost.budget_config`` so that every error can name the line to fix.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlcost.budget_config import METRICS, BudgetConfig, ModelConfig, find_config, load_config
from mlcost.errors import (InputError, MissingDependencyError, MlcostError, ModelLoadError, UsageError, first_line,
                           raised_in_mlcost)
from mlcost.jsonfile import read_json_object
from mlcost.results import BudgetReport, BudgetRow, Profile

__all__ = [
    "BASELINE_SCHEMA", "METRICS", "BudgetConfig", "ModelConfig", "find_config", "load_config", "measure",
    "compare", "check_profiles", "profile_models", "save_baseline", "load_baseline", "baseline_at_ref", "run_check",
]

BASELINE_SCHEMA = "mlcost.baseline/1"

Values = dict[str, dict[str, float | int]]  # model name -> metric -> value in base units


# --- measuring ---------------------------------------------------------------------------------------------------

def measure(model: ModelConfig, profile: Profile) -> dict[str, float | int]:
    """The metrics of one profiled model, in base units; budgets on an unmeasurable metric are errors."""
    p = profile
    values: dict[str, float | int | None] = {
        "params": p.params.total,
        "flops": p.flops_forward,
        "macs": p.macs_forward,
        "weights_bytes": p.memory.weights_bytes,
        "activation_bytes": p.memory.activations_peak_bytes,
        "training_memory": p.memory.training_peak_bytes,
    }
    if model.needs_compute:
        try:
            values.update(_costs(model, p))
        except MissingDependencyError:
            raise
        except MlcostError as exc:
            raise _with_context(exc, f"model {model.name!r}") from exc
    for metric, budget in model.budgets.items():
        if values.get(metric) is None:
            why = "no graph was counted" if metric in ("flops", "macs") else "the profile does not report it"
            raise InputError(f"model {model.name!r}: {METRICS[metric].key} is set but {metric} is unknown ({why}; "
                             f"format {p.format}, backend {p.backend})")
    return {k: v for k, v in values.items() if v is not None}


def _costs(model: ModelConfig, profile: Profile) -> dict[str, float]:
    """pfs-days (mlcost.costs.compute) and kg CO2e (mlcost.costs.carbon) from the model's cost inputs."""
    from mlcost.costs import compute

    c = model.cost
    est = compute.from_profile(profile, samples=c.get("samples"), tokens=c.get("tokens"), epochs=c.get("epochs", 1.0),
                               gpu=c.get("gpu"), count=c.get("gpu_count", 1), utilization=c.get("utilization"),
                               precision=c.get("gpu_precision"))
    out: dict[str, float] = {"pfs_days": float(est.pfs_days)}
    if c.get("gpu"):  # CO2e needs the accelerator (the load checks max_co2e_kg has one)
        from mlcost.costs import carbon

        co2 = carbon.from_flops(est.flops, gpu=c["gpu"], count=c.get("gpu_count", 1), utilization=c.get("utilization"),
                                precision=c.get("gpu_precision"), region=c.get("region"), pue=c.get("pue"),
                                intensity_g_per_kwh=c.get("intensity_g_per_kwh"))
        out["co2e_kg"] = float(co2.co2e_kg)
    return out


# --- comparing ---------------------------------------------------------------------------------------------------

def _fmt(metric: str, value: float | int | None) -> str:
    from mlcost.units import format_bytes, format_si

    if value is None:
        return "—"
    unit = METRICS[metric].unit
    if unit == "bytes":
        return format_bytes(value)
    if metric in ("pfs_days", "co2e_kg"):
        return f"{value:.4g} {unit}"
    return format_si(value, "" if unit == "params" else unit)


def _pct(change: float | None) -> str:
    if change is None:
        return "—"
    return f"{change * 100:+.2f}%"


def _change(value: float, base: float) -> float | None:
    """(value - base) / base; None when the baseline is 0 (or negative, through the library): undefined."""
    if value == base:
        return 0.0
    if base <= 0:
        return None
    return (value - base) / base


def _vs_baseline(metric: str, value: float, base: float, change: float | None) -> str:
    if change is not None:
        return f"{_pct(change)} vs baseline"
    diff = value - base
    return (f"baseline {_fmt(metric, base)}: relative change undefined, absolute change "
            f"{'+' if diff >= 0 else '-'}{_fmt(metric, abs(diff))}")


def _max_row(model: ModelConfig, metric: str, value: float, base: float | None, warn_at: float) -> BudgetRow:
    limit = model.budgets[metric]
    key = METRICS[metric].key
    if value > limit:
        verdict, how = "fail", "exceeds"
    elif value >= warn_at * limit:
        verdict, how = "warn", f"is within {100 - 100 * value / limit:.1f}% of"
    else:
        verdict, how = "pass", "is within"
    change = _change(value, base) if base is not None else None
    vs = f" ({_vs_baseline(metric, value, base, change)})" if base is not None else ""
    msg = f"{model.name}: {metric} {_fmt(metric, value)} {how} {key} {_fmt(metric, limit)}{vs}"
    return BudgetRow(model.name, key, metric, "max", METRICS[metric].unit, value, limit, verdict, msg,
                     baseline=base, change=change, line=model.lines.get(key))


def _increase_row(model: ModelConfig, metric: str, value: float | None, base: float | None, frac: float,
                  warn_at: float, baseline_label: str | None) -> BudgetRow:
    key = f"max_increase.{metric}"
    line = model.lines.get(key) or model.lines.get("max_increase")
    unit = METRICS[metric].unit
    if value is None or base is None:
        why = "no baseline given" if baseline_label is None else f"no baseline value in {baseline_label}"
        return BudgetRow(model.name, key, metric, "increase", unit, value, None, "skip",
                         f"{model.name}: {metric} change not checked ({why})", baseline=base, max_increase=frac, line=line)
    change = _change(value, base)
    limit = base * (1 + frac) if base > 0 else base
    if change is None:  # a baseline of 0: no fraction of it is allowed, so any increase exceeds
        verdict, how = ("fail", "exceeds") if value > base else ("pass", "is within")
        msg = f"{model.name}: {metric} {_fmt(metric, value)} ({_vs_baseline(metric, value, base, None)}); " \
              f"{how} max_increase {frac * 100:g}%"
        return BudgetRow(model.name, key, metric, "increase", unit, value, limit, verdict, msg,
                         baseline=base, change=None, max_increase=frac, line=line)
    if change > frac + 1e-12:
        verdict, how = "fail", "exceeds"
    elif change > 0 and change >= warn_at * frac:
        verdict, how = "warn", "is near"
    else:
        verdict, how = "pass", "is within"
    msg = (f"{model.name}: {metric} {_fmt(metric, value)} is {_pct(change)} vs baseline {_fmt(metric, base)}; "
           f"{how} max_increase {frac * 100:g}%")
    return BudgetRow(model.name, key, metric, "increase", unit, value, limit, verdict, msg,
                     baseline=base, change=change, max_increase=frac, line=line)


def compare(config: BudgetConfig, values: Values, baseline: Values | None = None, *,
            baseline_label: str | None = None, notes: Sequence[str] = ()) -> BudgetReport:
    """Every budget of every model in VALUES (in config order) → BudgetReport.  Pure; never raises for a verdict."""
    rows: list[BudgetRow] = []
    names = [m.name for m in config.models if m.name in values]
    for model in config.models:
        if model.name not in values:
            continue
        cur = values[model.name]
        base = (baseline or {}).get(model.name, {})
        warn_at = model.warn_at if model.warn_at is not None else config.warn_at
        for metric in METRICS:
            if metric in model.budgets:
                rows.append(_max_row(model, metric, cur[metric], base.get(metric), warn_at))
            frac = model.increase.get(metric, model.increase.get("default"))
            if frac is None or (metric not in model.increase and metric not in cur):
                continue  # a default threshold covers the metrics measured, not every metric there is
            rows.append(_increase_row(model, metric, cur.get(metric), base.get(metric), frac, warn_at, baseline_label))
    return BudgetReport(config=config.display_path, rows=tuple(rows), models=tuple(names),
                        values={n: dict(values[n]) for n in names}, baseline=baseline_label,
                        warn_at=config.warn_at, notes=tuple(notes))


def check_profiles(config: BudgetConfig, profiles: Mapping[str, Profile] | Sequence[Profile],
                   baseline: Values | Mapping[str, Profile] | Sequence[Profile] | None = None, *,
                   baseline_label: str | None = None) -> BudgetReport:
    """Profiles (a name → Profile mapping, or a list aligned with ``config.models``) → BudgetReport."""
    cur = _values_of(config, profiles)
    base: Values | None = None
    if baseline is not None:
        is_values = isinstance(baseline, Mapping) and all(isinstance(v, Mapping) for v in baseline.values())
        base = {k: dict(v) for k, v in baseline.items()} if is_values else _values_of(config, baseline)  # type: ignore[union-attr]
    return compare(config, cur, base, baseline_label=baseline_label or ("given" if base is not None else None))


def _values_of(config: BudgetConfig, profiles: Mapping[str, Profile] | Sequence[Profile]) -> Values:
    if isinstance(profiles, Mapping):
        pairs = list(profiles.items())
    else:
        pairs = [(m.name, p) for m, p in zip(config.models, profiles)]
    by_name = {m.name: m for m in config.models}
    out: Values = {}
    for name, prof in pairs:
        if name not in by_name:
            raise UsageError(f"no model named {name!r} in {config.display_path}")
        out[name] = measure(by_name[name], prof)
    return out


# --- profiling the configured models ---------------------------------------------------------------------------

def profile_models(config: BudgetConfig, models: Sequence[ModelConfig], root: Path | None = None, *,
                   where: str = "") -> dict[str, Profile]:
    """Profile MODELS with their options; model paths resolve against ROOT (the config's folder by default)."""
    import mlcost

    out: dict[str, Profile] = {}
    for model in models:
        spec = model.resolve(root if root is not None else config.root)
        try:
            out[model.name] = mlcost.profile(spec, **model.profile_kwargs())
        except MissingDependencyError:
            raise
        except MlcostError as exc:
            raise _with_context(exc, f"model {model.name!r}{where}") from exc
        except BaseException as exc:
            # sys.exit(0), KeyboardInterrupt or anything else from the user's factory or model fails that model
            # (exit 2): it must never end the gate as a pass.  A bug of mlcost's own stays one (exit 70).
            if raised_in_mlcost(exc):
                raise
            raise ModelLoadError(f"model {model.name!r}{where}: {type(exc).__name__}: {first_line(exc)}") from exc
    return out


def _with_context(exc: MlcostError, context: str) -> MlcostError:
    try:
        new = type(exc)(f"{context}: {exc}")
    except TypeError:
        new = ModelLoadError(f"{context}: {exc}")
    return new


# --- baselines ---------------------------------------------------------------------------------------------------

def save_baseline(path: str | Path, values: Values, *, source: str | None = None, force: bool = False) -> dict[str, Any]:
    """Write VALUES as ``mlcost.baseline/1`` JSON (atomically; a file mlcost did not write is replaced only
    with FORCE); no timestamps, so reruns give identical files."""
    from mlcost import __version__
    from mlcost.render import to_json
    from mlcost.safeio import write_output

    data = {"schema": BASELINE_SCHEMA, "mlcost_version": __version__, "source": source,
            "models": {name: dict(metrics) for name, metrics in values.items()}}
    write_output(Path(path), to_json(data), force=force, option="--save-baseline")
    return data


def load_baseline(path: str | Path) -> Values:
    """Read a baseline JSON file written by ``save_baseline`` (``--save-baseline``)."""
    path = Path(path)
    data = read_json_object(path, "baseline file")
    if data.get("schema") != BASELINE_SCHEMA:
        found = data.get("schema")
        raise InputError(f"{path} is not an mlcost baseline: expected schema {BASELINE_SCHEMA!r}, found {found!r}")
    models = data.get("models")
    if not isinstance(models, dict):
        raise InputError(f"{path}: 'models' must be a table of model name -> metrics")
    out: Values = {}
    for name, metrics in models.items():
        if not isinstance(metrics, dict):
            raise InputError(f"{path}: model {name!r} must map metric names to numbers")
        bad = [k for k, v in metrics.items() if k not in METRICS or isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise InputError(f"{path}: model {name!r} has an unknown metric or a non-number: {bad[0]!r}")
        negative = [k for k, v in metrics.items() if v < 0]  # NaN/inf were refused by the JSON reader
        if negative:
            raise InputError(f"{path}: model {name!r}: {negative[0]} is {metrics[negative[0]]!r}; "
                             "a cost metric is never negative")
        out[name] = dict(metrics)
    return out


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("--baseline-ref needs git, and git is not installed") from None
    if done.returncode != 0:
        raise _GitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout.strip()


class _GitError(Exception):
    pass


@contextmanager
def git_worktree(repo_dir: Path, ref: str) -> Iterator[tuple[Path, Path]]:
    """Check REF out in a temporary detached worktree; yields (worktree, repository top level).

    The worktree and its git bookkeeping are removed on exit, error or not."""
    try:
        top = Path(_git(repo_dir, "rev-parse", "--show-toplevel")).resolve()
    except _GitError:
        raise UsageError(f"--baseline-ref needs a git repository; {repo_dir} is not inside one") from None
    try:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except _GitError:
        raise InputError(f"--baseline-ref: unknown git ref {ref!r}") from None
    tmp = Path(tempfile.mkdtemp(prefix="mlcost-baseline-"))
    tree = tmp / "tree"
    try:
        try:
            _git(top, "worktree", "add", "--detach", str(tree), commit)
        except _GitError as exc:
            raise InputError(f"--baseline-ref: cannot check out {ref!r}: {exc}") from None
        yield tree, top
    finally:
        try:
            _git(top, "worktree", "remove", "--force", str(tree))
        except _GitError:
            pass  # never checked out, or already gone: the prune below drops any bookkeeping left
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _git(top, "worktree", "prune")
        except _GitError:
            pass


def _from_checkout(module: Any, top: Path) -> bool:
    """A module the user's models imported from the repository (not mlcost, not an installed package)."""
    name, file = getattr(module, "__name__", ""), getattr(module, "__file__", None)
    if not file or name == "mlcost" or name.startswith("mlcost.") or "-packages" in file:
        return False
    try:
        return Path(file).resolve().is_relative_to(top)
    except (OSError, ValueError):
        return False


@contextmanager
def _imports_from(top: Path, tree: Path) -> Iterator[None]:
    """Import the models' own modules from TREE, not from the checkout at TOP, then put everything back.

    Without this a model file's sibling (``from layers import Block``) or a ``package.module:factory``
    imported while profiling today's models would stand in for REF's version of it."""
    saved = {k: m for k, m in list(sys.modules.items()) if _from_checkout(m, top)}
    for k in saved:
        del sys.modules[k]
    cwd = Path.cwd()
    try:
        inner = tree / cwd.resolve().relative_to(top)  # `package.module:factory` imports from the working directory
    except ValueError:
        inner = None
    if inner is not None and inner.is_dir():
        os.chdir(inner)
    try:
        yield
    finally:
        os.chdir(cwd)
        for k, m in list(sys.modules.items()):
            if _from_checkout(m, tree):
                del sys.modules[k]
        sys.modules.update(saved)


def baseline_at_ref(config: BudgetConfig, models: Sequence[ModelConfig], ref: str) -> tuple[Values, list[str]]:
    """Profile MODELS as they are at git REF (paths resolved inside a temporary worktree) → (values, notes).

    The budgets are today's; only the models come from REF.  A model whose file is missing at REF gets no
    baseline (its ``max_increase`` rows are skipped, with a note)."""
    values: Values = {}
    notes: list[str] = []
    with git_worktree(config.root, ref) as (tree, top):
        try:
            rel = config.root.resolve().relative_to(top)
        except ValueError:
            raise UsageError(f"{config.display_path} is outside the git repository at {top}") from None
        root = tree / rel
        present: list[ModelConfig] = []
        for model in models:
            target = model.local_file(root)
            if target is not None and not target.exists():
                shown = target.relative_to(root).as_posix() if target.is_relative_to(root) else str(target)
                notes.append(f"model {model.name!r}: {shown} does not exist at {ref}; no baseline")
            else:
                present.append(model)
        with _imports_from(top, tree):
            profiles = profile_models(config, present, root, where=f" at {ref}")
        for model in present:
            values[model.name] = measure(model, profiles[model.name])
    return values, notes


def run_check(config: BudgetConfig, names: Sequence[str] = (), *, baseline_file: str | Path | None = None,
              baseline_ref: str | None = None) -> tuple[BudgetReport, Values]:
    """Profile the configured (or NAMES-selected) models, compare with the baseline → (report, current values)."""
    if baseline_file is not None and baseline_ref is not None:
        raise UsageError("give --baseline FILE or --baseline-ref REF, not both")
    models = config.select(names)
    current = {name: measure(m, p) for m, (name, p) in zip(models, profile_models(config, models).items())}
    baseline: Values | None = None
    label: str | None = None
    notes: list[str] = []
    if baseline_file is not None:
        baseline, label = load_baseline(baseline_file), f"file:{baseline_file}"
    elif baseline_ref is not None:
        baseline, notes = baseline_at_ref(config, models, baseline_ref)
        label = f"ref:{baseline_ref}"
    report = compare(config, current, baseline, baseline_label=label, notes=notes)
    return report, current

