"""The pretrained stand-in: an encoder that first learns from the synthetic set's exact coefficients.

Deep3D's and FOCUS's encoders start from ImageNet weights and ORN's teacher is Deep3D's released
R-Net (trained on about 300,000 photos); the cpu profile has no such checkpoint, and a network
trained from random weights with R-Net's self-supervised terms alone learns pose, light and
expression but not who the person is (DESIGN-NOTES 15, 32). :class:`Pretrain` is the stand-in
(issue 34): the same encoder, trained on the clean renders of the benchmark's training split
against their exact coefficients — identity and expression each through the mesh it makes with the
other block true (:func:`facelib.losses.supervised.vertex_loss`; one distance over both let the
identity block absorb expression errors, and identity did not improve in 1,500 steps: DESIGN-NOTES 36),
pose through the projected landmarks, albedo and light through their coefficients. It never sees an occluded or noisy view: robustness stays the
methods' own work. A method that starts from pretrained weights in its paper starts from a
finished :class:`Pretrain` run (:meth:`Regressor.start_from`), recorded in its run signature.

No rendering happens in a step (the loss needs no image of the prediction), so a step costs the
encoder's forward and backward pass only.
"""

from __future__ import annotations

import torch

from ..errors import FacelibError
from ..losses import landmark_loss
from ..losses.supervised import coefficient_loss, vertex_loss
from ..metrics import millimetres_per_unit
from ..morphable import MorphableModel
from .regressor import EncoderConfig, Regressor

#: term → weight: the vertex distances (mm) lead; landmarks (Deep3D's loss at 224 px, ~300 px² at the
#: mean face) and the albedo and light coefficients (unit variance) are scaled to start near 1
PRETRAIN_WEIGHTS = {"identity_vertices": 1.0, "expression_vertices": 1.0, "landmark": 0.01, "albedo": 1.0, "light": 1.0}


class Pretrain(Regressor):
    """Supervised pretraining on exact coefficients (clean views only).

    Args:
        model: the face model; encoder: backbone, input size, learning rate, seed.
        identity_components: predict only the leading ``k`` identity components (the rest stay at
            the mean; ``None``: all of them) — ICT's leading 10 of 100 carry 82 % of the geometric
            energy, the leading 20 carry 91 %.
        weights: overrides of :data:`PRETRAIN_WEIGHTS`.
    """

    name = "pretrain"
    views = ("clean",)

    def steps_for(self, profile) -> int:
        """The profile's stand-in budget (:attr:`facelib.profile.Profile.stand_in_steps`), else its
        ``train_steps``."""
        return getattr(profile, "stand_in_steps", 0) or profile.train_steps

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, identity_components: int | None = None,
                 weights: dict | None = None):
        super().__init__(model, encoder)
        n_id = self.layout.id
        if identity_components is not None and not 1 <= int(identity_components) <= n_id:
            raise FacelibError(f"identity_components must lie in 1..{n_id} (the model's identity size), "
                               f"got {identity_components}")
        self.identity_components = None if identity_components is None else int(identity_components)
        unknown = set(weights or {}) - set(PRETRAIN_WEIGHTS)
        if unknown:
            raise FacelibError(f"unknown pretraining terms {sorted(unknown)}; terms are {sorted(PRETRAIN_WEIGHTS)}")
        self.weights = {**PRETRAIN_WEIGHTS, **(weights or {})}
        keep = torch.ones(self.layout.total)
        if self.identity_components is not None:
            keep[self.layout.slices()["id"].start + self.identity_components:self.layout.slices()["id"].stop] = 0
        self._keep = keep

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """As :meth:`Regressor.encode` — ``(B, 3, H, W)`` images in [0, 1] → ``(B, P)`` coefficients —,
        the identity components past ``identity_components`` held at the mean (0)."""
        coeffs = super().encode(images)
        return coeffs if self.identity_components is None else coeffs * self._keep.to(coeffs.device)

    def loss_terms(self, batch: dict, coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted terms of ``coeffs`` ``(B, P)`` against the batch's true ``coefficients``
        ``(B, P)`` and ``landmarks68`` ``(B, 68, 2)``."""
        if "coefficients" not in batch:
            raise FacelibError("pretraining needs a set with true coefficients (a synthetic set); this batch has none")
        p, t = self.layout.split(coeffs), self.layout.split(batch["coefficients"].to(coeffs.device))
        mm = millimetres_per_unit(self.model.info.units)
        truth = self.model.shape(t["id"], t["exp"])
        return {  # each block against the truth with the other block true: neither can stand in for the other
            "identity_vertices": vertex_loss(self.model.shape(p["id"], t["exp"]), truth, mm),
            "expression_vertices": vertex_loss(self.model.shape(t["id"], p["exp"]), truth, mm),
            "landmark": landmark_loss(self.renderer.landmarks(coeffs), self.landmarks_at_input(batch),
                                      image_size=self.image_size),
            "albedo": coefficient_loss(p["tex"], t["tex"]),
            "light": coefficient_loss(p["gamma"], t["gamma"]),
        }

    def landmarks_at_input(self, batch: dict) -> torch.Tensor:
        """The batch's ``landmarks68`` ``(B, 68, 2)`` in the pixels of the network's input (a set of
        another image size is resized to it by :meth:`_input`)."""
        return batch["landmarks68"] * (self.image_size / batch[self.train_view()].shape[-1])

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        coeffs = self.encode(batch[self.train_view()])
        terms = self.loss_terms(batch, coeffs.float())
        total = sum(self.weights[k] * v for k, v in terms.items())
        return {"total": total, **{k: v.detach() for k, v in terms.items()}}
