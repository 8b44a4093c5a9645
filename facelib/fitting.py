"""Analysis-by-synthesis: fit coefficients to one or more images by gradient descent.

The optimisation every learning-based method in this book amortises: find the coefficients
whose rendering explains the image (photometric term) and whose projected landmarks match the
detected ones (landmark term), under the coefficient prior. Adam on all coefficient blocks with
per-block learning rates; the landmark term dominates early (pose and shape), the photometric term
refines albedo, light and expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .losses import coefficient_regularizer, landmark_loss, photometric_loss
from .render import Renderer
from .reproduce import deterministic

DEFAULT_LR = {"id": 0.05, "exp": 0.02, "tex": 0.05, "angle": 0.01, "gamma": 0.02, "trans": 0.01}


@dataclass(frozen=True)
class FitWeights:
    """The weights of the fit's objective: photometric, landmark and coefficient prior.

    The defaults are Deep3D's (Deng et al. 2019, Eq. 7 with Eq. 2-6; the prior's 3e-4 on the
    identity block, texture's and expression's scaled within :func:`coefficient_regularizer`).
    :meth:`with_prior` scales the prior: chapter 5's refinement and the real-face evaluation take
    theirs from the measurement in DESIGN-NOTES 35.
    """

    photometric: float = 1.92
    landmark: float = 1.6e-3
    prior: float = 3e-4

    def with_prior(self, factor: float) -> "FitWeights":
        """These weights with the prior ``factor`` times stronger."""
        return FitWeights(self.photometric, self.landmark, self.prior * factor)

    def kwargs(self) -> dict[str, float]:
        """As :func:`fit`'s keyword arguments."""
        return {"w_photo": self.photometric, "w_landmark": self.landmark, "w_reg": self.prior}


#: Deep3D's weights, what :func:`fit` uses unless told otherwise
DEEP3D = FitWeights()
#: Deep3D's with the prior 30 times stronger: what test-time refinement and the real-face evaluation's
#: fit use. Chosen side by side (DESIGN-NOTES 35): of the weightings that keep at least half of
#: the refinement's shape gain on the synthetic validation faces, the one whose fit lies closest to a
#: real scan (Deep3D's own moves that scan's surface 26 % away from the person's).
REAL_GEOMETRY = DEEP3D.with_prior(30)


@dataclass
class FitResult:
    """Fitted coefficients ``(B, total)`` and the loss history (one dict per step)."""

    coeffs: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)


def fit(renderer: Renderer, image: torch.Tensor, landmarks: torch.Tensor, init: torch.Tensor,
        steps: int = 500, w_photo: float = DEEP3D.photometric, w_landmark: float = DEEP3D.landmark,
        w_reg: float = DEEP3D.prior,
        lr: dict[str, float] | None = None, mask: torch.Tensor | None = None,
        callback=None, landmark_weights: torch.Tensor | None = None, prior: dict[str, float] | None = None) -> FitResult:
    """Fit coefficients to target images.

    Args:
        renderer: renders coefficients of its model at the target's size.
        image: ``(B, 3, H, W)`` targets in [0, 1].
        landmarks: ``(B, 68, 2)`` target landmarks (pixels).
        init: ``(B, total)`` starting coefficients.
        steps: Adam iterations.
        w_photo, w_landmark, w_reg: loss weights (Deep3D's defaults).
        lr: learning rate per coefficient block (defaults: ``DEFAULT_LR``).
        mask: ``(B, 1, H, W)`` pixels that may be explained (default: all); the photometric
            term uses ``mask × rendered-face mask`` as attention.
        callback: ``callback(step, coeffs, render_output)`` called every step (e.g. progress).
        landmark_weights: ``(68,)`` per-landmark weights of the landmark term (default Deep3D's,
            :func:`facelib.losses.deep3d.deep3d_landmark_weights`).
        prior: the prior's block weights (``w_id``, ``w_exp``, ``w_tex`` of
            :func:`facelib.losses.deep3d.coefficient_regularizer`; default Deep3D's).
    Returns:
        :class:`FitResult`.
    """
    layout = renderer.model.layout
    if landmark_weights is not None:
        landmark_weights = landmark_weights.to(image.device, image.dtype)
    rates = {**DEFAULT_LR, **(lr or {})}
    blocks = {k: v.detach().clone().requires_grad_(True) for k, v in layout.split(init).items()}
    opt = torch.optim.Adam([{"params": [blocks[k]], "lr": rates[k]} for k in blocks])
    # Cosine decay to 5 % of the initial rates: large steps find the pose, small ones refine.
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t / max(steps, 1))))
    history = []
    with deterministic(image.device):  # the same fit whatever else the machine runs (DESIGN-NOTES 29)
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            out = renderer(layout.join(blocks), background=image)
            attention = out.mask if mask is None else out.mask * mask
            l_photo = photometric_loss(out.image, image, attention)
            l_lm = landmark_loss(out.landmarks, landmarks, landmark_weights, image_size=renderer.image_size)
            l_reg = coefficient_regularizer(blocks, **(prior or {}))
            total = w_photo * l_photo + w_landmark * l_lm + w_reg * l_reg
            total.backward()
            opt.step()
            sched.step()
            bounds = renderer.model.expression_range()
            if bounds is not None:  # projected gradient: blendshape weights stay in their declared range
                with torch.no_grad():
                    blocks["exp"].clamp_(*bounds)
            history.append({"step": step, "total": total.item(), "photometric": l_photo.item(),
                            "landmark": l_lm.item(), "regularizer": l_reg.item()})
            if callback is not None:
                callback(step, blocks, out)
    return FitResult(coeffs=layout.join({k: v.detach() for k, v in blocks.items()}), history=history)
