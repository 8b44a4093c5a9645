"""FOCUS's loss terms (Li et al., CVPR 2023, "Robust Model-based Face Reconstruction through Weakly-
Supervised Outlier Segmentation"), one function per equation.

Conventions: images ``(B, 3, H, W)`` in [0, 1]; masks ``(B, 1, H, W)`` in [0, 1] (the segmentation
``M``: 1 = face, 0 = outlier; the rendered-face region ``R``: 1 where the model covers the pixel).
Sums over pixels are taken inside the rendered region and divided by its area, so a term's scale
does not change with the image size (the paper writes plain sums; its weights were tuned at 224 px).
Feature distances use ``cos(X, Y) = 1 − X·Y / (‖X‖‖Y‖)`` of a face-recognition embedder's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _area(region: torch.Tensor) -> torch.Tensor:
    return region.flatten(1).sum(-1).clamp_min(1.0)


def _root(squared: torch.Tensor) -> torch.Tensor:
    """``sqrt`` that is exactly 0 (with zero gradient) where its argument is 0."""
    return torch.where(squared > 1e-12, torch.sqrt(squared.clamp_min(1e-12)), torch.zeros_like(squared))


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FOCUS Sec. 3.2: ``cos(X, Y) = 1 − X·Y / (‖X‖‖Y‖)`` per row of ``(B, D)`` features."""
    return 1.0 - F.cosine_similarity(x, y, dim=-1, eps=1e-12)


def neighbour_loss(target: torch.Tensor, render: torch.Tensor, mask: torch.Tensor, region: torch.Tensor,
                   radius: int = 2, squared: bool = False) -> torch.Tensor:
    """FOCUS Eq. (1): ``L_nbr = Σ_{x∈Ω} ‖ min_{x'∈N(x)} ‖I_T(x) − I_R(x')‖ ‖²`` — each target pixel
    against the closest rendered pixel of its ``(2 radius + 1)²`` neighbourhood (robust to small
    misalignments), counted where the segmentation keeps the pixel (Ω, weighted by ``mask``) inside
    the rendered ``region``; neighbours outside the rendered face are not candidates. The authors'
    code uses a 5×5 neighbourhood (``radius=2``) and the distance itself rather than its square
    (``squared=False``, the default here, with which their weight η₁ = 15 was tuned). Mean over the
    batch of the region-normalised sum. ``target`` and ``render`` ``(B, 3, H, W)`` in [0, 1], ``mask``
    and ``region`` ``(B, 1, H, W)``; returns a scalar."""
    h, w = target.shape[-2:]
    pad = radius
    padded = F.pad(render, (pad, pad, pad, pad))
    valid = F.pad(region, (pad, pad, pad, pad))
    best = None
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            cand = padded[..., dy:dy + h, dx:dx + w]
            ok = valid[..., dy:dy + h, dx:dx + w]
            d = (target - cand).square().sum(1, keepdim=True)
            d = torch.where(ok > 0.5, d, torch.full_like(d, float("inf")))
            best = d if best is None else torch.minimum(best, d)
    best = torch.where(torch.isfinite(best), best, torch.zeros_like(best))  # no rendered neighbour: nothing to compare
    # the min of the squared distances is the square of the min distance
    best = best if squared else _root(best)
    return ((mask * region * best).flatten(1).sum(-1) / _area(region)).mean()


def distance_loss(masked_target: torch.Tensor, masked_render: torch.Tensor) -> torch.Tensor:
    """FOCUS Eq. (2): ``L_dist = cos(F(I_T ⊙ M), F(I_R ⊙ M))`` — the masked target and masked render
    must look alike to the face-recognition network ``F``; arguments are those two ``(B, D)``
    features (the caller embeds each image once for all the terms that use it)."""
    return cosine_distance(masked_target, masked_render).mean()


