"""The contour-guided method's loss terms (Zhao et al. 2023, "3D face reconstruction in occluded
scenes guided by contours"): edge GAN (Eqs. 2-3), inpainting GAN (Eqs. 4-6) and the regression on
the inpainted face (Eqs. 11-12). The GAN terms use the non-saturating form EdgeConnect trains with
(binary cross-entropy on logits), the usual reading of the log-likelihood objectives written.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_inputs(gray: torch.Tensor, contours: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (1)'s inputs of the contour generator: ``Î_gray = I_gray ⊙ (1 − M)`` and
    ``Ĉ_true = C_true ⊙ (1 − M)`` (``mask`` = 1 on the occluded pixels). ``gray``, ``contours`` and
    ``mask`` are ``(B, 1, H, W)`` in [0, 1]; returns two ``(B, 1, H, W)`` maps."""
    return gray * (1 - mask), contours * (1 - mask)


def goal_contours(true: torch.Tensor, synthesised: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sec. 3.2: ``C_goal = C_true ⊙ (1 − M) + C_syn ⊙ M`` — the known contours outside the
    occluder, the generated ones inside. All three inputs and the result are ``(B, 1, H, W)``."""
    return true * (1 - mask) + synthesised * mask


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eqs. (2) and (4), the discriminator's side: ``max E[log D(real)] + E[log(1 − D(fake))]``,
    i.e. minimise the binary cross-entropy of real → 1 and fake → 0. Logits: the patch
    discriminator's ``(B, 1, h, w)`` (any equal shapes); returns a scalar."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))) / 2


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eqs. (2) and (4), the generator's side, non-saturating: ``− E[log D(fake)]`` of the patch
    discriminator's ``(B, 1, h, w)`` logits (any shape); returns a scalar."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def feature_matching_loss(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]) -> torch.Tensor:
    """Eq. (3): ``Σ_i 1/N_i ‖D⁽ⁱ⁾(C_true) − D⁽ⁱ⁾(C_syn)‖₁`` over the discriminator's activation
    layers (``N_i`` elements each: the mean absolute difference per layer), the real side detached.
    Each list holds one ``(B, C_i, H_i, W_i)`` activation per layer, paired by position; returns a scalar."""
    return sum((f - r.detach()).abs().mean() for r, f in zip(real_features, fake_features, strict=True))


def mask_normalised_l1(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. (5): ``L₄ = ‖I₁ − I_true‖₁ / S_m`` with ``S_m`` the number of masked (occluded) pixels,
    per image, averaged over the batch — the penalty does not shrink with a small occluder.
    ``output`` and ``target`` ``(B, 3, H, W)``, ``mask`` ``(B, 1, H, W)``; returns a scalar."""
    area = mask.flatten(1).sum(-1).clamp_min(1.0)
    return ((output - target).abs().flatten(1).sum(-1) / area).mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``G = φᵀφ / (Q H W)`` of ``(B, Q, H, W)`` feature maps → ``(B, Q, Q)`` (Eq. 6's normalisation)."""
    b, q, h, w = features.shape
    f = features.reshape(b, q, h * w)
    return f @ f.transpose(1, 2) / (q * h * w)


def style_loss(features_output: list[torch.Tensor], features_target: list[torch.Tensor]) -> torch.Tensor:
    """Eq. (6): ``Σ_n 1/(Q_n Q_n) ‖G_n(I₁ ⊙ (1 − M)) − G_n(Î_true)‖₁`` over feature layers ``n`` of
    a fixed network, on whatever images the caller's features come from (the paper masks both; the
    contour-guided method passes the whole composited output and the whole clean twin, whose outside
    is the same pixels: DESIGN-NOTES 23).
    Each list holds one ``(B, Q_n, H_n, W_n)`` feature map per layer, paired by position; returns a scalar."""
    return sum((gram_matrix(a) - gram_matrix(b.detach())).abs().mean(dim=(1, 2)).mean()
               for a, b in zip(features_output, features_target, strict=True))


def pixel_loss(inpainted: torch.Tensor, render: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Eq. (11): ``L₆ = ‖I₁ − I_y‖₂`` per pixel, averaged over the rendered face ``region``:
    ``inpainted`` and ``render`` ``(B, 3, H, W)`` in [0, 1], ``region`` ``(B, 1, H, W)``; returns a scalar."""
    d = torch.sqrt((inpainted - render).square().sum(1, keepdim=True) + 1e-12)
    return ((d * region).flatten(1).sum(-1) / region.flatten(1).sum(-1).clamp_min(1.0)).mean()


def feature_loss(features_inpainted: torch.Tensor, features_render: torch.Tensor) -> torch.Tensor:
    """Eq. (12): ``L₇ = 1 − ⟨G(I₁), G(I_y)⟩ / (‖G(I₁)‖ ‖G(I_y)‖)`` of face-recognition features
    ``(B, D)`` each, averaged over the batch; returns a scalar."""
    return (1 - F.cosine_similarity(features_inpainted, features_render, dim=-1, eps=1e-12)).mean()
