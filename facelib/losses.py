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


# --------------------------------------------------------------------------- ORN (Tiwari et al. 2022)

def squared_error_loss(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """ORN's distillation loss for SOPI (Tiwari et al. 2022, ORN, Sec. 3.1.4, Eq. (6)).

    ``c = (v_u − v)²``, ``L_SE = (1/M) Σ_m c_m`` over the ``M`` entries of the coefficient vector
    (``M = 257`` for BFM; the layout's total here), averaged over the batch.

    Args:
        teacher: ``(B, M)`` labels ``v_u`` of the frozen R-Net on the unoccluded image.
        student: ``(B, M)`` the trainee's ``v`` on the (possibly occluded) image.
    Returns:
        scalar.
    """
    return (teacher - student).square().mean()


def absolute_error_loss(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """The L1 alternative to Eq. (6) in ORN's SOPI loss ablation (Sec. 4.3.1, Fig. 6):
    ``(1/M) Σ_m |v_u − v|_m``, averaged over the batch. Shapes as :func:`squared_error_loss`."""
    return (teacher - student).abs().mean()


def multi_occlusion_perceptual_loss(features: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ORN's perceptual loss between the renders of one identity's occluded variants (Tiwari et al.
    2022, ORN, Sec. 3.2.2, Eq. (7)), as a loss: ``1 − Σ_q Σ_q' (χχᵀ)_qq' / (‖χ‖₂,₁ ‖χᵀ‖₂,₁)``.

    ``χ`` is the ``(w, d)`` matrix of the ``w`` (= 7) renders' face-recognition features. We read
    both ``‖·‖₂,₁`` as the sum of the feature vectors' L2 norms, so the printed ratio is
    ``‖Σ_q χ_q‖² / (Σ_q ‖χ_q‖)²`` ∈ [0, 1]: 1 exactly when all features point the same way. The
    paper prints the ratio itself, a *similarity*, which a loss must not minimise; "to ensure the
    visual similarity between projected 3D face meshes" we minimise its complement (book ch. 6).

    Args:
        features: ``(G, w, d)`` features of ``G`` groups (identities) of ``w`` renders.
    Returns:
        scalar, mean over groups, in [0, 1].
    """
    total = features.sum(1).square().sum(-1)
    norms = features.norm(dim=-1).sum(1)
    return (1 - total / norms.square().clamp_min(eps)).mean()


def select_label(candidates: torch.Tensor, candidate_features: torch.Tensor,
                 clean_features: torch.Tensor) -> torch.Tensor:
    """ORN's label choice for MOPI (Tiwari et al. 2022, ORN, Sec. 3.2.2, Eq. (8), second line):
    of the SOPI predictions ``v_s^i`` for one identity's ``w`` occluded variants, the one whose
    render's feature ``f_s^i`` has the smallest cosine distance ``1 − ⟨f_s^i, f⟩ / ‖f_s^i‖‖f‖`` to
    the unoccluded image's feature ``f``.

    Args:
        candidates: ``(G, w, M)`` SOPI coefficients; candidate_features: ``(G, w, d)``;
        clean_features: ``(G, d)``.
    Returns:
        ``(G, M)`` the chosen labels ``v_s^i``.
    """
    best = closest_label_index(candidate_features, clean_features)
    return candidates[torch.arange(len(candidates), device=candidates.device), best]


def closest_label_index(candidate_features: torch.Tensor, clean_features: torch.Tensor) -> torch.Tensor:
    """The ``i`` of :func:`select_label` (ORN Eq. (8), second line): ``(G,)`` index of the candidate
    feature ``(G, w, d)`` with the smallest cosine distance to the clean feature ``(G, d)``."""
    distance = 1 - torch.nn.functional.cosine_similarity(candidate_features, clean_features[:, None], dim=-1)
    return distance.argmin(1)


def label_loss(label: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """ORN's label loss for MOPI (Tiwari et al. 2022, ORN, Sec. 3.2.2, Eq. (8), first line):
    ``L_label = Σ_j ‖v_s^i − v_m^j‖₂`` over the ``w`` predictions of one identity (an L2 norm, not
    squared), averaged over groups.

    Args:
        label: ``(G, M)`` from :func:`select_label`; predictions: ``(G, w, M)`` MOPI's ``v_m``.
    Returns:
        scalar.
    """
    return (label[:, None] - predictions).norm(dim=-1).sum(1).mean()
