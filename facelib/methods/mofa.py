"""MoFA, the model-based face autoencoder (Tewari et al. 2017), as the papers of this book use it.

The same encoder as R-Net, trained by rendering over the input, but with MoFA's losses (DESIGN 8):
a robust Gaussian photometric likelihood with σ = 0.043 over the whole rendered face, residuals
clipped at 3σ as in the FOCUS authors' MoFA baseline — no skin mask, so an occluder's pixels pull
on the fit like skin does, up to the clip — the landmark loss and the statistical regulariser on
the coefficients; no identity, light or reflectance priors.

The photometric weight: MoFA's squared residual and Deep3D's unsquared one pull equally hard on a
pixel whose residual is σ when ``w_MoFA = σ · w_Deep3D`` (∂/∂r of ``w r²/2σ²`` is ``w r/σ²``), so
``w = 0.043 × 1.92``; the other weights are Deep3D's, for a like-for-like comparison.
"""

from __future__ import annotations

from .. import losses
from ..morphable import MorphableModel
from .regressor import EncoderConfig, Regressor
from .rnet import DEEP3D_WEIGHTS

SIGMA = 0.043
MOFA_WEIGHTS = {"photometric": SIGMA * DEEP3D_WEIGHTS["photometric"], "landmark": DEEP3D_WEIGHTS["landmark"],
                "coefficients": DEEP3D_WEIGHTS["coefficients"]}


class MoFA(Regressor):
    """MoFA: Gaussian photometric + landmark + coefficient prior, no skin attention."""

    name = "mofa"

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, weights: dict | None = None,
                 sigma: float = SIGMA, truncate: float | None = 3.0, view: str = "clean"):
        super().__init__(model, encoder)
        self.sigma, self.truncate = sigma, truncate
        self.views = (view,)
        self.weights = {**MOFA_WEIGHTS, **(weights or {})}

    def loss_terms(self, batch, images, coeffs, out):
        c = self.layout.split(coeffs)
        return {
            "photometric": losses.gaussian_photometric_loss(out.image, images, out.mask, self.sigma, self.truncate),
            "landmark": losses.landmark_loss(out.landmarks, batch["landmarks68"], image_size=self.image_size),
            "coefficients": losses.coefficient_regularizer(c),
        }
