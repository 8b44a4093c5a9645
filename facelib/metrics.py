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


def landmark_nme(pred, target, normalisation: str = "outer_eye_corners"):
    """Mean point-to-point landmark error normalised by the inter-ocular distance, per image.

    ``pred``, ``target``: ``(..., 68, 2)``. ``normalisation``: ``"outer_eye_corners"`` (points 36
    and 45, the 300-W convention of Sagonas et al. 2016, used for dlib's predictor) or
    ``"eye_centres"`` (inter-pupil). Returns ``(...)``; accepts numpy or torch.
    """
    p, t = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    if normalisation == "outer_eye_corners":
        d = (t[..., 36, :] - t[..., 45, :]).norm(dim=-1)
    elif normalisation == "eye_centres":
        d = (t[..., 36:42, :].mean(-2) - t[..., 42:48, :].mean(-2)).norm(dim=-1)
    else:
        raise ValueError(f"unknown normalisation {normalisation!r}")
    return (p - t).norm(dim=-1).mean(-1) / d
