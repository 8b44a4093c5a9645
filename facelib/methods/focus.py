"""FOCUS (Li et al., CVPR 2023): a model-based face autoencoder R and a U-Net S that segments the
face from its outliers, trained in turn (EM-style) without any occlusion or skin label.

* **R** (encoder + renderer) minimises ``λ₁ L_pixel + λ₂ L_per + λ₃ L_lm + λ₄ L_reg`` (Eq. 8): the
  pixel term only where S keeps the pixel (Eq. 5).
* **S** takes the target and R's render (face only, over black) stacked, and minimises
  ``η₁ L_nbr + η₂ L_dist + η₃ L_area + η₄ L_presv + η₅ L_bin`` (Eqs. 1-4 and the binary term),
  with R fixed.
* **Unsupervised initialisation** (Sec. 3.3): R first trains with the preliminary masks of
  Eq. (10) (squared error below ξ = 0.17), then S trains on those masks as labels; then the EM
  cycles start. The authors' code trains S for 5,000 of every 30,000 steps and R for the rest;
  :class:`EMSchedule` scales those shares to a run's length.

Training data: the benchmark's clean and occluded views of each face, as two images (FOCUS trains
on in-the-wild photos, occluded or not). :meth:`FOCUS.predict` returns the coefficients and S's
mask, which the evaluation runner scores as a segmentation (Table 4).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .. import losses, occlusion
from ..errors import FacelibError
from ..losses import focus as focus_losses
from ..morphable import MorphableModel
from ..nets.unet import UNet
from .base import Prediction, Schedule, as_prediction
from .regressor import EncoderConfig, Regressor, frozen_embedder

#: η of L_S (Sec. 3.2); the authors' code uses 0.25 for "preserve" (:data:`CODE_PRESERVE_WEIGHT`)
SEGMENTATION_WEIGHTS = {"neighbour": 15.0, "distance": 3.0, "area": 0.5, "preserve": 2.5, "binary": 10.0}
CODE_PRESERVE_WEIGHT = 0.25
#: the options chapter 8 trains FOCUS with (its run, its ablations, its refinement row): the authors'
#: code's preserve weight, measured against the paper's in DESIGN-NOTES 42
CHAPTER_OPTIONS = {"segmentation_weights": {"preserve": CODE_PRESERVE_WEIGHT}}
#: λ of Eq. (8)
RECONSTRUCTION_WEIGHTS = {"pixel": 0.5, "perceptual": 0.25, "landmark": 5e-4, "regularizer": 0.1}
PHASES = ("reconstruct_init", "segment_init", "segment", "reconstruct")


def reconstruction_terms(method: Regressor, images, landmarks, coeffs, out, mask, keys=None) -> dict[str, torch.Tensor]:
    """R's unweighted terms (FOCUS Eqs. 5-7 and the regulariser), for FOCUS and its baselines:
    ``method`` brings the embedder (``fixed["embedder"]``), the layout and the image size; ``keys``
    the images' rows for :meth:`~facelib.methods.base.Method.remembered` (``None``: augmented)."""
    emb = method.fixed["embedder"]
    target = method.input_features(images, landmarks, keys)  # a fixed target, no gradient
    return {"pixel": focus_losses.masked_pixel_loss(images, out.image, mask, out.mask),
            "perceptual": focus_losses.perceptual_loss(target, emb.embed(out.image, landmarks)),
            "landmark": losses.landmark_loss(out.landmarks, landmarks, image_size=method.image_size),
            "regularizer": focus_losses.parameter_regularizer(method.layout.split(coeffs))}


