"""ROGUE (Tiwari et al., BMVC 2022): a guidance pipeline on clean faces and a robustification
pipeline that makes the coefficients of the occluded and noisy copies of the same face agree with
the clean face's, through image-level and adversarial feature-level losses.

* **Guidance** (the guiding image ``I_G``, clean): ``L_guide = α_K L_K + α_GP L_GP + α_P L_P + α_R L_R``
  — landmarks, photometric over the rendered face (no skin mask: ROGUE's point is to need none),
  perceptual ``1 − cos`` of face-recognition embeddings, and the norm regulariser
  (:func:`facelib.losses.rogue.guidance_regularizer`).
* **Robustification** (``I_O``, ``I_N``: the synthetic set's occluded and noisy twins of ``I_G``):
  the same encoder predicts ``C_O``, ``C_N``; their renders are compared with ``I_G`` (Eq. 2), and
  a three-layer discriminator ``D`` on coefficient vectors is trained to tell ``C_G`` (label
  ``d_G = 1``) from ``C_O``, ``C_N`` (``d_O = d_N = 0``) with the Huber loss (Eq. 1); the encoder
  maximises that loss (Eq. 3's ``− β_C L_C``), i.e. makes occluded and noisy coefficients look like
  guiding ones.

Choices the paper leaves to its (unavailable) supplement, each an argument so a run records it:
the α are Deep3D's weights for the same terms; ``β_O = β_N = α_GP`` (the resistive terms pull as
hard as the guidance photometric term); ``β_C`` is small (chapter "ROGUE" sweeps it); ``C_G`` is
detached in every robustification term ("the Robustification Pipeline learns through the
experience of the Guidance Pipeline and not vice-versa"); ``D`` ends in a sigmoid so the encoder's
side of the game is bounded; one step updates the encoder on ``L_guide + L_robust``, then ``D`` on
``L_C`` of the detached coefficients (the loop's two objectives, in that order).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import losses
from ..errors import FacelibError
from ..losses import rogue as rogue_losses
from ..morphable import MorphableModel
from .regressor import EncoderConfig, Regressor, frozen_embedder

#: α of L_guide: Deep3D's weights of the same terms (landmark, photometric, perceptual, regulariser)
GUIDANCE_WEIGHTS = {"landmark": 1.6e-3, "photometric": 1.92, "perceptual": 0.2, "regularizer": 3e-4}
#: β of Eq. (3)
ROBUST_WEIGHTS = {"occlusion": 1.92, "noise": 1.92, "consistency": 0.1}
LABELS = {"guide": 1.0, "occluded": 0.0, "noisy": 0.0}
#: guidance terms that may also act on C_O and C_N (issue 35's arm; the paper regularises C_G alone)
ROBUST_GUIDANCE = ("regularizer", "landmark")


class CoefficientDiscriminator(nn.Module):
    """ROGUE's "three-layer GAN" classifier of coefficient vectors: two hidden layers with leaky
    ReLU, one output in (0, 1)."""

    def __init__(self, size: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(size, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(B, P)`` coefficients → ``(B, 1)`` logits."""
        return self.net(coeffs)


