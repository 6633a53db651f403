"""The ``mlcost check`` configuration: ``[tool.mlcost]`` in pyproject.toml or a ``mlcost.toml`` (same schema).

Every error names the file and the line (found in the text: tomllib keeps no positions) and, for an
unknown key, the closest known key.  Keys may be spelled with ``-`` or ``_`` (``input-shape``).
Budget values are stored in base units; fractions (``"5%"``) as floats (0.05).
"""
from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcost import limits, safeio
from mlcost.choices import Backend, Optimizer, RunPrecision, TrainingPrecision, values
from mlcost.errors import ConfigError, InputError, MlcostError
from mlcost.formats import AS_CHOICES, split_entry_point
from mlcost.units import parse_bytes, parse_count, parse_flops, parse_fraction, parse_macs, parse_number


def _parse_number(value: Any, what: str) -> float:
    """A plain number >= 0 (pfs-days, kg, epochs, pue ...): units.parse_number refuses NaN, inf and the absurd."""
    number = parse_number(value, what)
    if number < 0:
        raise ConfigError(f"{what}: {value!r} must be a number >= 0")
    return number


@dataclass(frozen=True)
class Metric:
    key: str  # the absolute budget's config key
    unit: str  # base unit of values and limits
    parse: Callable[[Any, str], float | int]


# metric -> its budget; the order here is the order of rows in every report.
METRICS: dict[str, Metric] = {
    "params": Metric("max_params", "params", parse_count),
    "flops": Metric("max_flops", "FLOPs", parse_flops),
    "macs": Metric("max_macs", "MACs", parse_macs),
    "weights_bytes": Metric("max_weights_bytes", "bytes", parse_bytes),
    "activation_bytes": Metric("max_activation_bytes", "bytes", parse_bytes),
    "training_memory": Metric("max_training_memory", "bytes", parse_bytes),
    "pfs_days": Metric("max_pfs_days", "pfs-days", _parse_number),
    "co2e_kg": Metric("max_co2e_kg", "kg CO2e", _parse_number),
}
_BY_KEY = {m.key: name for name, m in METRICS.items()}

TOP_KEYS = ("models", "budgets", "warn_at")
BUDGET_KEYS = (*_BY_KEY, "max_increase", "warn_at")
INCREASE_KEYS = ("default", *METRICS)
PROFILE_KEYS = ("input_shape", "input_dtype", "args", "backend", "training", "optimizer", "precision", "strict", "as",
                "dims", "seq_len", "batch_size", "trust_pickle", "trust_remote_code")
COST_KEYS = ("tokens", "samples", "epochs", "gpu", "gpu_count", "utilization", "gpu_precision", "region", "pue",
             "intensity_g_per_kwh")
MODEL_KEYS = ("name", "model", *PROFILE_KEYS, *COST_KEYS, "budgets")
_CHOICES = {"backend": values(Backend), "optimizer": values(Optimizer), "precision": values(TrainingPrecision),
            "as": AS_CHOICES}


@dataclass(frozen=True)
class ModelConfig:
    """One ``[[models]]`` entry; ``budgets``: metric -> limit; ``increase``: metric (or "default") -> fraction."""

    name: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)  # normalized profile options
    cost: dict[str, Any] = field(default_factory=dict)  # compute/carbon inputs for pfs_days and co2e_kg
    budgets: dict[str, float | int] = field(default_factory=dict)
    increase: dict[str, float] = field(default_factory=dict)
    warn_at: float | None = None
    lines: dict[str, int] = field(default_factory=dict)  # budget key ("max_macs", "max_increase.macs") -> line
    line: int | None = None  # the line of its [[models]] header

    @property
    def needs_compute(self) -> bool:
        return "tokens" in self.cost or "samples" in self.cost  # the load checks that pfs/CO2e budgets have them

    def profile_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``mlcost.profile`` (only the options the config sets)."""
        rename = {"input_shape": "input_shapes", "input_dtype": "input_dtypes", "args": "factory_args", "as": "as_format"}
        return {rename.get(k, k): v for k, v in self.options.items()}

    def local_file(self, root: Path) -> Path | None:
        """The model's file or folder under ROOT; None for an importable ``package.module:factory``."""
        entry = split_entry_point(self.model)
        if entry is not None:
            target = entry[0]
            return (root / target) if target.endswith(".py") else None
        return root / self.model

    def resolve(self, root: Path) -> str:
        """The MODEL spec with a relative file path made absolute against ROOT (the config's folder)."""
        local = self.local_file(root)
        if local is None:
            return self.model
        entry = split_entry_point(self.model)
        return f"{local}:{entry[1]}" if entry else str(local)


