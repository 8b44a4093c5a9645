"""MoFA's photometric term (Tewari et al. 2017, "MoFA: model-based deep convolutional face
autoencoder"), in the robust Gaussian form of the FOCUS authors' MoFA re-implementation.
"""

from __future__ import annotations

import torch


def gaussian_photometric_loss(rendered: torch.Tensor, target: torch.Tensor, region: torch.Tensor,
                              sigma: float = 0.043, truncate: float | None = None) -> torch.Tensor:
    """MoFA's dense photometric alignment term (Tewari et al. 2017, Sec. 5, "photometric
    alignment") as a robust per-pixel Gaussian likelihood, the form the FOCUS authors train their
    MoFA baseline with (Li et al. 2023; their Eq. (9) is this Gaussian's log-likelihood, Eq. (10)
    the face/outlier decision it implies).

    With ``r_i = ||I_i − I'_i||`` (RGB) and ``k = truncate``:

    ``L = Σ_i M_i · min(r_i², (kσ)²) / (2σ²) / Σ_i M_i``

    — the negative log-likelihood of the input under the rendering, up to a constant, over the
    rendered face region ``M`` (no skin mask). A pixel further than ``kσ`` from the rendering costs
    a constant (an outlier under a uniform likelihood, as FOCUS Eqs. 9-10 reason) and pulls no
    more; the authors' code truncates at 3σ. ``truncate=None`` is the plain Gaussian, under which
    an occluder's pixels pull on the fit without bound.

    Args:
        rendered, target: ``(B, 3, H, W)``.
        region: ``(B, 1, H, W)`` non-negative.
        sigma: the per-pixel standard deviation (0.043 in [0, 1] RGB units).
        truncate: ``k``, residual norms beyond ``kσ`` are clipped; ``None`` for no clipping.
    Returns:
        scalar (mean over the batch).
    """
    sq = (rendered - target).square().sum(1, keepdim=True)
    if truncate is not None:
        sq = sq.clamp_max((truncate * sigma) ** 2)
    sq = sq / (2 * sigma**2)
    return ((sq * region).sum((1, 2, 3)) / region.sum((1, 2, 3)).clamp_min(1.0)).mean()
