"""What every coefficient-regression method shares: an encoder, a renderer, prediction, validation.

:class:`Regressor` is a :class:`facelib.methods.base.Method` whose encoder maps an image to the model's
coefficient vector and whose ``train_step`` renders the prediction over the input and sums the
weighted terms that :meth:`Regressor.loss_terms` returns. R-Net and MoFA differ only in those
terms; ORN, ROGUE and FOCUS add networks and objectives on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import recognition
from ..camera import REFERENCE_SIZE
from ..errors import FacelibError
from ..losses import identity_loss
from ..metrics import landmark_errors, shape_scores
from ..morphable import MorphableModel
from ..nets.identity import ChipIdentity, IdentityReading
from ..nets.resnet import resnet
from ..render import Renderer, RenderOutput
from .base import Method, Prediction


def frozen_embedder(name: str):
    """The face-recognition network ``name`` (:func:`facelib.recognition.load`, offline only) with
    its parameters frozen: the fixed ``F`` of every perceptual or identity term."""
    emb = recognition.load(name, allow_download=False)
    for p in emb.parameters():
        p.requires_grad_(False)
    return emb


@dataclass(frozen=True)
class EncoderConfig:
    """The regression network and its optimiser.

    Attributes:
        backbone: :data:`facelib.nets.resnet.ARCHS` or :data:`~facelib.nets.resnet.PRETRAINED` name.
        image_size: side of the (square) input and of the training renderings.
        lr: Adam learning rate (Deep3D: 1e-4).
        seed: seeds the network's initial weights (independently of the global RNG).
        identity: ``None``, or the :mod:`facelib.recognition` embedder whose chip reads the identity
            (:class:`facelib.nets.identity.IdentityReading`; issue 34). Left out of run signatures
            when ``None``, so runs from before it existed keep theirs.
        identity_frozen: with ``identity``, the reader keeps the weights it starts with (a warm
            start's): no optimiser steps it, so a method's own terms move the landmarks that place
            the chip but not what the reader makes of it (issue 34's lever; omitted when False).
    """

    backbone: str
    image_size: int
    lr: float = 1e-4
    seed: int = 0
    identity: str | None = field(default=None, metadata={"omit_if_default": True})
    identity_frozen: bool = field(default=False, metadata={"omit_if_default": True})

    def __post_init__(self):
        if self.identity_frozen and self.identity is None:
            raise FacelibError("identity_frozen needs a reader: build the method with reader='dlib' as well")

    @classmethod
    def from_profile(cls, profile, **changes) -> EncoderConfig:
        return cls(**{"backbone": profile.backbone, "image_size": profile.image_size,
                      **({"identity": profile.reader} if getattr(profile, "reader", None) else {}), **changes})


class Regressor(Method):
    """Image → coefficients with a ResNet (zero-initialised head: it starts at the mean face)."""

    #: loss term name → weight; subclasses set their paper's values
    weights: dict[str, float] = {}

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, heads: int = 1):
        super().__init__()
        self.model = model
        self.layout = model.layout
        self.encoder_config = encoder
        self.image_size = encoder.image_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(encoder.seed)
            net = resnet(encoder.backbone, self.layout.total * heads)
        self.fixed["renderer"] = Renderer(model, encoder.image_size)
        if encoder.identity is not None:
            renderer = self.fixed["renderer"]
            net = IdentityReading(net, ChipIdentity(self.layout.id, encoder.identity), self.layout.total,
                                  self.layout.slices()["id"], lambda c: renderer.landmarks(model.in_range(c)))
        self.nets["encoder"] = net
        if encoder.identity is None:
            groups = [{"params": list(net.parameters())}]
        elif encoder.identity_frozen:
            net.reader.requires_grad_(False)
            groups = [{"params": list(net.encoder.parameters())}]
        else:  # the reader's head learns faster; its trunk shares the encoder's group (as runs since stop 43 hold it)
            trunk, head = net.reader.param_groups(encoder.lr)
            groups = [{"params": [*net.encoder.parameters(), *trunk["params"]]}, head]
        self.optimizers["encoder"] = torch.optim.Adam(groups, lr=encoder.lr)

    @property
    def renderer(self) -> Renderer:
        return self.fixed["renderer"]

    def start_from(self, other: Regressor, nets: tuple[str, ...] = ("encoder",)) -> Regressor:
        """Warm start: copy the networks ``nets`` of ``other`` (a finished run; by default its encoder,
        which needs the same backbone, input size and coefficient layout, e.g. chapter 5's R-Net)
        before training; the run's signature records ``other``'s, so a warm-started run never resumes
        a cold one. Returns ``self``."""
        mine, theirs = self.encoder_config, getattr(other, "encoder_config", None)
        if "encoder" in nets and (other.layout != self.layout or theirs is None or theirs.backbone != mine.backbone
                                  or theirs.identity != mine.identity):
            describe_enc = (lambda e: "no encoder" if e is None else
                            e.backbone + (f" reading identity with {e.identity}" if e.identity else ""))
            raise FacelibError(f"{self.name} cannot start from {other.name}: encoder {describe_enc(theirs)} "
                               f"for layout {other.layout.sizes}, this one {describe_enc(mine)} for "
                               f"{self.layout.sizes}")
        missing = [n for n in nets if n not in self.nets or n not in other.nets]
        if missing:
            raise FacelibError(f"{self.name} cannot start from {other.name}: no network(s) {missing} in both")
        for n in nets:
            self.nets[n].load_state_dict(other.nets[n].state_dict())
        self.__dict__["_warm_start"] = {"method": other.name, "nets": list(nets),
                                        "run_signature": getattr(other, "run_signature", None) or "untrained"}
        return self

    def derived_hyperparameters(self) -> dict:
        """The effective loss weights (the class's paper values with any overrides applied)."""
        return {"weights": dict(self.weights)}

    # -- prediction ------------------------------------------------------------------------------
    def _input(self, images: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """Images on the method's device, float32, resized to ``size`` (default: the input size)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise FacelibError(f"{self.name} expects images (B, 3, H, W) in [0, 1], got {tuple(images.shape)}")
        size = size or self.image_size
        images = images.to(self.device, torch.float32)
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return images

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] → coefficients ``(B, P)`` (``P = layout.total``) in float32
        (the network may run in mixed precision), each block in the model's declared range
        (:meth:`MorphableModel.in_range`)."""
        return self.model.in_range(self.nets["encoder"](self._input(images)).float())

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → the :class:`~.base.Prediction` of the ``(B, P)``
        coefficients (networks in eval mode, on the CPU)."""
        with self.evaluating():
            return Prediction(self.encode(images).cpu())

    # -- training --------------------------------------------------------------------------------
    def loss_terms(self, batch: dict, images: torch.Tensor, coeffs: torch.Tensor,
                   out: RenderOutput) -> dict[str, torch.Tensor]:
        """Unweighted scalar loss terms, keys as in :attr:`weights`, of ``images`` ``(B, 3, H, W)``,
        their predicted ``coeffs`` ``(B, P)`` and the render ``out`` of those."""
        raise NotImplementedError

    def input_features(self, images: torch.Tensor, landmarks: torch.Tensor, keys: list | None = None) -> torch.Tensor:
        """The frozen embedder's features ``(B, D)`` of the input images ``(B, 3, H, W)`` (chips cut at
        ``landmarks`` ``(B, 68, 2)``), without gradient — a fixed target, remembered across steps for
        stored views (``keys``: :meth:`row_keys`; see :meth:`remembered`)."""
        emb = self.fixed["embedder"]

        def compute():
            with torch.no_grad():
                return emb.embed(images, landmarks)
        return self.remembered("input_features", keys, compute)

    def identity_term(self, images: torch.Tensor, render: torch.Tensor, landmarks: torch.Tensor,
                      keys: list | None = None) -> torch.Tensor:
        """``1 − cos(F(I), F(I'))`` through the method's frozen embedder ``fixed["embedder"]``
        (:func:`facelib.losses.identity_loss`, Deep3D Eq. 5), a scalar; ``images`` and ``render``
        ``(B, 3, H, W)``, ``landmarks`` ``(B, 68, 2)``; the input's features carry no gradient
        (:meth:`input_features`)."""
        target = self.input_features(images, landmarks, keys)
        return identity_loss(target, self.fixed["embedder"].embed(render, landmarks))

    def train_view(self) -> str:
        return self.views[0]

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images = batch[self.train_view()]
        coeffs = self.encode(images)
        out = self.renderer(coeffs, background=images)
        terms = self.loss_terms(batch, images, coeffs, out)
        total = sum(self.weights[k] * v for k, v in terms.items())
        return {"total": total, **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        """Landmark ME (px at 224, as the evaluation runner reports it) of every image view in the
        batch; on synthetic faces (true coefficients in the batch) also the clean view's identity
        cosine and shape error (mm), so a run's log shows when, if ever, it learns identity."""
        out = {}
        for view in ("clean", "occluded", "noisy"):
            if view in batch:
                coeffs = self.encode(batch[view])
                lm = self.renderer.landmarks(coeffs)
                me = landmark_errors(lm.cpu(), batch["landmarks68"].cpu(), normaliser=self.image_size / REFERENCE_SIZE)["me"]
                out[f"landmark_me_{view}"] = float(me.mean())
                if view == "clean" and "coefficients" in batch:
                    scores = shape_scores(self.model, coeffs.cpu(), batch["coefficients"].cpu())
                    out.update({f"{k}_clean": float(v.mean()) for k, v in scores.items()})
        return out
