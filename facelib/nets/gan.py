"""EdgeConnect-style generator and discriminator (Nazeri et al. 2019), used by the contour-guided
method for its contour (edge) GAN and its inpainting GAN.

* :class:`Generator`: two stride-2 convolutions down, ``blocks`` residual blocks with dilation 2,
  two transposed convolutions up, spectral normalisation on every convolution, a sigmoid output in
  [0, 1] (an edge map or an image).
* :class:`PatchDiscriminator`: a PatchGAN of four stride-2/1 convolutions with spectral
  normalisation; returns the patch logits and every layer's activations (for feature matching).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _sn(module: nn.Module) -> nn.Module:
    return spectral_norm(module)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int = 2):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation), _sn(nn.Conv2d(channels, channels, 3, dilation=dilation)),
            nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), _sn(nn.Conv2d(channels, channels, 3)), nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """``(B, in_channels, H, W)`` → ``(B, out_channels, H, W)`` in [0, 1] (``H``, ``W`` divisible by 4)."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, blocks: int = 4):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), _sn(nn.Conv2d(in_channels, w, 7)), nn.InstanceNorm2d(w), nn.ReLU(True),
            _sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.InstanceNorm2d(2 * w), nn.ReLU(True),
            _sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.InstanceNorm2d(4 * w), nn.ReLU(True),
            *[_ResidualBlock(4 * w) for _ in range(blocks)],
            _sn(nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1)), nn.InstanceNorm2d(2 * w), nn.ReLU(True),
            _sn(nn.ConvTranspose2d(2 * w, w, 4, 2, 1)), nn.InstanceNorm2d(w), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7))

    def forward(self, x):
        return torch.sigmoid(self.net(x))


class PatchDiscriminator(nn.Module):
    """``(B, in_channels, H, W)`` → ``(patch logits, [activation of each layer])``."""

    def __init__(self, in_channels: int, width: int = 32):
        super().__init__()
        w = width
        self.layers = nn.ModuleList([
            nn.Sequential(_sn(nn.Conv2d(in_channels, w, 4, 2, 1)), nn.LeakyReLU(0.2, True)),
            nn.Sequential(_sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2, True)),
            nn.Sequential(_sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2, True)),
            nn.Sequential(_sn(nn.Conv2d(4 * w, 8 * w, 4, 1, 1)), nn.LeakyReLU(0.2, True)),
            _sn(nn.Conv2d(8 * w, 1, 4, 1, 1)),
        ])

    def forward(self, x):
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return x, features[:-1]