@dataclass(frozen=True)
class BudgetConfig:
    path: Path
    display_path: str  # as annotations should name it: relative to the working directory when inside it
    root: Path  # the folder model paths are relative to
    models: tuple[ModelConfig, ...]
    warn_at: float = 0.9

    def select(self, names: Sequence[str] = ()) -> list[ModelConfig]:
        if not names:
            return list(self.models)
        known = {m.name: m for m in self.models}
        for n in names:
            if n not in known:
                close = difflib.get_close_matches(n, list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; models: {', '.join(known)}"
                raise ConfigError(f"no model named {n!r} in {self.display_path}{hint}")
        return [m for m in self.models if m.name in set(names)]


# --- finding the file --------------------------------------------------------------------------------------------

def find_config(start: Path | None = None) -> Path:
    """mlcost.toml, else a pyproject.toml with [tool.mlcost], in START (the working directory) or a parent."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "mlcost.toml").is_file():
            return folder / "mlcost.toml"
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and re.search(r"^\s*\[\s*tool\s*\.\s*mlcost\b", _read_pyproject(pyproject), re.M):
            return pyproject
    raise ConfigError(f"no mlcost.toml, and no pyproject.toml with [tool.mlcost], in {start} or its parents; pass --config FILE")


def _read_pyproject(path: Path) -> str:
    """A pyproject.toml's text for the [tool.mlcost] search (bounded; an unreadable one is reported when loaded)."""
    try:
        return safeio.read_bytes(path, "pyproject.toml", limits.MAX_TOML_BYTES).decode("utf-8", "replace")
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def _display(path: Path) -> str:
    """PATH relative to $GITHUB_WORKSPACE (annotations link only such paths), else to the working directory."""
    for base in (os.environ.get("GITHUB_WORKSPACE"), os.getcwd()):
        if not base:
            continue
        try:
            rel = os.path.relpath(path.resolve(), Path(base).resolve())
        except ValueError:  # another drive (Windows)
            continue
        if not rel.startswith(".."):
            return Path(rel).as_posix()
    return str(path)


# --- locating keys in the text -----------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


class _Locator:
    """Finds the line of a key: tomllib parses without positions, so we read the headers ourselves."""

    def __init__(self, text: str, prefix: tuple[str, ...]) -> None:
        self.lines = text.splitlines()
        self.prefix = prefix
        self.headers: list[tuple[int, tuple[str, ...], bool]] = []
        for i, line in enumerate(self.lines):
            m = _HEADER.match(line)
            if m:
                parts = tuple(p.strip().strip("\"'").replace("-", "_") for p in m[2].split("."))
                self.headers.append((i, parts, m[1] == "[["))

    def block(self, index: int | None) -> tuple[tuple[str, ...], int, int]:
        """(table path, first line, end line) of the config root or of the INDEX-th [[models]] table."""
        if index is None:
            start = next((i + 1 for i, parts, arr in self.headers if parts == self.prefix and not arr), 0)
            return self.prefix, start, len(self.lines)
        path = (*self.prefix, "models")
        found = [i for i, parts, arr in self.headers if parts == path and arr]
        if index >= len(found):
            return path, 0, 0
        start = found[index]
        end = next((i for i, parts, arr in self.headers if i > start and (parts[: len(path)] != path or (parts == path and arr))),
                   len(self.lines))
        return path, start + 1, end

    def _key_line(self, key: str | Sequence[str], lo: int, hi: int) -> int | None:
        parts = [key] if isinstance(key, str) else list(key)
        name = r"\s*\.\s*".join(r"[\"']?" + re.sub(r"[-_]", "[-_]", re.escape(k)) + r"[\"']?" for k in parts)
        pattern = re.compile(r"(^|[\s{,])" + name + r"\s*=")
        for i in range(lo, hi):
            line = self.lines[i].split("#", 1)[0]
            if _HEADER.match(self.lines[i]):
                return None
            if pattern.search(line):
                return i
        return None

    def find(self, index: int | None, keys: Sequence[str]) -> int | None:
        """1-based line of the key at KEYS (nested tables) in the root or model INDEX; the table's line as a fallback."""
        path, lo, hi = self.block(index)
        keys = [k.replace("-", "_") for k in keys]
        if not keys:
            return lo if lo > 0 else None
        for depth in range(len(keys) - 1, 0, -1):  # a sub-table header such as [models.budgets]
            want = (*path, *keys[:depth])
            for i, parts, arr in self.headers:
                if lo <= i < hi and parts == want and not arr:
                    hit = next((h for end in range(len(keys), depth, -1)
                                if (h := self._key_line(keys[depth:end], i + 1, hi)) is not None), None)
                    return (hit if hit is not None else i) + 1
        for depth in range(len(keys), 0, -1):  # a dotted key (budgets.max_params = 3), then a key or inline table
            hit = self._key_line(keys[:depth], lo, hi)
            if hit is not None:
                return hit + 1
        return lo if lo > 0 else None  # lo - 1 is the header line, 0-based


# --- loading and validating --------------------------------------------------------------------------------------

class _Loader:
    def __init__(self, path: Path, text: str, prefix: tuple[str, ...]) -> None:
        self.path, self.loc = path, _Locator(text, prefix)
        self.display = _display(path)

    def where(self, index: int | None, keys: Sequence[str]) -> str:
        line = self.loc.find(index, keys)
        return f"{self.display}:{line}" if line else self.display

    def fail(self, index: int | None, keys: Sequence[str], message: str) -> ConfigError:
        return ConfigError(f"{self.where(index, keys)}: {message}")

    def check_keys(self, table: dict[str, Any], allowed: Sequence[str], index: int | None, at: Sequence[str], what: str) -> dict[str, Any]:
        """TABLE with keys normalized to underscores; an unknown key fails with its line and the closest known key."""
        out: dict[str, Any] = {}
        for key, value in table.items():
            norm = key.replace("-", "_")
            if norm not in allowed:
                close = difflib.get_close_matches(norm, list(allowed), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(allowed)}"
                raise self.fail(index, [*at, key], f"unknown key {key!r} in {what}{hint}")
            if norm in out:
                raise self.fail(index, [*at, key], f"{what}: {key!r} is given twice (as '-' and '_' spellings)")
            out[norm] = value
        return out

    def convert(self, index: int | None, keys: Sequence[str], func: Callable[[], Any]) -> Any:
        try:
            return func()
        except ConfigError as exc:
            raise self.fail(index, keys, str(exc)) from None
        except MlcostError as exc:  # the units parsers raise UsageError: re-raise naming the line
            raise self.fail(index, keys, str(exc)) from None

    def budgets(self, table: Any, index: int | None, at: list[str], what: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(index, at, f"{what} must be a table")
        table = self.check_keys(table, BUDGET_KEYS, index, at, what)
        out: dict[str, Any] = {"limits": {}, "increase": {}, "lines": {}}
        for key, value in table.items():
            keys = [*at, key]
            if key in _BY_KEY:
                metric = _BY_KEY[key]
                out["limits"][metric] = self.convert(index, keys, lambda: _positive(METRICS[metric].parse(value, key), key))
                out["lines"][key] = self.loc.find(index, keys)
            elif key == "warn_at":
                out["warn_at"] = self.convert(index, keys, lambda: _warn_at(value))
            else:  # max_increase: one fraction for every metric, or a table per metric
                out["lines"]["max_increase"] = self.loc.find(index, keys)
                items = value if isinstance(value, dict) else {"default": value}
                items = self.check_keys(items, INCREASE_KEYS, index, keys, "max_increase")
                for metric, frac in items.items():
                    out["increase"][metric] = self.convert(index, [*keys, metric], lambda: _fraction(frac, "max_increase" if metric == "default" else f"max_increase.{metric}"))
                    if isinstance(value, dict):
                        out["lines"][f"max_increase.{metric}"] = self.loc.find(index, [*keys, metric])
        return out

    def model(self, raw: Any, index: int, defaults: dict[str, Any], warn_at: float) -> ModelConfig:
        at: list[str] = []
        if not isinstance(raw, dict):
            raise self.fail(index, [], "each [[models]] entry must be a table")
        table = self.check_keys(raw, MODEL_KEYS, index, at, "[[models]]")
        for required in ("name", "model"):
            if not isinstance(table.get(required), str) or not table[required].strip():
                raise self.fail(index, [required] if required in table else [], f"[[models]] #{index + 1} needs a {required!r} string")
        name = table["name"]
        options: dict[str, Any] = {}
        cost: dict[str, Any] = {}
        for key in PROFILE_KEYS:
            if key in table:
                options[key] = self.convert(index, [key], lambda: _option(key, table[key]))
        for key in COST_KEYS:
            if key in table:
                cost[key] = self.convert(index, [key], lambda: _cost(key, table[key]))
        mine = self.budgets(table.get("budgets", {}), index, ["budgets"], f"the budgets of model {name!r}")
        limits = {**defaults["limits"], **mine["limits"]}
        increase = {**defaults["increase"], **mine["increase"]}
        lines = {**defaults["lines"], **mine["lines"]}
        if ("training_memory" in limits or "training_memory" in increase) and options.get("training") is False:
            raise self.fail(index, ["training"], f"model {name!r}: max_training_memory needs training = true")
        if "training_memory" in limits or "training_memory" in increase:
            options["training"] = True  # the training peak is only measured when a training step is profiled
        needs = {"pfs_days", "co2e_kg"} & (set(limits) | set(increase))
        if needs and "tokens" not in cost and "samples" not in cost:
            raise self.fail(index, [], f"model {name!r}: max_pfs_days/max_co2e_kg need 'tokens' or 'samples' (training data size)")
        if "co2e_kg" in (set(limits) | set(increase)) and "gpu" not in cost:
            raise self.fail(index, [], f"model {name!r}: max_co2e_kg needs 'gpu' (the accelerator, e.g. \"A100\")")
        return ModelConfig(name=name, model=table["model"], options=options, cost=cost, budgets=limits, increase=increase,
                           warn_at=mine.get("warn_at", defaults.get("warn_at")), lines=lines,
                           line=self.loc.find(index, []))


def _positive(value: float | int, what: str) -> float | int:
    if value < 0:
        raise ConfigError(f"{what} must be >= 0, got {value}")
    return value


def _fraction(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{what}: expected a percentage such as \"5%\", got {value!r}")
    frac = parse_fraction(value, what)  # refuses NaN ("nan%"), infinities and the absurd, naming the value
    if frac < 0:
        raise ConfigError(f"{what} must be >= 0%, got {value!r}")
    return frac


def _warn_at(value: Any) -> float:
    frac = _fraction(value, "warn_at")
    if not 0 < frac <= 1:
        raise ConfigError(f"warn_at must be between 0% and 100% of a limit, got {value!r}")
    return frac


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,x×\s]+", value.strip()) if p]
        if parts and all(p.isdigit() for p in parts):
            return tuple(int(p) for p in parts)
    elif isinstance(value, list) and value and all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        return tuple(value)
    raise ConfigError(f"input_shape: cannot read {value!r} (expected \"1,3,224,224\" or [1, 3, 224, 224])")


def _option(key: str, value: Any) -> Any:
    if key == "input_shape":
        if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(d, int) for d in value)):
            return (_shape(value),)
        if isinstance(value, list) and value:
            return tuple(_shape(v) for v in value)
        raise ConfigError(f"input_shape: cannot read {value!r}")
    if key == "input_dtype":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"input_dtype: expected a string or a list of strings, got {value!r}")
        return tuple(items)
    if key in ("args", "dims"):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table such as {{ width = 8 }}, got {value!r}")
        if key == "dims" and not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            raise ConfigError(f"dims: every value must be an integer, got {value!r}")
        return dict(value)
    if key in ("training", "strict", "trust_pickle", "trust_remote_code"):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if key in ("seq_len", "batch_size"):
        count = parse_count(value, key)
        if count <= 0:
            raise ConfigError(f"{key} must be positive, got {value!r}")
        return count
    if not isinstance(value, str) or value not in _CHOICES[key]:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(_CHOICES[key])}")
    return value


