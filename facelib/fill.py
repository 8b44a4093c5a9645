"""Simple fills of masked pixels: the baselines an inpainting network must beat (contour-guided
method, chapter 9).

* :func:`mean_fill` — every masked pixel gets the mean colour of the image's unmasked pixels
  inside ``region`` (the face), or of the whole unmasked image;
* :func:`blur_fill` — normalised convolution: masked pixels get the Gaussian-weighted mean of the
  known pixels around them, at growing widths until every pixel has a neighbour (a smooth
  diffusion of the surroundings into the hole).
"""

from __future__ import annotations

import torch

from .filters import gaussian_blur


def mean_fill(images: torch.Tensor, mask: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """``images`` ``(B, 3, H, W)`` with ``mask`` ``(B, 1, H, W)`` = 1 pixels replaced by the mean of the
    known (``mask`` = 0) pixels of ``region`` (default: the whole image)."""
    known = (1 - mask) * (region if region is not None else torch.ones_like(mask))
    mean = (images * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1.0)
    return images * (1 - mask) + mean * mask


def _gaussian(t: torch.Tensor, sigma: float) -> torch.Tensor:
    """Unnormalised Gaussian filter with zero padding (so that it also spreads a weight map)."""
    return gaussian_blur(t, sigma, radius=int(3 * sigma), padding="zeros", normalise=False)


def blur_fill(images: torch.Tensor, mask: torch.Tensor, sigmas=(2.0, 4.0, 8.0, 16.0, 32.0)) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` with the ``mask`` ``(B, 1, H, W)`` = 1 pixels filled by normalised
    Gaussian convolution of the known pixels, the narrowest width (``sigmas``, pixels) that reaches a
    pixel deciding its value. Returns ``(B, C, H, W)``."""
    known = 1 - mask
    out = images * known
    todo = mask.clone()
    for sigma in sigmas:
        weight = _gaussian(known, sigma)
        value = _gaussian(images * known, sigma) / weight.clamp_min(1e-8)
        reached = (weight > 1e-6).float() * todo
        out = out + value * reached
        todo = todo - reached
        if todo.sum() == 0:
            break
    return out
