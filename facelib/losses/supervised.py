"""Supervised terms: what a network learns from a synthetic set's exact coefficients (issue 34).

Deep3D and FOCUS start from ImageNet weights and ORN from Deep3D's released R-Net; the cpu profile
has neither, so its stand-in learns from the synthetic set's ground truth first
(:class:`facelib.methods.pretrain.Pretrain`), as Wood et al. (ICCV 2021) learn from synthetic faces
alone and MICA (Zielonka et al., ECCV 2022) learns identity from meshes.
"""

from __future__ import annotations

import torch


def vertex_loss(predicted: torch.Tensor, truth: torch.Tensor, mm_per_unit: float = 1.0) -> torch.Tensor:
    """Mean vertex distance between a predicted and a true mesh of the same topology, in mm, with no
    alignment (both in the model's frame, pose apart) — MICA's geometric loss (Zielonka et al.
    2022, Sec. 3.2: a distance over the vertices of the predicted and the true neutral mesh), here
    over identity and expression. It weights each coefficient by how far it moves the surface,
    which an L2 on the coefficients does not (issue 34: ICT's leading 10 of 100 identity
    components carry 82 % of the geometric energy).

    Args:
        predicted, truth: ``(B, V, 3)`` vertices in the model's units.
        mm_per_unit: the model's millimetres per unit.
    Returns:
        scalar, mm (mean over faces and vertices).
    """
    return (predicted - truth).norm(dim=-1).mean() * mm_per_unit


def coefficient_loss(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and true coefficients ``(B, K)`` of one block (albedo,
    light): a scalar. The blocks the photometric terms learn later; no paper's equation."""
    return (predicted - truth).square().mean()