def _cost(key: str, value: Any) -> Any:
    if key == "gpu_precision":  # compute's --precision, named by its key here (compute named it 'precision')
        if not isinstance(value, str) or value.lower() not in values(RunPrecision):
            raise ConfigError(f"gpu_precision: {value!r} is not one of {', '.join(values(RunPrecision))}")
        return value
    if key in ("gpu", "region"):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}: expected a name such as \"A100\", got {value!r}")
        return value
    if key in ("tokens", "samples", "gpu_count"):
        count = parse_count(value, key)
        if count <= 0:
            raise ConfigError(f"{key} must be positive, got {value!r}")
        return count
    if key == "utilization":
        frac = _fraction(value, key)
        if not 0 < frac <= 1:
            raise ConfigError(f"utilization must be in (0%, 100%], got {value!r}")
        return frac
    number = _parse_number(value, key)  # epochs, pue, intensity_g_per_kwh
    if key == "pue" and number < 1:
        raise ConfigError(f"pue must be >= 1, got {value!r}")
    return number


def load_config(path: str | Path | None = None) -> BudgetConfig:
    """Read and validate the budget configuration at PATH (found with ``find_config`` when None)."""
    path = Path(path) if path is not None else find_config()
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = safeio.read_text(path, "--config", limits.MAX_TOML_BYTES)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_display(path)}: invalid TOML: {exc}") from None
    prefix: tuple[str, ...] = ()
    if isinstance(doc.get("tool"), dict) and "mlcost" in doc["tool"] or path.name == "pyproject.toml":
        if not isinstance(doc.get("tool", {}).get("mlcost"), dict):
            raise ConfigError(f"{_display(path)} has no [tool.mlcost] table")
        doc, prefix = doc["tool"]["mlcost"], ("tool", "mlcost")
    loader = _Loader(path, text, prefix)
    where = "[tool.mlcost]" if prefix else "the top level"
    top = loader.check_keys(doc, TOP_KEYS, None, [], where)
    warn_at = loader.convert(None, ["warn_at"], lambda: _warn_at(top["warn_at"])) if "warn_at" in top else 0.9
    defaults = loader.budgets(top.get("budgets", {}), None, ["budgets"], "the default budgets")
    models_raw = top.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise loader.fail(None, [], "no models to check: add a [[models]] table with a name and a model "
                          "(in pyproject.toml: [[tool.mlcost.models]])")
    models = [loader.model(raw, i, defaults, warn_at) for i, raw in enumerate(models_raw)]
    seen: set[str] = set()
    for i, m in enumerate(models):
        if m.name in seen:
            raise loader.fail(i, ["name"], f"two models are named {m.name!r}")
        seen.add(m.name)
    return BudgetConfig(path=path, display_path=loader.display, root=path.resolve().parent, models=tuple(models), warn_at=warn_at)