@dataclasses.dataclass(frozen=True)
class EMSchedule:
    """Which network a training step updates.

    Steps ``[0, init_reconstruction)``: R with the preliminary masks; the next ``init_segmentation``
    steps: S on those masks; then cycles of ``cycle`` steps whose first ``segmentation`` steps train
    S and the rest R.
    """

    init_reconstruction: int
    init_segmentation: int
    cycle: int
    segmentation: int

    def __post_init__(self):
        if min(self.init_reconstruction, self.init_segmentation) < 0 or not 0 < self.segmentation <= self.cycle:
            raise FacelibError(f"invalid EM schedule {self}: need non-negative initial stages and 0 < segmentation "
                               "<= cycle")

    def as_schedule(self) -> Schedule:
        """The same steps as a :class:`~.base.Schedule`."""
        return Schedule((("reconstruct_init", self.init_reconstruction), ("segment_init", self.init_segmentation)),
                        (("segment", self.segmentation), ("reconstruct", self.cycle - self.segmentation)))

    def phase(self, step: int) -> str:
        """One of :data:`PHASES` for training step ``step`` (0-based)."""
        return self.as_schedule().phase(step)

    @classmethod
    def for_steps(cls, steps: int) -> EMSchedule:
        """A run of ``steps`` steps: 30 % R initialisation, 10 % S initialisation, then three EM
        cycles in which S takes one sixth of the steps (the authors' 5,000 of 30,000)."""
        init_r, init_s = int(0.3 * steps), int(0.1 * steps)
        cycle = max(2, (steps - init_r - init_s) // 3)
        return cls(init_r, init_s, cycle, max(1, cycle // 6))

    def rounds(self) -> dict[str, int]:
        """The steps after which chapter 8 keeps FOCUS's networks (:attr:`TrainConfig.snapshots`):
        when EM starts (Table 5's "pretrained") and after EM rounds 1 and 2."""
        start = self.init_reconstruction + self.init_segmentation
        return {"after initialisation": start, "after EM round 1": start + self.cycle,
                "after EM round 2": start + 2 * self.cycle}

    def em_segmentation_steps(self, steps: int) -> int:
        """How many steps S trains in the whole EM cycles of a run of ``steps`` steps (its
        initialisation on the preliminary masks not counted): chapter 8's S budget, which FOCUS's
        oracle experiment (:func:`facelib.experiments.focus_oracle`) measures its curve in."""
        return max(0, steps - self.init_reconstruction - self.init_segmentation) // self.cycle * self.segmentation

    @classmethod
    def segmentation_only(cls, init_segmentation: int) -> EMSchedule:
        """S alone: ``init_segmentation`` steps on the preliminary masks, then S's own loss to the end
        of the run (R is not trained: :class:`FOCUS` with ``oracle=True``)."""
        return cls(0, init_segmentation, 1, 1)


class FOCUS(Regressor):
    """FOCUS: face autoencoder R + segmentation U-Net S, trained EM-style.

    Args:
        model, encoder: the face model and R's encoder (backbone, input size, learning rate).
        schedule: the :class:`EMSchedule` (:meth:`profile_options` sizes it to the profile's steps).
        embedder: face-recognition network ``F`` of the perceptual terms.
        segmentation_weights: overrides of :data:`SEGMENTATION_WEIGHTS` (η).
        reconstruction_weights: overrides of :data:`RECONSTRUCTION_WEIGHTS` (λ).
        xi: threshold of the preliminary masks (Eq. 10).
        neighbour_radius: half-width of L_nbr's neighbourhood (2: the authors' 5×5; 0: the plain
            per-pixel error of Eq. 5 as S's image term — the paper's "Baseline" ablation).
        unet_width: channels of S's first stage.
        segmentation_lr: Adam learning rate of S.
        oracle: R replaced by the render of the benchmark's true coefficients (issue 35's mechanism
            experiment: S against a perfect reconstruction); R does not train, so ``schedule`` must
            train S alone (:meth:`EMSchedule.segmentation_only`), and :meth:`segment` needs the true
            coefficients.
    """

    name = "focus"
    starts_from_stand_in = True
    views = ("clean", "occluded")
    objectives = {"reconstruction": ("encoder",), "segmentation": ("segmenter",)}
    later_arguments = ("oracle",)

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, schedule: EMSchedule = EMSchedule(450, 150, 300, 50),
                 embedder: str = "dlib", segmentation_weights: dict | None = None,
                 reconstruction_weights: dict | None = None, xi: float = 0.17, neighbour_radius: int = 2,
                 unet_width: int = 16, segmentation_lr: float = 1e-4, oracle: bool = False):
        super().__init__(model, encoder)
        if oracle and (schedule.init_reconstruction or schedule.segmentation < schedule.cycle):
            raise FacelibError(f"an oracle FOCUS trains S alone, but schedule {schedule} has R phases: use "
                               "EMSchedule.segmentation_only(init_segmentation)")
        self.oracle = bool(oracle)
        unknown = (set(segmentation_weights or {}) - set(SEGMENTATION_WEIGHTS)) | (
            set(reconstruction_weights or {}) - set(RECONSTRUCTION_WEIGHTS))
        if unknown:
            raise FacelibError(f"unknown FOCUS weight(s) {sorted(unknown)}; S's are {sorted(SEGMENTATION_WEIGHTS)}, "
                               f"R's {sorted(RECONSTRUCTION_WEIGHTS)}")
        self.schedule = schedule
        self.eta = {**SEGMENTATION_WEIGHTS, **(segmentation_weights or {})}
        self.weights = {**RECONSTRUCTION_WEIGHTS, **(reconstruction_weights or {})}
        self.xi, self.neighbour_radius = float(xi), int(neighbour_radius)
        self.fixed["embedder"] = frozen_embedder(embedder)
        depth = 3 if encoder.image_size % 8 == 0 else 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(encoder.seed + 2)
            unet = UNet(6, 1, width=unet_width, depth=depth)
        self.nets["segmenter"] = unet
        self.optimizers["segmenter"] = torch.optim.Adam(unet.parameters(), lr=segmentation_lr)

    @classmethod
    def profile_options(cls, profile) -> dict:
        """Options sized by the profile (used by :func:`facelib.methods.build`)."""
        return {"schedule": EMSchedule.for_steps(profile.train_steps)}

    def derived_hyperparameters(self) -> dict:
        return {"weights": dict(self.weights), "eta": dict(self.eta)}

    def batch_items(self, images: int) -> int:
        """Each item brings two images (clean and occluded)."""
        return max(1, round(images / 2))

    # -- the two networks --------------------------------------------------------------------
    def render_face(self, coeffs: torch.Tensor, images: torch.Tensor):
        """R's render of ``(B, P)`` coefficients, the face alone over black ``(B, 3, H, W)`` (as S sees
        it; ``images`` give the size)."""
        return self.renderer(coeffs, background=torch.zeros_like(images))

    def mask_logits(self, images: torch.Tensor, render: torch.Tensor) -> torch.Tensor:
        """S's logits ``(B, 1, H, W)`` for ``M = S(I_T, I_R)``; ``images`` and ``render`` ``(B, 3, H, W)``."""
        return self.nets["segmenter"](torch.cat([images, render], 1))

    def reconstruction_terms(self, images, landmarks, coeffs, out, mask, keys=None) -> dict[str, torch.Tensor]:
        """R's unweighted terms (Eqs. 5-7 and the regulariser)."""
        return reconstruction_terms(self, images, landmarks, coeffs, out, mask, keys)

    def segmentation_terms(self, images, landmarks, render, region, mask, keys=None) -> dict[str, torch.Tensor]:
        """S's unweighted terms (Eqs. 1-4 and the binary term)."""
        emb = self.fixed["embedder"]
        target = self.input_features(images, landmarks, keys)  # the input is fixed in S's step
        masked_target = emb.embed(images * mask, landmarks)  # once for Eqs. 2 and 4
        return {"neighbour": focus_losses.neighbour_loss(images, render, mask, region, radius=self.neighbour_radius),
                "distance": focus_losses.distance_loss(masked_target, emb.embed(render * mask, landmarks)),
                "area": focus_losses.area_loss(mask, region),
                "preserve": focus_losses.preserve_loss(masked_target, target),
                "binary": focus_losses.binary_loss(mask, region)}

    def phase_of(self, step: int) -> str:
        return self.schedule.phase(step)

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images = torch.cat([self._input(batch["clean"]), self._input(batch["occluded"])])
        landmarks = torch.cat([batch["landmarks68"], batch["landmarks68"]])
        clean_keys, occluded_keys = self.row_keys(batch, "clean"), self.row_keys(batch, "occluded")
        keys = None if clean_keys is None else clean_keys + occluded_keys
        phase = self.schedule.phase(step)
        code = {"phase": torch.tensor(float(PHASES.index(phase)))}
        segmenter = self.nets["segmenter"]
        if phase.startswith("reconstruct"):
            coeffs = self.encode(images)
            out = self.render_face(coeffs, images)
            if phase == "reconstruct_init":
                mask = focus_losses.preliminary_mask(images, out.image.detach(), out.mask.detach(), self.xi)
            else:
                was = segmenter.training
                segmenter.eval()
                with torch.no_grad():
                    mask = torch.sigmoid(self.mask_logits(images, out.image.detach()))
                segmenter.train(was)
            terms = self.reconstruction_terms(images, landmarks, coeffs, out, mask, keys)
            total = sum(self.weights[k] * v for k, v in terms.items())
            return {"reconstruction": total, **{k: v.detach() for k, v in terms.items()},
                    "mask_kept": focus_losses.area_loss(mask, out.mask.detach()).detach().neg(), **code}
        with torch.no_grad():
            coeffs = (torch.cat([batch["coefficients"]] * 2).to(self.device) if self.oracle
                      else self.encode(images))
            out = self.render_face(coeffs, images)
        logits = self.mask_logits(images, out.image)
        if phase == "segment_init":
            target = focus_losses.preliminary_mask(images, out.image, out.mask, self.xi)
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            loss = ((bce * out.mask).flatten(1).sum(-1) / out.mask.flatten(1).sum(-1).clamp_min(1.0)).mean()
            return {"segmentation": loss, "bce": loss.detach(), **code}
        mask = torch.sigmoid(logits)
        terms = self.segmentation_terms(images, landmarks, out.image, out.mask, mask, keys)
        total = sum(self.eta[k] * v for k, v in terms.items())
        return {"segmentation": total, **{f"s_{k}": v.detach() for k, v in terms.items()}, **code}

    @torch.no_grad()
    def segment(self, images: torch.Tensor, coeffs: torch.Tensor | None = None) -> torch.Tensor:
        """S's face mask ``(B, 1, H, W)`` in {0, 1} (1 = face) for ``images``, given R's prediction."""
        images = self._input(images)
        if coeffs is None and self.oracle:
            raise FacelibError("an oracle FOCUS segments against the true coefficients: pass coeffs")
        coeffs = self.encode(images) if coeffs is None else coeffs.to(self.device)
        render = self.render_face(coeffs, images).image
        return (self.mask_logits(images, render) > 0).float().cpu()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → R's ``(B, P)`` coefficients and S's ``(B, 1, H, W)`` face mask."""
        if self.oracle:
            raise FacelibError("an oracle FOCUS has no trained R to predict with: score its S with "
                               "segment(images, true coefficients) (facelib.evaluation.mechanisms)")
        with self.evaluating():
            coeffs = self.encode(self._input(images))
            return Prediction(coeffs.cpu(), mask=self.segment(images, coeffs))

    def misfit_corrected(self, context) -> MisfitCorrected:
        """FOCUS-MP as the benchmark evaluates it (:class:`~facelib.methods.Row`): this FOCUS with the
        misfit prior of R_syn, the ``focus_backbone`` run ``r_syn`` of chapter 8, over the profile's
        test-set size of the training split at ``context.root``."""
        r_syn = context.load("focus_backbone", "r_syn")
        return MisfitCorrected(self, misfit_prior(r_syn, context.root, limit=context.profile.test_faces))


# ------------------------------------------------------------------ baselines and the misfit prior

MASKS = ("none", "truth")
AUGMENTATIONS = (None, "cutout", "cutmix")


class FaceAutoencoder(Regressor):
    """FOCUS's reconstruction network R alone, with R's losses (Eq. 8): the baselines of FOCUS's
    Tables 1, 3 and 4, and ``R_syn`` of its misfit prior (Sec. 3.4).

    Args:
        model, encoder: as :class:`FOCUS`.
        mask: ``"none"`` — every rendered pixel counts (**Backbone**; on the clean view, **R_syn**);
            ``"truth"`` — only the benchmark's exact visible face (**Backbone-Supervised**).
        augment: ``"cutout"`` / ``"cutmix"`` — the training image is first cut out or mixed with
            another (**Backbone-cutout**, **Backbone-cutmix**), unmasked.
        view: the benchmark view it trains on (``"occluded"``; ``"clean"`` for R_syn).
        embedder, reconstruction_weights: as :class:`FOCUS`.
    """

    name = "focus_backbone"
    starts_from_stand_in = True

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, mask: str = "none", augment: str | None = None,
                 view: str = "occluded", embedder: str = "dlib", reconstruction_weights: dict | None = None):
        super().__init__(model, encoder)
        if mask not in MASKS or augment not in AUGMENTATIONS:
            raise FacelibError(f"mask must be one of {MASKS} and augment one of {AUGMENTATIONS}; "
                               f"got {mask!r}, {augment!r}")
        unknown = set(reconstruction_weights or {}) - set(RECONSTRUCTION_WEIGHTS)
        if unknown:
            raise FacelibError(f"unknown FOCUS weight(s) {sorted(unknown)}; R's are {sorted(RECONSTRUCTION_WEIGHTS)}")
        self.mask_source, self.augment, self.view = mask, augment, view
        self.views = (view,)
        self.masks = ("visible_mask",) if mask == "truth" else ()
        self.weights = {**RECONSTRUCTION_WEIGHTS, **(reconstruction_weights or {})}
        self.fixed["embedder"] = frozen_embedder(embedder)

    def augmented(self, images: torch.Tensor, landmarks: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(B, 3, H, W)`` training images after cutout or cutmix, and the covered pixels
        ``(B, 1, H, W)`` (seeded by the training step, so a resumed run draws the same boxes);
        ``landmarks`` ``(B, 68, 2)``; cutmix pastes from the next image of the batch."""
        seeds = [1_000_003 * step + i for i in range(len(images))]
        if self.augment == "cutout":
            out = occlusion.occlude_batch(images, landmarks, ("cutout",), seeds)
            return out.images, out.alpha
        other = images.roll(1, 0)
        mixed = [occlusion.cutmix(images[i].detach().cpu().double(), landmarks[i].detach().cpu().double(),
                                  torch.Generator().manual_seed(seeds[i]), other=other[i].detach().cpu().double())
                 for i in range(len(images))]
        return (torch.stack([m.image for m in mixed]).to(images.device, images.dtype),
                torch.stack([m.alpha for m in mixed])[:, None].to(images.device, images.dtype))

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images = self._input(batch[self.view])
        landmarks = batch["landmarks68"]
        covered = torch.zeros_like(images[:, :1])
        if self.augment is not None:
            images, covered = self.augmented(images, landmarks, step)
        coeffs = self.encode(images)
        out = self.renderer(coeffs, background=torch.zeros_like(images))
        # supervised: the exact visible face, less what the augmentation covered
        mask = (batch["visible_mask"].float() * (covered == 0).float() if self.mask_source == "truth"
                else torch.ones_like(out.mask))
        keys = self.row_keys(batch, self.view) if self.augment is None else None  # augmented: new each step
        terms = reconstruction_terms(self, images, landmarks, coeffs, out, mask, keys)
        return {"total": sum(self.weights[k] * v for k, v in terms.items()), **{k: v.detach() for k, v in terms.items()}}


@torch.no_grad()
def misfit_prior(method: Regressor, root, split: str = "train", view: str = "clean", limit: int | None = None,
                 batch_size: int = 32) -> torch.Tensor:
    """FOCUS Eq. (11) for a trained ``method`` (R_syn): the mean per-vertex deviation ``(V, 3)`` of its
    predicted mesh from the true one over the synthetic set's ``split`` (model space; the faces are
    renders of the model, so every deviation is the pipeline's own misfit)."""
    from ..data.folder import FaceFolder

    data = FaceFolder(root, split, views=(view,))
    n = len(data) if limit is None else min(limit, len(data))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, range(n)), batch_size=batch_size)
    model, total, count = method.model, None, 0
    for b in loader:  # the exact mean over all faces, accumulated batch by batch (a mesh per face is large)
        p = model.layout.split(as_prediction(method.predict(b[view])).coefficients.float())
        t = model.layout.split(b["coefficients"].float())
        part = len(b[view]) * focus_losses.misfit_prior(model.shape(p["id"], p["exp"]), model.shape(t["id"], t["exp"]))
        total, count = (part if total is None else total + part), count + len(b[view])
    return total / count


class MisfitCorrected:
    """FOCUS-MP (Sec. 3.4): a method's prediction with the misfit prior ``(V, 3)`` subtracted from its
    mesh, ``P_mf = P − E_MP`` — a :class:`~.base.Predictor`, whose ``vertices`` the shape metrics read."""

    def __init__(self, method: Regressor, prior: torch.Tensor):
        self.method, self.prior, self.model = method, prior, method.model

    @property
    def name(self) -> str:
        return f"{self.method.name}+misfit"

    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → the method's prediction with its corrected ``(B, V, 3)`` mesh."""
        pred = as_prediction(self.method.predict(images))
        c = self.model.layout.split(pred.coefficients.float())
        vertices = focus_losses.apply_misfit_prior(self.model.shape(c["id"], c["exp"]), self.prior)
        return Prediction(pred.coefficients, mask=pred.mask, vertices=vertices)
