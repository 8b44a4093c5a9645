"""Evaluation metrics (DESIGN 7); one function per metric, docstrings cite where each is defined."""

from __future__ import annotations

import torch


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, optionally inside ``mask`` ``(B, 1, H, W)``."""
    err = (a - b).square()
    if mask is None:
        mse = err.mean((1, 2, 3))
    else:
        mse = (err * mask).sum((1, 2, 3)) / (mask.sum((1, 2, 3)) * a.shape[1]).clamp_min(1.0)
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))
