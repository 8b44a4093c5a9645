"""Test-time refinement: a few analysis-by-synthesis steps started from a network's prediction.

The shape lever of chapter 5 (issue 15). A network trained for the cpu profile's budget finds pose,
light, texture and landmarks, but not the person's identity; per-image fitting
(:func:`facelib.fitting.fit`) finds identity, but from the mean face it needs many steps and a
good landmark target. :class:`Refined` does both: the trained network predicts, and ``steps`` Adam
iterations of the Deep3D objective (photometric + landmark + prior; the prior 30 times Deep3D's, chosen
on a real scan, DESIGN-NOTES 35) refine that prediction on the input image.

The landmark target ("anchor") is never the ground truth, which a real photo does not have:

* ``"network"`` — the landmarks of the network's own prediction, held fixed: they keep pose and
  contour where the network put them while the photometric term moves identity, expression,
  texture and light;
* ``"detector"`` — dlib's 68 landmarks (:class:`facelib.detect.FaceDetector`), falling back to the
  network's where dlib finds no face (counted in :attr:`Refined.fallbacks`).

If the wrapped predictor returns a face mask (R-Net's skin classifier through
:class:`~facelib.methods.rnet.SkinMasked`, FOCUS's segmentation), the photometric term is restricted
to it, as in the method's own training loss.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from ..errors import FacelibError
from ..fitting import REAL_GEOMETRY, FitWeights, fit
from ..render import Renderer
from .base import Prediction, Predictor, as_prediction

ANCHORS = ("network", "detector")


@dataclasses.dataclass(frozen=True)
class Refinement:
    """How a prediction is refined.

    Attributes:
        steps: Adam iterations of :func:`facelib.fitting.fit` (0: no refinement).
        anchor: landmark target, one of :data:`ANCHORS`.
        use_mask: restrict the photometric term to the method's predicted face mask, if it has one.
        weights: the objective's weights (:class:`facelib.fitting.FitWeights`; default
            :data:`facelib.fitting.REAL_GEOMETRY`, Deep3D's with a 30× prior: DESIGN-NOTES 35).
    """

    steps: int = 200
    anchor: str = "network"
    use_mask: bool = True
    weights: FitWeights = REAL_GEOMETRY

    def __post_init__(self):
        if self.anchor not in ANCHORS:
            raise FacelibError(f"refinement anchor must be one of {ANCHORS}, not {self.anchor!r}")
        if self.steps < 0:
            raise FacelibError(f"refinement steps must be >= 0, not {self.steps}")


class Refined:
    """A predictor's prediction followed by :class:`Refinement` (a :class:`~.base.Predictor`, not trained).

    Args:
        method: a trained :class:`~.base.Method`, or a predictor wrapping one (e.g. R-Net's
            :meth:`~facelib.methods.rnet.RNet.skin_masked`, to fit only its skin pixels); its model,
            name and run signature are read.
        refinement: the settings; :meth:`describe` records them beside the method's run signature.
    """

    def __init__(self, method: Predictor, refinement: Refinement = Refinement()):
        self.method = method
        self.model = method.model
        self.refinement = refinement
        self._predict = method.predict
        self._renderers: dict[int, Renderer] = {}
        self._detector = None
        self.fallbacks = 0  # images where the detector found no face (anchor "detector")
        self._memo: dict[str, torch.Tensor] = {}  # image digest -> refined coefficients

    @property
    def name(self) -> str:
        return f"{self.method.name}+refine"

    def describe(self) -> dict:
        """What a result row records: the method's run and the refinement settings."""
        return {"method": self.method.name, "run": getattr(self.method, "run_signature", None),
                "refinement": dataclasses.asdict(self.refinement)}

    def renderer(self, size: int) -> Renderer:
        if size not in self._renderers:
            self._renderers[size] = Renderer(self.model, size)
        return self._renderers[size]

    def detected_landmarks(self, images: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
        """dlib's landmarks ``(B, 68, 2)`` of each of ``images`` ``(B, 3, H, W)``, the ``fallback``
        ``(B, 68, 2)`` row where no face is found."""
        from ..detect import FaceDetector

        if self._detector is None:
            self._detector = FaceDetector()
        rows = []
        for image, backup in zip(images, fallback, strict=True):
            pixels = (image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
            found = self._detector(pixels)
            if found.faces:
                rows.append(torch.as_tensor(found.faces[0].landmarks68, dtype=torch.float32))
            else:
                self.fallbacks += 1
                rows.append(backup)
        return torch.stack(rows)

    def predict(self, images: torch.Tensor, landmarks: torch.Tensor | None = None) -> Prediction:
        """The method's prediction for ``(B, 3, H, W)`` images in [0, 1], its ``(B, P)`` coefficients
        refined, with the method's mask if it returns one. ``landmarks`` ``(B, 68, 2)``, if given,
        replace the anchor (an oracle study: chapter 5 fits to the true landmarks to show what a
        perfect detector would add).

        Refinement is deterministic and costs ~1 s a face on a CPU, so each image's result is
        remembered (by its pixels) and an image seen again — the same test face scored by a second
        table — is not fitted twice."""
        pred = as_prediction(self._predict(images))
        coeffs, mask = pred.coefficients.detach().float().cpu(), pred.mask
        if self.refinement.steps > 0:
            coeffs = self._refined(images.detach().float().cpu(), coeffs, mask, landmarks)
        return Prediction(coeffs, mask=mask)

    def _refined(self, images, coeffs, mask, landmarks) -> torch.Tensor:
        keys = [hashlib.sha1(im.numpy().tobytes()).hexdigest() for im in images] if landmarks is None else None
        todo = [i for i in range(len(images)) if keys is None or keys[i] not in self._memo]
        if todo:
            pick = torch.tensor(todo)
            renderer = self.renderer(images.shape[-1])
            with torch.no_grad():
                anchor = renderer.landmarks(coeffs[pick])
            if landmarks is not None:
                anchor = landmarks[pick].float().cpu()
            elif self.refinement.anchor == "detector":
                anchor = self.detected_landmarks(images[pick], anchor)
            attention = None
            if mask is not None and self.refinement.use_mask:
                attention = mask[pick].float().cpu()
                if attention.shape[-2:] != images.shape[-2:]:
                    attention = torch.nn.functional.interpolate(attention, size=images.shape[-2:], mode="nearest")
            with torch.enable_grad():  # the evaluation runner predicts under no_grad
                fitted = fit(renderer, images[pick], anchor, coeffs[pick], steps=self.refinement.steps,
                             mask=attention, **self.refinement.weights.kwargs()).coeffs
            fitted = self.model.in_range(fitted)
            if keys is None:
                return fitted
            for row, i in enumerate(todo):
                self._memo[keys[i]] = fitted[row]
        return torch.stack([self._memo[k] for k in keys])
