"""A U-Net (Ronneberger et al. 2015) for per-pixel masks: FOCUS's segmentation network S and the
contour-guided method's face-part mask network.

Encoder: ``depth`` stages of two 3×3 conv + batch norm + ReLU, each halving the resolution; decoder:
bilinear upsampling, concatenation with the encoder stage of the same size, two convs. The output
is ``out_channels`` logits (apply a sigmoid for a mask). Input sides must be divisible by
``2 ** depth``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FacelibError


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """``(B, in_channels, H, W)`` → ``(B, out_channels, H, W)`` logits.

    Args:
        in_channels, out_channels: e.g. 6 → 1 for FOCUS (target and render stacked → face mask).
        width: channels of the first stage (doubled at each stage down).
        depth: number of downsampling stages.
    """

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 16, depth: int = 4):
        super().__init__()
        if depth < 1:
            raise FacelibError(f"U-Net depth must be at least 1, got {depth}")
        self.depth = depth
        chans = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, chans[0])] +
                                  [_block(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` → ``(B, out_channels, H, W)`` logits; ``H`` and ``W`` must be
        divisible by ``2 ** depth``."""
        h, w = x.shape[-2:]
        if h % 2**self.depth or w % 2**self.depth:
            raise FacelibError(f"U-Net of depth {self.depth} needs sides divisible by {2**self.depth}, got {h}×{w}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return self.head(x)
