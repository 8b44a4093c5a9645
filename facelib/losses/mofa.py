"""MoFA's photometric term (Tewari et al. 2017, "MoFA: model-based deep convolutional face
autoencoder"), in the Gaussian form the FOCUS re-implementation uses.
"""

from __future__ import annotations

import torch


def gaussian_photometric_loss(rendered: torch.Tensor, target: torch.Tensor, region: torch.Tensor,
                              sigma: float = 0.043) -> torch.Tensor:
    """MoFA's photometric term as a per-pixel Gaussian likelihood (Tewari et al. 2017, MoFA, Eq. (5);
    the Gaussian form with σ = 0.043 is the FOCUS re-implementation's, Li et al. 2023, Eq. (9)).

    ``L = Σ_i M_i ||I_i − I'_i||² / (2σ²) / Σ_i M_i``: the negative log-likelihood of the input
    under the rendering, up to a constant, over the rendered face region ``M`` (no skin mask —
    every face pixel counts, including an occluder's).

    Args:
        rendered, target: ``(B, 3, H, W)``.
        region: ``(B, 1, H, W)`` non-negative.
    Returns:
        scalar (mean over the batch).
    """
    sq = (rendered - target).square().sum(1, keepdim=True) / (2 * sigma**2)
    return ((sq * region).sum((1, 2, 3)) / region.sum((1, 2, 3)).clamp_min(1.0)).mean()
