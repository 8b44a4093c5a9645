"""Identity read from a frozen face-recognition network (issue 34, lever 2).

MICA (Zielonka et al., ECCV 2022) reads a face model's identity from ArcFace's embedding: a network
trained to tell people apart already carries who the person is. :class:`IdentityReadout` does the
same: a head from the embedder's descriptor of the input (the chip aligned at the base network's
own predicted landmarks, so no detector is needed) to the identity coefficients, keeping the base
network's other coefficients (expression, albedo, pose, light). Two heads: a ridge regression from
the frozen descriptor, fitted in closed form on the clean training renders (:func:`ridge`), and the
embedder's trunk fine-tuned with a linear head against the true identity's mesh
(:class:`IdentityTrunk`, trained by :func:`facelib.train.train` like any method).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import FacelibError
from ..losses.supervised import vertex_loss
from ..metrics import identity_v2v, millimetres_per_unit
from ..morphable import MorphableModel
from .base import Method, Prediction


def ridge(features: torch.Tensor, targets: torch.Tensor, lam: float) -> torch.Tensor:
    """The ridge solution ``W`` ``(D + 1, K)`` of ``[X, 1] W ≈ Y`` with penalty ``lam·‖W‖²`` on the
    weights (not the bias): ``features`` ``(N, D)``, ``targets`` ``(N, K)``, float64 inside."""
    x = torch.cat([features.double(), features.new_ones(len(features), 1).double()], 1)
    reg = lam * torch.eye(x.shape[1], dtype=torch.float64)
    reg[-1, -1] = 0.0
    return torch.linalg.solve(x.T @ x + reg, x.T @ targets.double())


@dataclass
class IdentityReadout:
    """A :class:`~.base.Predictor`: ``base``'s coefficients with the identity block replaced by
    ``head(F(I))``, ``F`` the ``embedder`` on the input's chip aligned at ``base``'s predicted
    landmarks.

    Attributes:
        base: a trained regressor (``predict``, ``renderer``, ``model``, ``name``).
        embedder: a :class:`facelib.recognition.Embedder`.
        head: ``(B, D)`` descriptors → ``(B, n_id)`` identity coefficients: ``(D + 1, n_id)`` ridge
            weights (:meth:`fit`) or a module (:class:`IdentityTrunk`'s).
    """

    base: object
    embedder: torch.nn.Module
    head: object

    @property
    def model(self):
        return self.base.model

    @property
    def name(self) -> str:
        return f"{self.base.name} + identity read-out ({self.embedder.name})"

    @property
    def run_signature(self):
        return getattr(self.base, "run_signature", None)

    @torch.no_grad()
    def features(self, images: torch.Tensor, landmarks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(coefficients (B, P), descriptors (B, D))`` of ``images`` ``(B, 3, H, W)``: ``base``'s
        prediction and the embedder's descriptor of the chip at ``landmarks`` ``(B, 68, 2)`` in the
        images' pixels (default: the prediction's own landmarks)."""
        coeffs = self.base.predict(images).coefficients.float()
        if landmarks is None:
            landmarks = self.base.renderer.landmarks(coeffs) * (images.shape[-1] / self.base.renderer.image_size)
        return coeffs, self.embedder.embed(images.float(), landmarks).float()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → :class:`~.base.Prediction` ``(B, P)``."""
        coeffs, feats = self.features(images)
        return Prediction(self.with_identity(coeffs, feats))

    def with_identity(self, coeffs: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """``coeffs`` ``(B, P)`` with the identity block read from ``feats`` ``(B, D)``."""
        if isinstance(self.head, torch.Tensor):
            ident = (torch.cat([feats.double(), feats.new_ones(len(feats), 1).double()], 1) @ self.head).float()
        else:
            ident = self.head(feats).float()
        out = coeffs.clone()
        out[:, self.model.layout.slices()["id"]] = ident
        return out

    @classmethod
    def fit(cls, base, embedder, features: torch.Tensor, identities: torch.Tensor, lam: float) -> IdentityReadout:
        """The read-out fitted on descriptors ``features`` ``(N, D)`` of training faces and their true
        identity coefficients ``identities`` ``(N, n_id)`` (:func:`ridge`)."""
        if features.shape[0] != identities.shape[0] or features.shape[0] < 2:
            raise FacelibError(f"the read-out needs one descriptor per training face (got {features.shape[0]} "
                               f"descriptors for {identities.shape[0]} identities)")
        return cls(base, embedder, ridge(features, identities, lam))


class IdentityTrunk(Method):
    """The face-recognition trunk fine-tuned to read identity (issue 34, lever 2, "a fine-tuned trunk").

    A :class:`facelib.nets.identity.ChipIdentity` — the embedder (dlib's ResNet, pretrained on real
    faces) and a zero-initialised linear head from its descriptor to the identity coefficients — is
    trained on the clean training renders, the chip aligned at the true landmarks, against the true
    identity's neutral mesh (:func:`facelib.losses.supervised.vertex_loss`). At test time it reads
    the chip at a base network's predicted landmarks (:meth:`readout`).

    Args:
        model: the face model; embedder: :mod:`facelib.recognition` name (offline weights).
        lr: the trunk's Adam learning rate (the head's is
            :data:`~facelib.nets.identity.READER_HEAD_LR_SCALE` times it).
    """

    name = "identity_trunk"
    views = ("clean",)
    objectives = {"total": ("trunk",)}

    def __init__(self, model: MorphableModel, embedder: str = "dlib", lr: float = 1e-4):
        super().__init__()
        from ..nets.identity import ChipIdentity

        self.model, self.layout = model, model.layout
        reader = ChipIdentity(self.layout.id, embedder)
        self.nets["trunk"] = reader
        self.optimizers["trunk"] = torch.optim.Adam(reader.param_groups(lr))

    def identity(self, images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """Identity coefficients ``(B, n_id)`` of ``images`` ``(B, 3, H, W)`` from the chips at
        ``landmarks`` ``(B, 68, 2)`` (pixels of the images)."""
        return self.nets["trunk"](images, landmarks).float()

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        if "coefficients" not in batch:
            raise FacelibError("the identity trunk trains on a set with true coefficients (a synthetic set)")
        ident = self.identity(batch["clean"], batch["landmarks68"])
        true = self.layout.split(batch["coefficients"].to(ident.device))["id"]
        zero = ident.new_zeros(len(ident), self.layout.exp)
        loss = vertex_loss(self.model.shape(ident, zero), self.model.shape(true, zero),
                           millimetres_per_unit(self.model.info.units))
        return {"total": loss, "identity_vertices": loss.detach()}

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        """Identity-only v2v (mm) of the clean view, chips at the true landmarks."""
        coeffs = batch["coefficients"].clone()
        coeffs[:, self.layout.slices()["id"]] = self.identity(batch["clean"], batch["landmarks68"])
        return {"identity_v2v_mm_clean": float(identity_v2v(self.model, coeffs, batch["coefficients"]).mean())}

    def predict(self, images: torch.Tensor) -> Prediction:
        """Refused for ``(B, 3, H, W)`` images alone: the chip needs landmarks (:meth:`readout`)."""
        raise FacelibError("the identity trunk reads a chip, which needs landmarks: predict with "
                           "IdentityTrunk.readout(base), whose base network places them")

    def readout(self, base) -> IdentityReadout:
        """The predictor: ``base``'s coefficients with this trunk's identity."""
        self.train_mode(False)
        reader = self.nets["trunk"]
        return IdentityReadout(base, reader.trunk, reader.head)
