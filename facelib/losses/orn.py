"""ORN's loss terms (Tiwari, Kurmi, Venkatesh and Chen, WACV 2022, "Occlusion resistant network
for 3D face reconstruction"): SOPI's distillation losses and MOPI's perceptual and label losses.
"""

from __future__ import annotations

import torch


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
    ``(1/M) Σ_m |v_u − v|_m``, averaged over the batch: ``teacher`` labels and ``student``
    predictions ``(B, M)`` each; returns a scalar."""
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
