"""MoFA, the model-based face autoencoder (Tewari et al. 2017), as the papers of this book use it.

The same encoder as R-Net, trained by rendering over the input, but with MoFA's losses (DESIGN 8):
a Gaussian photometric likelihood with σ = 0.043 over the whole rendered face — no skin mask, so an
occluder's pixels pull on the fit like skin does — the landmark loss and the statistical
regulariser on the coefficients; no identity, light or reflectance priors.

Not truncated by default (``truncate=None``), with a reason: MoFA's own photometric term is a plain
dense L2 alignment, and the FOCUS authors' 3σ clip (``truncate=3.0``) removes most of the signal
this book's training starts from. Measured on 16 cpu-set training faces at 112 px: only 15 % of the
rendered face's pixels lie within 3σ of the image for the mean face (the zero-initialised network's
start), 43 % with the true pose and light, and 56 % even with the true pose, light, shape and
expression (the texture prior cannot match every face's albedo) — so a clipped MoFA would learn
its texture and light from a minority of the face. The option stays for readers who train from a
warm start.

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
    starts_from_stand_in = True

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, weights: dict | None = None,
                 sigma: float = SIGMA, truncate: float | None = None, view: str = "clean"):
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