class ROGUE(Regressor):
    """ROGUE: one encoder, guidance + robustification losses, a coefficient discriminator.

    Args:
        model, encoder: the face model and the encoder's backbone, input size, learning rate.
        embedder: face-recognition network of the perceptual term ``L_P`` (``None``: no ``L_P``).
        guidance: overrides of :data:`GUIDANCE_WEIGHTS` (α).
        robust: overrides of :data:`ROBUST_WEIGHTS` (β_O, β_N, β_C).
        labels: ``d_G``, ``d_O``, ``d_N`` of Eq. (1).
        discriminator_lr: Adam learning rate of ``D`` (betas 0.5, 0.999, as usual for a GAN).
        robust_guidance: any of :data:`ROBUST_GUIDANCE`: these guidance terms also act on ``C_O`` and
            ``C_N``, each with its α (the prior keeps them in the model's range, the landmark term ties
            their pose to the face's true landmarks) — a departure measured beside the paper's ``()``
            (issue 35), which leaves the robustification coefficients to ``L_O``, ``L_N`` and ``L_C``.
    """

    name = "rogue"
    starts_from_stand_in = True
    views = ("clean", "occluded", "noisy")
    objectives = {"total": ("encoder",), "discriminator": ("discriminator",)}
    later_arguments = ("robust_guidance",)

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, embedder: str | None = "dlib",
                 guidance: dict | None = None, robust: dict | None = None, labels: dict | None = None,
                 discriminator_lr: float = 1e-4, robust_guidance: tuple | None = ()):
        super().__init__(model, encoder)
        robust_guidance = ((robust_guidance,) if isinstance(robust_guidance, str)
                           else tuple(robust_guidance or ()))
        if set(robust_guidance) - set(ROBUST_GUIDANCE):
            raise FacelibError(f"robust_guidance takes any of {list(ROBUST_GUIDANCE)}, got {list(robust_guidance)}")
        self.robust_guidance = tuple(k for k in ROBUST_GUIDANCE if k in robust_guidance)
        # recorded in the declared order, whatever was passed ([] or None: the default), so that one
        # training has one run signature
        self.__dict__["_arguments"]["robust_guidance"] = self.robust_guidance
        unknown = set(guidance or {}) - set(GUIDANCE_WEIGHTS) | set(robust or {}) - set(ROBUST_WEIGHTS)
        if unknown:
            raise FacelibError(f"unknown ROGUE weight(s) {sorted(unknown)}; the guidance weights are "
                               f"{sorted(GUIDANCE_WEIGHTS)}, the robustification weights {sorted(ROBUST_WEIGHTS)}")
        self.weights = {**GUIDANCE_WEIGHTS, **(guidance or {})}
        self.robust = {**ROBUST_WEIGHTS, **(robust or {})}
        self.labels = {**LABELS, **(labels or {})}
        if embedder is None:
            self.weights.pop("perceptual")
        else:
            self.fixed["embedder"] = frozen_embedder(embedder)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(encoder.seed + 1)
            disc = CoefficientDiscriminator(self.layout.total)
        self.nets["discriminator"] = disc
        self.optimizers["discriminator"] = torch.optim.Adam(disc.parameters(), lr=discriminator_lr, betas=(0.5, 0.999))

    def derived_hyperparameters(self) -> dict:
        return {"weights": dict(self.weights), "robust": dict(self.robust), "labels": dict(self.labels)}

    def batch_items(self, images: int) -> int:
        """Each item brings three images (clean, occluded, noisy): a batch of ``images`` images
        holds a third as many faces."""
        return max(1, round(images / 3))

    # -- the two pipelines ------------------------------------------------------------------------
    def loss_terms(self, batch, images, coeffs, out) -> dict[str, torch.Tensor]:
        """The guidance pipeline's unweighted terms on the guiding (clean) images."""
        lm = batch["landmarks68"]
        terms = {"landmark": losses.landmark_loss(out.landmarks, lm, image_size=self.image_size),
                 "photometric": losses.photometric_loss(out.image, images, out.mask),
                 "regularizer": rogue_losses.guidance_regularizer(self.layout.split(coeffs))}
        if "perceptual" in self.weights:
            terms["perceptual"] = self.identity_term(images, out.image, lm, self.row_keys(batch, "clean"))
        return terms

    def consistency(self, c_guide: torch.Tensor, c_occluded: torch.Tensor, c_noisy: torch.Tensor) -> torch.Tensor:
        """``L_C = L_CO + L_CN`` (Eq. 1), a scalar, of the discriminator on these ``(B, P)`` coefficients."""
        d = self.nets["discriminator"]
        d_guide = d(c_guide)
        return (rogue_losses.adversarial_consistency_loss(d_guide, d(c_occluded), self.labels["guide"],
                                                          self.labels["occluded"])
                + rogue_losses.adversarial_consistency_loss(d_guide, d(c_noisy), self.labels["guide"],
                                                            self.labels["noisy"]))

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        clean, occluded, noisy = batch["clean"], batch["occluded"], batch["noisy"]
        n = len(clean)
        c_all = self.encode(torch.cat([clean, occluded, noisy]))
        c_guide, c_occ, c_noisy = c_all[:n], c_all[n:2 * n], c_all[2 * n:]
        guide = self._input(clean)
        # guidance pipeline (Fig. 2, top)
        out = self.renderer(c_guide, background=guide)
        terms = self.loss_terms(batch, guide, c_guide, out)
        l_guide = sum(self.weights[k] * v for k, v in terms.items())
        # robustification pipeline (Fig. 2, bottom): renders of C_O and C_N against the guiding image
        out_o = self.renderer(c_occ, background=guide)
        out_n = self.renderer(c_noisy, background=guide)
        l_o = rogue_losses.resistive_photometric_loss(out_o.image, guide, out_o.mask)
        l_n = rogue_losses.resistive_photometric_loss(out_n.image, guide, out_n.mask)
        l_c = self.consistency(c_guide.detach(), c_occ, c_noisy)
        l_robust = rogue_losses.robust_objective(l_o, l_n, l_c, self.robust["occlusion"], self.robust["noise"],
                                                 self.robust["consistency"])
        extra = {}
        for c_i, out_i, tag in ((c_occ, out_o, "occluded"), (c_noisy, out_n, "noisy")):
            if "regularizer" in self.robust_guidance:
                extra[f"regularizer_{tag}"] = rogue_losses.guidance_regularizer(self.layout.split(c_i))
            if "landmark" in self.robust_guidance:
                extra[f"landmark_{tag}"] = losses.landmark_loss(out_i.landmarks, batch["landmarks68"],
                                                                image_size=self.image_size)
        l_robust = l_robust + sum(self.weights[k.rsplit("_", 1)[0]] * v for k, v in extra.items())
        # the discriminator's own step, on coefficients that carry no gradient to the encoder
        l_d = self.consistency(c_guide.detach(), c_occ.detach(), c_noisy.detach())
        return {"total": l_guide + l_robust, "discriminator": l_d, "guide": l_guide.detach(),
                "robust": l_robust.detach(), "occlusion": l_o.detach(), "noise": l_n.detach(),
                "consistency": l_c.detach(), **{k: v.detach() for k, v in {**terms, **extra}.items()}}
