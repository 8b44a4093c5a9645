"""ROGUE's loss terms (Tiwari et al., BMVC 2022, "Self-Supervised Robustifying Guidance").

The guidance pipeline's terms are Deep3D's functions (:mod:`.deep3d`) except the coefficient
regulariser, which ROGUE writes with plain norms; the robustification pipeline adds the
occlusion- and noise-resistive photometric terms (Eq. 2), the adversarial consistency loss on
coefficient vectors (Eq. 1) and their combination (Eq. 3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .deep3d import photometric_loss


def guidance_regularizer(coeffs: dict[str, torch.Tensor], w_s: float = 1.0, w_t: float = 1.7e-2,
                         w_e: float = 0.8) -> torch.Tensor:
    """ROGUE's guidance regulariser (poster, "Guidance Losses"): ``L_R = w_s‖s‖ + w_t‖t‖ + w_e‖e‖``
    over shape (identity) ``s``, texture ``t`` and expression ``e`` coefficients — Euclidean norms,
    not Deep3D's squared ones. The paper defers the weights to its supplement; the defaults are
    Deep3D's (identity 1.0, texture 1.7e-2, expression 0.8). Mean over the batch.
    ``coeffs``: :meth:`CoefficientLayout.split` blocks, ``"id"`` ``(B, n_id)``, ``"tex"`` ``(B, n_tex)``
    and ``"exp"`` ``(B, n_exp)`` read; returns a scalar."""
    norm = lambda x: torch.sqrt(x.square().sum(-1) + 1e-12)  # noqa: E731 - differentiable at 0
    return (w_s * norm(coeffs["id"]) + w_t * norm(coeffs["tex"]) + w_e * norm(coeffs["exp"])).mean()


def resistive_photometric_loss(rendered: torch.Tensor, guide: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ROGUE Eq. (2): ``L_O = ‖I_O' − I_G‖`` (and ``L_N`` alike) — the face rendered from the
    coefficients of the *occluded* (or noisy) image, compared with the *clean* guiding image, so
    the occluder or the noise is never a target. The norm is the per-pixel Euclidean one of the
    guidance photometric term (Deep3D Eq. 3) over the rendered face ``mask``: no skin mask.
    ``rendered`` and ``guide`` ``(B, 3, H, W)`` in [0, 1], ``mask`` ``(B, 1, H, W)``; returns a scalar."""
    return photometric_loss(rendered, guide, mask)


def adversarial_consistency_loss(d_guide: torch.Tensor, d_other: torch.Tensor, label_guide: float = 1.0,
                                 label_other: float = 0.0, delta: float = 1.0) -> torch.Tensor:
    """One term of ROGUE Eq. (1): ``L_CO = L_h(D(C_G, C_O), [d_G, d_O])`` — the Huber loss between the
    discriminator's outputs for the guiding coefficients and for the occluded (or noisy) ones and
    their labels ``d_G``, ``d_O``. ``L_C = L_CO + L_CN``; the discriminator minimises it, the encoder
    maximises it (Eq. 3's minus sign).

    Args:
        d_guide, d_other: ``(B, 1)`` discriminator outputs.
    """
    outputs = torch.cat([d_guide, d_other])
    labels = torch.cat([torch.full_like(d_guide, label_guide), torch.full_like(d_other, label_other)])
    return F.huber_loss(outputs, labels, delta=delta)


def robust_objective(l_o: torch.Tensor, l_n: torch.Tensor, l_c: torch.Tensor, beta_o: float, beta_n: float,
                     beta_c: float) -> torch.Tensor:
    """ROGUE Eq. (3): ``L_robust = β_O L_O + β_N L_N − β_C L_C`` (the encoder's side of the game):
    scalar losses ``l_o``, ``l_n``, ``l_c`` in, a scalar out (any broadcastable shapes work alike)."""
    return beta_o * l_o + beta_n * l_n - beta_c * l_c
