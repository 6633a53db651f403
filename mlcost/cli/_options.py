"""Options every command shares: the output format (from -f, else -o's suffix), files written in one run,
durations, the terminal-view switches (-q, --explain), and the command class that refuses an empty path.
Light: typer and mlcost.choices only."""
from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path
from typing import Any, Optional, TypeVar, get_args, get_type_hints

import typer
from typer.core import TyperCommand

from mlcost.choices import Choice, by_suffix
from mlcost.errors import UsageError

E = TypeVar("E", bound=Choice)

FORMAT_HELP = "Output format (default: from --output's suffix: .json, .csv, .md; else {default})."
QUIET_HELP = "Print only the headline (terminal view)."
EXPLAIN_HELP = "Also print every assumption and convention in full (terminal view; the other formats always have them)."


def quiet_option() -> bool:
    return typer.Option(False, "--quiet", "-q", help=QUIET_HELP)


def explain_option() -> bool:
    return typer.Option(False, "--explain", help=EXPLAIN_HELP)


def output_format(fmt: Optional[E], output: Optional[Path], enum: type[E], default: E) -> E:
    """-f when given; else what -o's suffix names (x.json -> json) when ENUM has that format; else DEFAULT."""
    if fmt is not None:
        return fmt
    return default if output is None else by_suffix(output, enum, default)


def terminal_only(fmt: Choice, view: Choice, **switches: bool) -> None:
    """-q/--explain shape the terminal VIEW; with another format they would do nothing: a usage error."""
    given = [f"--{name.replace('_', '-')}" for name, on in switches.items() if on]
    if given and fmt != view:
        raise UsageError(f"{' and '.join(given)} shape{'s' if len(given) == 1 else ''} the {view.value} view; "
                         f"--format {fmt.value} always carries everything")
    if switches.get("quiet") and switches.get("explain"):
        raise UsageError("--quiet prints only the headline; --explain adds detail: give one")


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.abspath(os.path.realpath(a)) == os.path.abspath(os.path.realpath(b))


def distinct_files(*named: tuple[str, Optional[Path]], reads: tuple[tuple[str, Optional[Path]], ...] = ()) -> None:
    """Refuse (exit 2) one run writing two outputs to the same file (--plot t.png -o t.png) or writing an
    output over a file it reads (--profile p.json -o p.json): the second write would destroy the first."""
    written = [(n, Path(p)) for n, p in named if p is not None]
    for i, (name, path) in enumerate(written):
        for other, opath in written[:i]:
            if _same(path, opath):
                raise UsageError(f"{other} and {name} name the same file ({path}): give each its own")
        for src, spath in reads:
            if spath is not None and _same(path, Path(spath)):
                raise UsageError(f"{name} {path} is the file {src} reads: write the output elsewhere")



def names_a_path(command: Any, param: Any) -> bool:
    """Whether PARAM, an option or argument of COMMAND, names a file or folder: its parameter of COMMAND's function
    is typed Path (also Optional[Path], list[Path]), or it is text declared with ``path_type=str`` (a MODEL that
    may be ``pkg.module:factory``, a ``--ledger DIR/`` whose slash matters)."""
    return command.callback is not None and param.name in _path_parameters(inspect.unwrap(command.callback))


def _is_path(annotation: Any) -> bool:
    return (isinstance(annotation, type) and issubclass(annotation, Path)) or any(_is_path(a) for a in get_args(annotation))


@functools.cache
def _path_parameters(fn: Any) -> frozenset[str]:
    """The parameters of a command's function that name a file or folder, read from the
    function's own declaration: typer 0.24-0.28 keep neither the annotation nor path_type on click's param (a
    text one with path_type=str is plain STRING there).  Read when asked (an empty value was given), not at
    every start."""
    hints = get_type_hints(fn)
    return frozenset(name for name, p in inspect.signature(fn).parameters.items()
                     if _is_path(hints.get(name)) or getattr(p.default, "path_type", None) is not None)


class Command(TyperCommand):
    """Every mlcost command (set for all of them in mlcost.cli): a path given as '' is a usage error naming the
    option ("--summary: empty path"), exit 2.  typer turns '' into Path('.'), the current folder, so `track
    --summary ''` read the working directory as a ledger and `-o ''` reported '.'; the raw value is checked here,
    before any conversion, for every path-typed option and argument at once."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:  # shell completion parses half-typed lines: never an error there
            opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
            for param in self.get_params(ctx):
                raw = opts.get(param.name)
                given = raw if isinstance(raw, (list, tuple)) else [raw]
                if "" in given and names_a_path(self, param):
                    name = param.opts[0] if isinstance(param, typer.core.TyperOption) else param.name.upper()
                    raise UsageError(f"{name}: empty path")
        return super().parse_args(ctx, args)