def area_loss(mask: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """FOCUS Eq. (3): ``L_area = −S_M / S_R``, the kept share of the rendered face (``S_M``: mask
    area inside the rendered region ``S_R``). ``mask`` and ``region`` ``(B, 1, H, W)``; returns a
    scalar in [−1, 0], averaged over the batch."""
    return (-(mask * region).flatten(1).sum(-1) / _area(region)).mean()


def preserve_loss(masked_target: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """FOCUS Eq. (4): ``L_presv = cos(F(I_T ⊙ M), F(I_T))`` — masking must not change what the
    recognition network sees in the target; arguments are the two ``(B, D)`` features."""
    return cosine_distance(masked_target, target).mean()


def binary_loss(mask: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """FOCUS Sec. 3.2: ``L_bin = −Σ_x (M(x) − 0.5)²`` — pushes the mask toward 0 or 1 (minimum
    −0.25 per pixel), summed over the rendered ``region`` and divided by its area. ``mask`` and
    ``region`` ``(B, 1, H, W)``; returns a scalar, averaged over the batch."""
    return (-((mask - 0.5).square() * region).flatten(1).sum(-1) / _area(region)).mean()


def masked_pixel_loss(target: torch.Tensor, render: torch.Tensor, mask: torch.Tensor, region: torch.Tensor,
                      squared: bool = False) -> torch.Tensor:
    """FOCUS Eq. (5): ``L_pixel = ‖(I_T − I_R) ⊙ M‖²₂`` over the kept part of the rendered region,
    divided by its area (``mask`` = 1 everywhere gives R_syn's unmasked term of Sec. 3.4). The
    authors' code averages the per-pixel Euclidean distance, not its square (``squared=False``, the
    default here, with which their weight λ₁ = 0.5 was tuned). ``target`` and ``render``
    ``(B, 3, H, W)`` in [0, 1], ``mask`` and ``region`` ``(B, 1, H, W)``; returns a scalar (batch mean)."""
    kept = mask * region
    err = (target - render).square().sum(1, keepdim=True)
    err = err if squared else _root(err)
    return ((kept * err).flatten(1).sum(-1) / _area(kept)).mean()


def perceptual_loss(target: torch.Tensor, render: torch.Tensor) -> torch.Tensor:
    """FOCUS Eq. (6): ``L_per = cos(F(I_T), F(I_R))`` of the features ``(B, D)`` of target and render."""
    return cosine_distance(target, render).mean()


def parameter_regularizer(coeffs: dict[str, torch.Tensor], scale: float = 1.0 / 224) -> torch.Tensor:
    """FOCUS Sec. 3.2: ``L_reg = ‖θ‖²₂`` on the model's statistical coefficients (identity,
    expression, texture), whose prior is the unit Gaussian; pose, light and translation have no
    prior in the model, so they are not pulled to zero. The authors' code divides the sum by 224
    (``scale``), the normalisation their weight λ₄ = 0.1 was tuned with. Mean over the batch.
    ``coeffs``: :meth:`CoefficientLayout.split` blocks, ``"id"`` ``(B, n_id)``, ``"exp"`` ``(B, n_exp)``
    and ``"tex"`` ``(B, n_tex)`` read; returns a scalar."""
    return scale * sum(coeffs[k].square().sum(-1) for k in ("id", "exp", "tex")).mean()


def preliminary_mask(target: torch.Tensor, render: torch.Tensor, region: torch.Tensor, xi: float = 0.17) -> torch.Tensor:
    """FOCUS Eqs. (9)-(10): the unsupervised initial mask — a pixel is face where its squared
    reconstruction error is below ``ξ`` (the Gaussian face likelihood beats the uniform outlier
    one), inside the rendered region. ``(B, 1, H, W)`` in {0, 1}, no gradient."""
    with torch.no_grad():
        err = (target - render).square().sum(1, keepdim=True)
        return ((err < xi).float() * (region > 0.5).float())


def misfit_prior(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """FOCUS Eq. (11): ``E_MP = 1/N Σ_i (P_vi − T_vi)``, the mean per-vertex deviation ``(V, 3)`` of a
    network's predicted geometry from the truth over ``N`` synthetic faces ``(N, V, 3)``; the
    corrected prediction is ``P − E_MP`` (:func:`apply_misfit_prior`)."""
    return (predicted - truth).mean(0)


def apply_misfit_prior(vertices: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """FOCUS Sec. 3.4: ``P_mf = P_v − E_MP`` for ``(B, V, 3)`` predicted vertices."""
    return vertices - prior
