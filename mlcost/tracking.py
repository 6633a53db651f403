"""The Python API of `mlcost track`: ``with mlcost.tracking(...) as t:`` and ``@mlcost.tracked(...)``.

Both write the same ledger rows as the command (a ``running`` row on entry, the final row on exit).  Under
an initialised ``torch.distributed`` process group, entry and exit are collectives over that group (every
rank must enter and leave the block): one rank per node -- the lowest rank with that node name -- runs
codecarbon (it measures the whole machine), every rank's outcome is gathered to rank 0 with the group
already there, and rank 0 writes one row for the job (nodes, processes = world size, energy summed over
nodes, wall time the longest).  Only rank 0 touches the ledger; ``t.row`` is set on rank 0 only.

The node name is ``node=``, else torchrun's ``GROUP_RANK``, ``SLURM_NODEID``, else the host name.
Nothing process-wide is changed: no signal handlers, no logger levels (codecarbon's own ``log_level``
is set to critical on its tracker), no environment.  torch and codecarbon are imported only inside.
"""
from __future__ import annotations

import functools
import os
import shlex
import socket
import sys
import tempfile
import time
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from mlcost.errors import InputError, UsageError

DEFAULT_LEDGER = "mlcost-ledger.csv"


def _dist(group: Any) -> Any:
    """torch.distributed when a process group is initialised (torch never imported for it), else None."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        if group is not None:
            raise UsageError("tracking(group=...) needs an initialised torch.distributed process group")
        return None
    return dist


def _outcome(exc_type: type | None, exc: BaseException | None) -> tuple[int, str]:
    """(exit code, how it ended) of the block, as a shell would report the program."""
    if exc_type is None:
        return 0, "exit 0"
    if issubclass(exc_type, SystemExit):
        code = exc.code if isinstance(getattr(exc, "code", None), int) else (0 if exc.code is None else 1)
        return code, f"exit {code}"
    if issubclass(exc_type, KeyboardInterrupt):
        return 130, "KeyboardInterrupt"
    return 1, f"raised {exc_type.__name__}"


class Tracking:
    """A tracked block; after it, on rank 0 (or without torch.distributed), ``row`` is the final ledger row
    (with ``written_to`` and ``write_error``) and ``energy_kwh`` its measured energy (None: not measured)."""

    def __init__(self, ledger: str | Path = DEFAULT_LEDGER, region: str | None = None, *, run_id: str | None = None,
                 node: str | None = None, estimate: str | Path | float | None = None, label: str | None = None,
                 group: Any = None) -> None:
        self.ledger, self.region, self.run_id, self.node = ledger, region, run_id, node
        self.estimate, self.label, self.group = estimate, label, group
        self.row: dict[str, Any] | None = None
        self.parts: list[dict[str, Any]] | None = None  # rank 0: every rank's outcome, in rank order
        self._tracker = self._outdir = self._path = self._base = self._grid = None
        self._dist = None
        self._rank, self._world, self._note, self._measuring = 0, 1, "", False

    @property
    def energy_kwh(self) -> float | None:
        value = (self.row or {}).get("energy_kwh")
        return None if value in (None, "") else float(value)

    def _node_name(self) -> str:
        from mlcost.runinfo import check_node

        if self.node is not None:
            return check_node(self.node)
        return os.environ.get("GROUP_RANK") or os.environ.get("SLURM_NODEID") or socket.gethostname()

    def _prepare(self) -> None:
        """Rank 0's checks before the block runs: ledger (the ``running`` row), region, estimate."""
        from mlcost import refdata, track
        from mlcost.ledger import check_ledger, folder_or_file

        self._path = check_ledger(folder_or_file(self.ledger))
        self._grid = refdata.grid_intensity(self.region)
        if isinstance(self.estimate, (int, float)) and not isinstance(self.estimate, bool):
            if not self.estimate >= 0 or self.estimate == float("inf"):
                raise UsageError(f"estimate must be a finite, non-negative kWh, got {self.estimate!r}")
            est_kwh, est_src = float(self.estimate), "given to mlcost.tracking"
        elif self.estimate is not None:
            est_kwh, est_src = track.load_estimate(Path(self.estimate), self.region)
        else:
            est_kwh, est_src = None, None
        from mlcost.runinfo import identify

        rid = identify([], self.run_id).run_id  # --run-id, TORCHELASTIC_RUN_ID, SLURM_JOB_ID, else fresh
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        self._base = {"run_id": rid, "host": socket.gethostname(), "processes": self._world,
                      "intensity_g_per_kwh": f"{self._grid.g_per_kwh:.6g}",
                      "region": self._grid.resolved if self.region is None else f"{self.region} ({self._grid.resolved})",
                      "command": shlex.join(argv) + (f" [{self.label}]" if self.label else ""),
                      "git_commit": track.git_commit(),
                      "estimate_energy_kwh": None if est_kwh is None else f"{est_kwh:.9g}", "estimate_source": est_src,
                      "track_id": uuid.uuid4().hex}
        track.start_row(self._path, {**self._base, "node": self._node_name()})

    def __enter__(self) -> "Tracking":
        from mlcost import track

        self._dist = _dist(self.group)
        node, error = self._node_name(), None
        if self._dist is not None:
            self._rank, self._world = self._dist.get_rank(self.group), self._dist.get_world_size(self.group)
        if self._rank == 0:
            try:
                self._prepare()
            except Exception as exc:
                if self._dist is None:
                    raise
                error = exc
        measure = True
        if self._dist is not None:  # one exchange: every rank learns rank 0's verdict and who measures its node
            seen: list[Any] = [None] * self._world
            self._dist.all_gather_object(seen, (node, None if error is None else (type(error), str(error))),
                                         group=self.group)
            if seen[0][1] is not None:
                kind, text = seen[0][1]
                raise kind(text) if issubclass(kind, (InputError, UsageError)) else InputError(text)
            measure = next(i for i, (n, _) in enumerate(seen) if n == node) == self._rank
        self._measuring = measure
        if measure:
            from mlcost.track import _iso3_for

            self._outdir = tempfile.TemporaryDirectory(prefix="mlcost-track-")
            try:
                self._tracker = track.start_tracker(_iso3_for(self.region) or "USA", self._outdir.name,
                                                    quiet_loggers=False)
            except Exception as exc:  # measuring never stops the user's code
                self._note = f"not measured: codecarbon failed to start ({type(exc).__name__}: {exc})"
        self._start = datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> bool:
        from mlcost import track

        duration = time.monotonic() - self._t0
        energy, gpus, note = None, 0, self._note
        if self._tracker is not None:
            energy, gpus, note = track.stop_tracker(self._tracker)
        if self._outdir is not None:
            self._outdir.cleanup()
        code, ended = _outcome(exc_type, exc)
        mine = {"node": self._node_name(), "measured": self._measuring, "energy": energy,
                "gpus": gpus, "note": note, "duration": duration, "code": code, "ended": ended}
        parts = [mine]
        if self._dist is not None:
            parts = [None] * self._world if self._rank == 0 else None
            self._dist.gather_object(mine, parts, dst=self._dist.get_global_rank(self.group, 0) if self.group else 0,
                                     group=self.group)
        if self._rank == 0:
            self.parts = parts
            self.row = track.finish(self._path, self._job_row(parts))
            if self.row["write_error"] is not None:
                where = self.row["written_to"] or "nowhere (no fallback file could be written)"
                warnings.warn(f"mlcost: cannot write ledger {self.ledger} ({self.row['write_error']}); "
                              f"the row went to {where}", RuntimeWarning, stacklevel=2)
        return False

    def _job_row(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """One row for the job from every rank's outcome (energy from the one measuring rank per node)."""
        meters = [p for p in parts if p["measured"]]
        failed = [(i, p) for i, p in enumerate(parts) if p["code"] != 0]
        energy = None if any(p["energy"] is None for p in meters) or not meters else sum(p["energy"] for p in meters)
        notes = sorted({p["note"] for p in meters})
        if failed:
            ended = (f"rank {failed[0][0]}: " if len(parts) > 1 else "") + failed[0][1]["ended"]
            ended += f" (+{len(failed) - 1} more ranks)" if len(failed) > 1 else ""
        else:
            ended = "exit 0"
        return {**self._base, "node": " ".join(dict.fromkeys(p["node"] for p in parts)),
                "start_time": self._start.isoformat(timespec="seconds"),
                "duration_s": f"{max(p['duration'] for p in parts):.3f}",
                "energy_kwh": None if energy is None else f"{energy:.9g}",
                "co2e_kg": None if energy is None else f"{energy * self._grid.g_per_kwh / 1000:.9g}",
                "exit_code": failed[0][1]["code"] if failed else 0, "ended": ended,
                "gpus": sum(p["gpus"] for p in meters), "measurement": "; ".join(notes)}


def tracking(ledger: str | Path = DEFAULT_LEDGER, region: str | None = None, **options: Any) -> Tracking:
    """``with mlcost.tracking(ledger="runs/", region="FR") as t: train()`` -> one ledger row (see module doc).
    Options: run_id, node, estimate (kWh, or a carbon/compute JSON path), label, group."""
    return Tracking(ledger, region, **options)


def tracked(func: Callable | None = None, /, **options: Any) -> Callable:
    """``@mlcost.tracked`` or ``@mlcost.tracked(ledger=..., region=...)``: each call is a tracked block,
    labelled with the function's qualified name."""
    def wrap(f: Callable) -> Callable:
        @functools.wraps(f)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with Tracking(**{"label": f.__qualname__, **options}):
                return f(*args, **kwargs)
        return inner

    return wrap(func) if func is not None else wrap
