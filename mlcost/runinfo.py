"""Who a ledger row speaks for: its run, its node and how many processes it covered.

Sources, first found wins (each recorded in the row's ``measurement`` note by the caller):

- run_id: ``--run-id``; ``TORCHELASTIC_RUN_ID``; ``SLURM_JOB_ID``; torchrun's ``--rdzv-id`` in CMD; for a
  multi-node torchrun with static rendezvous, its master endpoint (``torchrun@ADDR:PORT``: every node of
  that job names the same one; the summary splits rows of one endpoint into runs that overlap in time,
  since the endpoint is reused by later jobs); else a fresh random id.
- node: ``--node``; ``SLURM_NODEID``; torchrun's ``--node-rank`` in CMD; else the host name.  Two tracks
  on one host wrapping node ranks 0 and 1 are two nodes.
- processes: torchrun's ``--nproc-per-node`` (a number) in CMD; ``SLURM_NTASKS_PER_NODE``; else the
  distinct ``RANK``/``LOCAL_RANK`` values seen in CMD's processes (counted by the caller), else 1.
"""
from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import PurePath
from typing import Mapping

from mlcost.errors import UsageError

# torchrun options that take no value (all others do, as `--opt V` or `--opt=V`): torch/distributed/run.py
_TORCHRUN_FLAGS = {"standalone", "module", "no-python", "run-path", "use-env", "no-use-env"}
_TORCHRUN_SHORT_FLAGS = {"-m"}
_NODE_NAME = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")
_RUN_ID = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
STATIC_PREFIX = "torchrun@"


@dataclass(frozen=True)
class Identity:
    run_id: str
    run_id_source: str
    node: str
    node_source: str
    processes: int | None  # None: to be counted while CMD runs
    processes_source: str


def torchrun_options(cmd: list[str]) -> dict[str, str] | None:
    """The launcher options of a torchrun CMD (``torchrun ...``, ``python -m torch.distributed.run ...``),
    names with '-' (``node_rank`` -> ``node-rank``); None when CMD is not a torchrun launch."""
    i = None
    for k, tok in enumerate(cmd[:8]):
        if PurePath(tok).name == "torchrun":
            i = k + 1
            break
        if tok == "-m" and k + 1 < len(cmd) and cmd[k + 1] in ("torch.distributed.run", "torch.distributed.launch"):
            i = k + 2
            break
    if i is None:
        return None
    opts: dict[str, str] = {}
    while i < len(cmd):
        tok = cmd[i]
        if tok in _TORCHRUN_SHORT_FLAGS:
            i += 1
            continue
        if not tok.startswith("--") or tok == "--":
            break  # the training script: its own options are not torchrun's
        name, eq, value = tok[2:].partition("=")
        name = name.replace("_", "-")
        if eq:
            opts[name] = value
        elif name in _TORCHRUN_FLAGS:
            opts[name] = ""
        elif i + 1 < len(cmd):
            opts[name] = cmd[i + 1]
            i += 1
        i += 1
    return opts


def _max_nodes(nnodes: str | None) -> int:
    """torchrun's ``--nnodes`` is N or MIN:MAX."""
    try:
        return int((nnodes or "1").split(":")[-1])
    except ValueError:
        return 1


def _leading_int(text: str | None) -> int | None:
    m = re.match(r"\s*(\d+)", text or "")  # SLURM_NTASKS_PER_NODE may read "2(x3)"
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def check_node(node: str) -> str:
    if not _NODE_NAME.fullmatch(node):
        raise UsageError(f"--node {node!r}: use 1-128 letters, digits or . _ : @ + - (no spaces or commas)")
    return node


def identify(cmd: list[str], run_id: str | None = None, node: str | None = None,
             env: Mapping[str, str] | None = None) -> Identity:
    """Run, node and process count of one `mlcost track -- CMD` (see the module docstring)."""
    env = os.environ if env is None else env
    tr = torchrun_options(cmd) or {}
    if run_id is not None and not _RUN_ID.fullmatch(run_id):
        raise UsageError(f"--run-id {run_id[:40]!r}: use 1-256 printable characters")
    if run_id:
        rid, rsrc = run_id, "--run-id"
    elif env.get("TORCHELASTIC_RUN_ID") not in (None, "", "none"):
        rid, rsrc = env["TORCHELASTIC_RUN_ID"], "TORCHELASTIC_RUN_ID"
    elif env.get("SLURM_JOB_ID"):
        rid, rsrc = env["SLURM_JOB_ID"], "SLURM_JOB_ID"
    elif tr.get("rdzv-id") not in (None, "", "none"):
        rid, rsrc = tr["rdzv-id"], "torchrun --rdzv-id"
    elif tr and _max_nodes(tr.get("nnodes")) > 1 and "standalone" not in tr:
        endpoint = tr.get("rdzv-endpoint") or f"{tr.get('master-addr', '127.0.0.1')}:{tr.get('master-port', '29500')}"
        rid, rsrc = STATIC_PREFIX + endpoint, "torchrun master endpoint"
    else:
        rid, rsrc = uuid.uuid4().hex[:12], "fresh"
    if node is not None:  # an empty --node is refused like an empty --run-id, not replaced by the host name
        nd, nsrc = check_node(node), "--node"
    elif env.get("SLURM_NODEID"):
        nd, nsrc = env["SLURM_NODEID"], "SLURM_NODEID"
    elif tr.get("node-rank"):
        nd, nsrc = tr["node-rank"], "torchrun --node-rank"
    else:
        nd, nsrc = socket.gethostname(), "host name"
    nd = re.sub(r"[\s,]+", "_", nd.strip())[:128] or "?"  # one word: a row's `node` lists names with spaces
    nproc = _leading_int(tr.get("nproc-per-node"))
    if nproc is not None:
        procs, psrc = nproc, "torchrun --nproc-per-node"
    elif _leading_int(env.get("SLURM_NTASKS_PER_NODE")) is not None:
        procs, psrc = _leading_int(env.get("SLURM_NTASKS_PER_NODE")), "SLURM_NTASKS_PER_NODE"
    else:
        procs, psrc = None, "counted"
    return Identity(rid, rsrc, nd, nsrc, procs, psrc)


def comparable_command(command: str) -> str:
    """COMMAND without what differs between the nodes of one job by design (torchrun's --node-rank)."""
    import shlex

    try:
        toks = shlex.split(command)
    except ValueError:
        return command
    if torchrun_options(toks) is None:
        return command
    out, skip = [], False
    for tok in toks:
        if skip:
            skip = False
            continue
        name = tok[2:].split("=", 1)[0].replace("_", "-") if tok.startswith("--") else ""
        if name == "node-rank":
            skip = "=" not in tok
            continue
        out.append(tok)
    return shlex.join(out)
