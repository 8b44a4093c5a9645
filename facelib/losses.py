"""Loss terms, one function each; every docstring cites the paper and equation it implements.

Shapes: images ``(B, 3, H, W)`` in [0, 1]; masks ``(B, 1, H, W)``; landmarks ``(B, 68, 2)`` pixels.
"""

from __future__ import annotations

import torch

# Deep3D's landmark weights (its code: lm_weight[28:31] = 20; lm_weight[-8:] = 20): 20 on the nose
# points 28-30 and the eight inner-lip points 60-67 (0-based), 1 elsewhere.
DEEP3D_LANDMARK_WEIGHTED = tuple(range(28, 31)) + tuple(range(60, 68))
DEEP3D_LANDMARK_WEIGHT = 20.0


def deep3d_landmark_weights(device=None, dtype=torch.float32) -> torch.Tensor:
    """``(68,)`` weights: 20 at nose points 28–30 and inner-lip points 60–67 (0-based), else 1."""
    w = torch.ones(68, device=device, dtype=dtype)
    w[list(DEEP3D_LANDMARK_WEIGHTED)] = DEEP3D_LANDMARK_WEIGHT
    return w


def photometric_loss(rendered: torch.Tensor, target: torch.Tensor, attention: torch.Tensor,
                     eps: float = 1e-6) -> torch.Tensor:
    """Skin-attention photometric loss (Deng et al. 2019, Deep3D, Eq. (3)).

    ``L = Σ_i A_i · sqrt(Σ_c (I_ic − I'_ic)² + eps) / Σ_i A_i`` over pixels ``i``, averaged over
    the batch; ``A`` is the attention mask (skin probability × rendered-face mask).

    Args:
        rendered, target: ``(B, 3, H, W)``.
        attention: ``(B, 1, H, W)`` non-negative.
    Returns:
        scalar.
    """
    dist = torch.sqrt(((rendered - target) ** 2).sum(1, keepdim=True) + eps)
    per_image = (dist * attention).sum((1, 2, 3)) / attention.sum((1, 2, 3)).clamp_min(1.0)
    return per_image.mean()


def landmark_loss(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                  image_size: int = 224) -> torch.Tensor:
    """Weighted landmark loss (Deng et al. 2019, Deep3D, Eq. (4)).

    ``L = 1/N Σ_n ω_n ||q_n − q'_n||²`` with landmarks scaled to a 224-px image, as Deep3D
    computes it, so the loss weight 1.6e-3 transfers across image sizes.

    Args:
        predicted, target: ``(B, N, 2)`` pixels in an ``image_size`` image.
        weights: ``(N,)`` (default: :func:`deep3d_landmark_weights` when N = 68, else ones).
    Returns:
        scalar (mean over the batch).
    """
    if weights is None:
        weights = (deep3d_landmark_weights(predicted.device, predicted.dtype) if predicted.shape[1] == 68
                   else predicted.new_ones(predicted.shape[1]))
    scale = 224.0 / image_size
    sq = ((predicted - target) * scale).square().sum(-1)  # (B, N)
    return (sq * weights).mean()


def coefficient_regularizer(coeffs: dict[str, torch.Tensor], w_id: float = 1.0, w_exp: float = 0.8,
                            w_tex: float = 1.7e-2) -> torch.Tensor:
    """Coefficient prior (Deng et al. 2019, Deep3D, Eq. (6)): ``ω_α||α||² + ω_β||β||² + ω_δ||δ||²``.

    Weights default to Deep3D's (1.0, 0.8, 1.7e-2); mean over the batch.
    """
    reg = (w_id * coeffs["id"].square().sum(-1) + w_exp * coeffs["exp"].square().sum(-1)
           + w_tex * coeffs["tex"].square().sum(-1))
    return reg.mean()
