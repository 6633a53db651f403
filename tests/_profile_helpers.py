"""Tiny models for the `mlcost profile` tests, written to a file so each MODEL form can load them.

Hand counts (1 MAC = 2 FLOPs; a Linear's bias add is not a MAC):
- ``build`` (Linear(8,H) -> Linear(H,4), input (2, 8)): MACs 2*8*H + 2*H*4; params 8*H+H + H*4+4.
  H=16: MACs 256 + 128 = 384, FLOPs 768, params 144 + 68 = 212, weights 212 * 4 = 848 bytes.
- ``bare`` is the same model without example inputs (needs --input-shape).
- ``embed`` (Embedding(10,4) -> Linear(4,2, bias=False)) on int64 ids (1,5): MACs 5*4*2 = 40, params 40 + 8 = 48.
- ``boom`` raises; ``not_a_model`` returns a string.
"""
from __future__ import annotations

MODELS_PY = '''
import torch
from torch import nn


class Two(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.fc2 = nn.Linear(hidden, 4)

    def forward(self, x):
        return self.fc2(self.fc1(x))


def build(hidden=16, batch=2, tag="x"):
    assert isinstance(tag, str), "tag must arrive as a string"
    return Two(hidden), (torch.zeros(batch, 8),)


def bare():
    return Two()


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 2, bias=False)

    def forward(self, ids):
        return self.out(self.emb(ids))


def embed():
    return Embed()


def boom():
    raise ValueError("kaboom from the factory")


def not_a_model():
    return "nope"
'''


def write_models(folder) -> str:
    """Write the models file into FOLDER; returns its path as a string."""
    path = folder / "models_h2.py"
    path.write_text(MODELS_PY)
    return str(path)


def one_error_line(result) -> str:
    """Assert the CLI failed as a user error: exit 2, exactly one stderr line, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("mlcost: error: ")
    return lines[0]

