"""A small CNN for the README demo: `mlcost profile examples/cnn.py:build --input-shape 1,3,224,224`.

Four conv/batch-norm/ReLU stages (3 -> 16 -> 32 -> 64 -> 128 channels, each halving the image),
global average pooling and a linear classifier.  ``build`` returns the bare module, so the input
shape comes from ``--input-shape``.
"""
from __future__ import annotations

from torch import nn


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        self.features = nn.Sequential(*(_stage(a, b) for a, b in zip(chans, chans[1:])))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(chans[-1], num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(num_classes: int = 10, width: int = 16) -> SmallCNN:
    """The model only; pass `--input-shape 1,3,224,224` (any image size divisible by 16 works)."""
    return SmallCNN(num_classes, width)
