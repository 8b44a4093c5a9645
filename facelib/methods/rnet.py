"""R-Net, the regression network of Deep3D (Deng et al. 2019), the baseline every paper builds on.

A ResNet maps a face image to the morphable model's coefficients; training is weakly supervised by
rendering the prediction over the input and comparing (DESIGN 8):

* photometric loss weighted by a skin attention mask — Deep3D's Bayesian skin classifier
  (:mod:`facelib.skin`) × the rendered-face mask; on synthetic data the exact face mask can
  replace the classifier (``attention="face_mask"``), or nothing (``"none"``: rendered mask only);
  ``"visible_mask"`` is the **visibility oracle** (issue 32's positive control): the exact visible
  face pixels of an occluded view — what FOCUS's mask, ROGUE's guidance and the skin classifier
  approximate — restricting the identity term too (:meth:`RNet.identity_target_render`);
* 68-landmark loss, weight 20 on the nose points 28–30 and the inner lips;
* identity loss: 1 − cos between face-recognition embeddings of the input and of the rendering
  (Deep3D uses FaceNet; offline facelib uses the dlib ResNet port, FaceNet/ArcFace where available);
* coefficient, light (gamma) and reflectance regularisers.

Weights are Deep3D's: photometric 1.92, landmark 1.6e-3, identity 0.2, coefficients 3e-4
(id 1.0 / exp 0.8 / tex 1.7e-2), gamma 10, reflectance 5; Adam 1e-4.
"""

from __future__ import annotations

import torch

from .. import losses, skin
from ..errors import FacelibError
from ..morphable import MorphableModel
from ..render import RenderOutput
from .base import Prediction
from .regressor import EncoderConfig, Regressor, frozen_embedder

ATTENTIONS = ("skin", "face_mask", "visible_mask", "none")
#: attentions read from the data set's exact masks (synthetic faces only)
MASK_ATTENTIONS = ("face_mask", "visible_mask")
DEEP3D_WEIGHTS = {"photometric": 1.92, "landmark": 1.6e-3, "identity": 0.2, "coefficients": 3e-4,
                  "gamma": 10.0, "reflectance": 5.0}


class RNet(Regressor):
    """Deep3D's R-Net.

    Args:
        model: the face model (its layout sizes the network's output).
        encoder: backbone, input size, learning rate.
        attention: ``"skin"`` (Deep3D), ``"face_mask"`` (exact synthetic mask), ``"visible_mask"``
            (exact visible face pixels: the visibility oracle) or ``"none"``.
        embedder: ``"dlib"`` | ``"facenet"`` | ``"arcface"`` | ``None`` (no identity loss).
        weights: overrides of :data:`DEEP3D_WEIGHTS`.
        view: the batch view it trains on (``"clean"`` for the baseline).
    """

    name = "rnet"
    starts_from_stand_in = True

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, attention: str = "skin",
                 embedder: str | None = "dlib", weights: dict | None = None, view: str = "clean"):
        super().__init__(model, encoder)
        if attention not in ATTENTIONS:
            raise FacelibError(f"unknown attention {attention!r}; choose one of {ATTENTIONS}")
        self.attention = attention
        self.views = (view,)
        self.masks = (attention,) if attention in MASK_ATTENTIONS else ()
        self.weights = {**DEEP3D_WEIGHTS, **(weights or {})}
        self.embedder_name = embedder
        if embedder is None:
            self.weights.pop("identity")
        else:
            self.fixed["embedder"] = frozen_embedder(embedder)

    def attention_map(self, batch: dict, images: torch.Tensor, out: RenderOutput) -> torch.Tensor:
        """Per-pixel weight ``(B, 1, H, W)`` of the photometric loss: the choice of ``attention`` × the
        rendered mask; ``images`` ``(B, 3, H, W)``."""
        if self.attention == "skin":  # a formula of the input: remembered across steps
            keys = self.row_keys(batch, self.train_view())
            return out.mask * self.remembered("skin", keys, lambda: skin.skin_probability(images))
        if self.attention in MASK_ATTENTIONS:
            return out.mask * batch[self.attention]
        return out.mask

    def identity_target_render(self, batch: dict, images: torch.Tensor, render: torch.Tensor) -> torch.Tensor:
        """The render ``(B, 3, H, W)`` the identity term embeds: R-Net's render over the input, except
        for the visibility oracle, whose render shows only on the true visible face pixels ``V`` and
        the input elsewhere, ``V·I' + (1 − V)·I`` — so both images hold the same occluder and the
        embeddings differ only by the visible face."""
        if self.attention != "visible_mask":
            return render
        visible = batch["visible_mask"].to(render.dtype)
        return visible * render + (1.0 - visible) * images

    def loss_terms(self, batch, images, coeffs, out):
        c = self.layout.split(coeffs)
        lm = batch["landmarks68"]
        terms = {
            "photometric": losses.photometric_loss(out.image, images, self.attention_map(batch, images, out)),
            "landmark": losses.landmark_loss(out.landmarks, lm, image_size=self.image_size),
            "coefficients": losses.coefficient_regularizer(c),
            "gamma": losses.gamma_loss(c["gamma"]),
            "reflectance": losses.reflectance_loss(self.model.albedo(c["tex"]), self.model.skin),
        }
        if "identity" in self.weights:
            render = self.identity_target_render(batch, images, out.image)
            terms["identity"] = self.identity_term(images, render, lm, self.row_keys(batch, self.train_view()))
        return terms

    @staticmethod
    @torch.no_grad()
    def segment(images: torch.Tensor) -> torch.Tensor:
        """Deep3D's face/outlier segmentation: the skin classifier thresholded at 0.5 (FOCUS,
        Tab. 4-5 and Fig. 5, scores Deep3D this way). ``(B, 1, H, W)``, 1 = face."""
        return (skin.skin_probability(images.float()) > 0.5).float().cpu()

    def skin_masked(self, context=None) -> SkinMasked:
        """R-Net as the book evaluates it: its coefficients with Deep3D's skin segmentation
        (:class:`SkinMasked`; ``context`` is not needed, :class:`~facelib.methods.Row` passes it)."""
        return SkinMasked(self)


class SkinMasked:
    """A :class:`~.base.Predictor`: R-Net's coefficients and its face/outlier mask (:meth:`RNet.segment`),
    which the evaluation runner scores as a segmentation (FOCUS's Tables 4-5 score Deep3D so) and
    which a refinement fits within (:class:`~facelib.methods.refine.Refined`)."""

    def __init__(self, rnet: RNet):
        self.rnet, self.model = rnet, rnet.model

    @property
    def name(self) -> str:
        return self.rnet.name

    @property
    def run_signature(self) -> str | None:
        return self.rnet.run_signature

    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → ``(B, P)`` coefficients and the ``(B, 1, H, W)`` skin mask."""
        return Prediction(self.rnet.predict(images).coefficients, mask=self.rnet.segment(images))

