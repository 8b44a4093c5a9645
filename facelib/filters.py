"""One separable Gaussian filter for every module that smooths an image: Canny's pre-smoothing
(:mod:`facelib.edges`), normalised-convolution filling (:mod:`facelib.fill`), SSIM's window
(:func:`facelib.metrics.ssim`) and ROGUE's blur noise (:func:`facelib.noise.add_noise`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import FacelibError

PADDINGS = ("replicate", "reflect", "zeros")


def gaussian_kernel(sigma: float, radius: int | None = None, normalise: bool = True,
                    dtype=torch.float32, device=None) -> torch.Tensor:
    """1-D Gaussian weights ``exp(−x²/2σ²)`` for ``x = −radius … radius`` (default radius
    ``⌈3σ⌉``, at least 1), summing to 1 unless ``normalise=False``."""
    if sigma <= 0:
        raise FacelibError(f"a Gaussian filter needs sigma > 0, got {sigma}")
    radius = max(1, math.ceil(3 * sigma)) if radius is None else int(radius)
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum() if normalise else k


def gaussian_blur(images: torch.Tensor, sigma: float, radius: int | None = None, padding: str = "replicate",
                  normalise: bool = True) -> torch.Tensor:
    """``(B, C, H, W)`` filtered channel by channel with :func:`gaussian_kernel`, rows then
    columns, the border extended by ``padding`` (``"zeros"`` lets the filter also spread a
    weight map, as normalised convolution needs). The output has the input's size."""
    if images.dim() != 4:
        raise FacelibError(f"gaussian_blur expects (B, C, H, W), got {tuple(images.shape)}")
    if padding not in PADDINGS:
        raise FacelibError(f"unknown padding {padding!r}; choose one of {PADDINGS}")
    k = gaussian_kernel(sigma, radius, normalise, images.dtype, images.device)
    r, c = (len(k) - 1) // 2, images.shape[1]
    mode = {"zeros": "constant"}.get(padding, padding)
    x = F.conv2d(F.pad(images, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
