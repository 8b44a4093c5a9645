"""Deep3D's loss terms (Deng et al. 2019, "Accurate 3D face reconstruction with weakly-supervised
learning"), which R-Net and every method built on it use.

Shapes: images ``(B, 3, H, W)`` in [0, 1]; masks ``(B, 1, H, W)``; landmarks ``(B, 68, 2)`` pixels.
"""

from __future__ import annotations

import torch

from ..camera import REFERENCE_SIZE

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
                  image_size: int = REFERENCE_SIZE) -> torch.Tensor:
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
    scale = REFERENCE_SIZE / image_size
    sq = ((predicted - target) * scale).square().sum(-1)  # (B, N)
    return (sq * weights).mean()


def coefficient_regularizer(coeffs: dict[str, torch.Tensor], w_id: float = 1.0, w_exp: float = 0.8,
                            w_tex: float = 1.7e-2) -> torch.Tensor:
    """Coefficient prior (Deng et al. 2019, Deep3D, Eq. (6)): ``ω_α||α||² + ω_β||β||² + ω_δ||δ||²``.

    Weights default to Deep3D's reference code (``w_id = 1.0``, ``w_exp = 0.8``, ``w_tex = 1.7e-2``),
    with which the published model was trained; the paper's text after Eq. (6) gives
    ``ω_δ = 1.7e-3``. Mean over the batch.

    Args:
        coeffs: :meth:`CoefficientLayout.split` blocks; reads ``"id"`` ``(B, n_id)``, ``"exp"``
            ``(B, n_exp)`` and ``"tex"`` ``(B, n_tex)``.
    Returns:
        scalar.
    """
    reg = (w_id * coeffs["id"].square().sum(-1) + w_exp * coeffs["exp"].square().sum(-1)
           + w_tex * coeffs["tex"].square().sum(-1))
    return reg.mean()


def identity_loss(embedding_input: torch.Tensor, embedding_render: torch.Tensor) -> torch.Tensor:
    """Perception-level identity loss (Deng et al. 2019, Deep3D, Eq. (5)).

    ``L = 1 − <f(I), f(I')> / (||f(I)|| ||f(I')||)`` between face-recognition features of the input
    and of the rendering (Deep3D uses FaceNet; facelib's default is the dlib ResNet embedder).

    Args:
        embedding_input, embedding_render: ``(B, D)``.
    Returns:
        scalar (mean over the batch).
    """
    return (1.0 - torch.nn.functional.cosine_similarity(embedding_input, embedding_render, dim=-1)).mean()


def gamma_loss(gamma: torch.Tensor) -> torch.Tensor:
    """Monochromatic-light prior (Deep3D reference code, ``w_gamma = 10``; the paper's Sec. 3.3 asks
    for plausible illumination without an equation).

    The 27 SH coefficients (channel-major: 9 for R, G, B) should be equal across channels:
    ``L = mean_{b,c} (γ_{c,b} − mean_c γ_{c,b})²``.

    Args:
        gamma: ``(B, 27)``.
    Returns:
        scalar.
    """
    rgb = gamma.reshape(gamma.shape[0], 3, -1)
    return (rgb - rgb.mean(1, keepdim=True)).square().mean()


def reflectance_loss(albedo: torch.Tensor, skin: torch.Tensor) -> torch.Tensor:
    """Flat skin-reflectance prior (Deng et al. 2019, Deep3D, Sec. 3.3, "reflectance" term of the
    regulariser, ``w = 5`` in the reference code): ``Σ_{j∈skin} ||T_j − T̄||²``.

    Low variance of the albedo inside the skin region, so shading and occluders are not explained
    by texture. As in the reference code: weighted by the per-vertex skin mask, normalised by the
    mask's sum and the batch size.

    Args:
        albedo: ``(B, V, 3)`` in [0, 1].
        skin: ``(V,)`` weights in [0, 1].
    Returns:
        scalar.
    """
    w = skin[None, :, None]
    mean = (albedo * w).sum(1, keepdim=True) / w.sum().clamp_min(1e-8)
    return (((albedo - mean) * w).square().sum((1, 2)) / w.sum().clamp_min(1e-8)).mean()
