"""Landmark conventions shared by detection, alignment, occluders and embedders.

Landmarks are ``(…, 68, 2)`` iBUG points (0-based indices) or ``(…, 5, 2)`` Deep3D points, in
continuous pixels of their image (x right, y down, pixel centres at +0.5; DESIGN-NOTES 10).
"""

from __future__ import annotations

import torch

from .errors import FacelibError


def five_points(landmarks: torch.Tensor) -> torch.Tensor:
    """Deep3D's 5 points (left eye centre, right eye centre, nose tip, left and right mouth corner)
    from the 68 iBUG landmarks (Deng et al. 2019, ``util/preprocess.py``): ``(..., 68, 2)`` →
    ``(..., 5, 2)``, e.g. ``(B, 68, 2)`` → ``(B, 5, 2)``; 5 points ``(..., 5, 2)`` pass through."""
    lm = torch.as_tensor(landmarks)
    if lm.shape[-2] == 5:
        return lm
    if lm.shape[-2] != 68:
        raise FacelibError(f"landmarks must be (68, 2) or (5, 2), got {tuple(lm.shape)}")
    return torch.stack([lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2), lm[..., 30, :],
                        lm[..., 48, :], lm[..., 54, :]], -2)
