"""The contour-guided method (Zhao et al. 2023): find the occluded face pixels, draw the face's
contours inside them, inpaint the face from those contours, then regress the 3DMM coefficients
from the inpainted face.

Four stages, each a set of objectives of the one training loop, run one after the other
(:class:`ContourSchedule`):

1. **mask** — a U-Net ``Ω_m`` predicts which face pixels are occluded (the benchmark's exact
   occluder ∩ face mask is the label; the paper's five face parts are merged into one face region);
2. **edges** — the contour generator ``N_cont`` (EdgeConnect-style) completes the Canny contours of
   the grey face inside the mask (Eq. 1) against a PatchGAN ``D₁``: adversarial (Eq. 2) and
   feature-matching (Eq. 3) losses, λ₁ = 1, λ₂ = 11.5;
3. **inpaint** — ``N_syn`` fills the masked image guided by ``C_goal`` against ``D₂``: adversarial
   (Eq. 4), mask-normalised L1 (Eq. 5) and style (Eq. 6) losses, λ₃ = 0.1, λ₄ = 1, λ₅ = 250; the style
   features come from the dlib face-recognition trunk (no ImageNet VGG weights offline);
4. **regression** — the encoder regresses coefficients from the inpainted face with
   ``L_3D = 1.4 L₆ + 0.25 L₇`` (Eqs. 11-12); it starts from chapter 5's trained R-Net (a choice: the
   paper trains a ResNet-50 from its own initialisation, which a CPU budget cannot repeat).

Stages 2-3 train with the true mask (teacher forcing, as EdgeConnect does); stage 4 and
:meth:`Contour.predict` run the whole chain on the predicted mask. The GCN texture refinement of
the paper is left out (it changes texture detail, not the coefficients the book measures).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .. import recognition
from ..edges import canny, to_gray
from ..errors import FacelibError
from ..losses import contour as contour_losses
from ..losses import landmark_loss
from ..morphable import MorphableModel
from ..nets.gan import Generator, PatchDiscriminator
from ..nets.unet import UNet
from .base import Prediction, Prerequisite, Schedule
from .regressor import EncoderConfig, Regressor, frozen_embedder

#: λ₁…λ₇ of Eqs. (7), (8) and L_3D
WEIGHTS = {"edge_adversarial": 1.0, "edge_feature_matching": 11.5, "inpaint_adversarial": 0.1, "inpaint_l1": 1.0,
           "inpaint_style": 250.0, "pixel": 1.4, "feature": 0.25}
#: terms the paper does not have, off unless a weight is given (so runs without them keep their
#: signatures): ``landmark`` — Deep3D's 68-landmark loss in the regression stage (its weight 1.6e-3)
OPTIONAL_WEIGHTS = {"landmark": 1.6e-3}
STAGES = ("mask", "edges", "inpaint", "regression")
#: where the inpainting's guiding contours ``C_goal`` come from inside the mask: the contour
#: generator (the paper), the clean twin's own Canny contours (issue 35's oracle: perfect contours)
#: or nowhere (zeros: inpainting unguided)
CONTOUR_SOURCES = ("generated", "true", "none")
#: the networks of stages 1-3, which a regression-only variant copies from a finished run
CHAIN_NETS = ("masker", "edge_generator", "edge_discriminator", "inpaint_generator", "inpaint_discriminator")


@dataclasses.dataclass(frozen=True)
class ContourSchedule:
    """Steps of each stage, in order: ``mask``, ``edges``, ``inpaint``, then ``regression`` to the end."""

    mask: int
    edges: int
    inpaint: int

    def __post_init__(self):
        if min(self.mask, self.edges, self.inpaint) < 0:
            raise FacelibError(f"invalid contour schedule {self}: stage lengths must be non-negative")

    def as_schedule(self) -> Schedule:
        """The same steps as a :class:`~.base.Schedule` (the regression stage: a cycle of one phase)."""
        return Schedule(tuple(zip(STAGES, (self.mask, self.edges, self.inpaint), strict=False)), (("regression", 1),))

    def stage(self, step: int) -> str:
        """One of :data:`STAGES` for training step ``step`` (0-based)."""
        return self.as_schedule().phase(step)

    @classmethod
    def for_steps(cls, steps: int) -> ContourSchedule:
        """15 % mask, 30 % edges, 30 % inpainting, 25 % regression."""
        return cls(int(0.15 * steps), int(0.3 * steps), int(0.3 * steps))


class Contour(Regressor):
    """The contour-guided method, all stages in one trainable object.

    Args:
        model, encoder: face model and the regression encoder (R-Net's backbone and size).
        rnet: chapter 5's trained R-Net, whose encoder the regression stage starts from (``None``:
            for prediction only, e.g. to load a finished run).
        schedule: :class:`ContourSchedule` (``profile_options`` sizes it to the profile's steps).
        embedder: face-recognition network of ``L₇`` and of the style features.
        weights: overrides of :data:`WEIGHTS`, and any of :data:`OPTIONAL_WEIGHTS` to switch it on.
        gan_width, gan_blocks, unet_width: network sizes.
        gan_lr: Adam learning rate of the four GAN networks and the mask U-Net (betas 0, 0.9 for
            the GANs, as EdgeConnect).
        canny_sigma: smoothing of the ground-truth contours.
        contour_source: one of :data:`CONTOUR_SOURCES`: ``"generated"`` (the paper), ``"true"`` (the
            clean twin's contours inside the mask: an oracle that needs the clean twin, so it cannot
            :meth:`predict`) or ``"none"`` — the mechanism experiment's arms (issue 35).
    """

    name = "contour"
    views = ("clean", "occluded")
    masks = ("face_mask", "occluder_mask")
    prerequisites = (Prerequisite("rnet", "rnet"),)
    objectives = {"mask": ("masker",), "edge_generator": ("edge_generator",),
                  "edge_discriminator": ("edge_discriminator",), "inpaint_generator": ("inpaint_generator",),
                  "inpaint_discriminator": ("inpaint_discriminator",), "regression": ("encoder",)}
    later_arguments = ("contour_source",)

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, rnet: Regressor | None,
                 schedule: ContourSchedule = ContourSchedule(225, 450, 450), embedder: str = "dlib",
                 weights: dict | None = None, gan_width: int = 32, gan_blocks: int = 4, unet_width: int = 16,
                 gan_lr: float = 1e-4, canny_sigma: float = 1.0, contour_source: str = "generated"):
        super().__init__(model, encoder)
        if contour_source not in CONTOUR_SOURCES:
            raise FacelibError(f"contour_source must be one of {list(CONTOUR_SOURCES)}, got {contour_source!r}")
        self.contour_source = contour_source
        unknown = set(weights or {}) - set(WEIGHTS) - set(OPTIONAL_WEIGHTS)
        if unknown:
            raise FacelibError(f"unknown contour weight(s) {sorted(unknown)}; known: {sorted(WEIGHTS)}, and "
                               f"the optional {sorted(OPTIONAL_WEIGHTS)}")
        self.weights = {**WEIGHTS, **(weights or {})}
        self.schedule, self.canny_sigma = schedule, float(canny_sigma)
        if rnet is not None:
            if rnet.layout != self.layout:
                raise FacelibError(f"the R-Net predicts layout {rnet.layout.sizes}, this encoder {self.layout.sizes}")
            self.nets["encoder"].load_state_dict(rnet.nets["encoder"].state_dict())
        emb = self.fixed["embedder"] = frozen_embedder(embedder)
        self.fixed["style"] = emb if isinstance(emb, recognition.DlibResNet) else frozen_embedder("dlib")
        depth = 3 if encoder.image_size % 8 == 0 else 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(encoder.seed + 3)
            nets = {"masker": UNet(3, 1, width=unet_width, depth=depth),
                    "edge_generator": Generator(3, 1, gan_width, gan_blocks),
                    "edge_discriminator": PatchDiscriminator(2, gan_width),
                    "inpaint_generator": Generator(5, 3, gan_width, gan_blocks),
                    "inpaint_discriminator": PatchDiscriminator(4, gan_width)}
        for name, net in nets.items():
            self.nets[name] = net
            betas = (0.9, 0.999) if name == "masker" else (0.0, 0.9)
            self.optimizers[name] = torch.optim.Adam(net.parameters(), lr=gan_lr, betas=betas)

    def start_from(self, other: Regressor, nets: tuple[str, ...] = ("encoder",)) -> Contour:
        """:meth:`Regressor.start_from`; a chain (any of :data:`CHAIN_NETS`) is copied only from a chain
        whose inpainting was guided by the same :attr:`contour_source`."""
        theirs = getattr(other, "contour_source", None)
        if set(nets) & set(CHAIN_NETS) and theirs is not None and theirs != self.contour_source:
            raise FacelibError(f"this chain's contours are {self.contour_source!r}, the run it would start from drew "
                               f"{theirs!r} ones: build it with contour_source={theirs!r}")
        return super().start_from(other, nets)

    @classmethod
    def profile_options(cls, profile) -> dict:
        return {"schedule": ContourSchedule.for_steps(profile.train_steps)}

    @staticmethod
    def inherited_options(options: dict) -> dict:
        """Options the regression stage takes from the R-Net it starts from
        (:func:`facelib.methods.build`): the identity reader frozen as R-Net's was
        (``reader_frozen``), so that the stage continues R-Net's training rather than unfreezing
        what R-Net kept fixed — as MOPI continues SOPI's. Measured side by side: DESIGN-NOTES 46
        (``python -m facelib mechanism contour-departures``)."""
        rnet = options.get("rnet")
        return {} if rnet is None else {"reader_frozen": rnet.encoder_config.identity_frozen}

    def derived_hyperparameters(self) -> dict:
        return {"weights": dict(self.weights)}

    # -- the chain -----------------------------------------------------------------------------
    def contours(self, images: torch.Tensor) -> torch.Tensor:
        """Canny contours ``(B, 1, H, W)`` of the grey image (the ground truth of stage 2), in float32
        whatever the training's precision: its thresholds decide which pixels are edges."""
        with torch.autocast(images.device.type, enabled=False):
            return canny(to_gray(images.float()), sigma=self.canny_sigma)

    def predicted_mask(self, images: torch.Tensor) -> torch.Tensor:
        """``Ω_m``: occluded face pixels (1) ``(B, 1, H, W)`` of ``images`` ``(B, 3, H, W)``, thresholded at one half."""
        return (self.nets["masker"](images) > 0).float()

    def complete_contours(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Eq. (1) → ``C_syn``, then ``C_goal``: the visible contours outside the mask, the generated
        ones inside. ``images`` ``(B, 3, H, W)``, ``mask`` ``(B, 1, H, W)`` (1 = occluded); returns
        ``(C_goal, C_syn)``, each ``(B, 1, H, W)``."""
        gray = to_gray(images)
        known = self.contours(images)
        gray_hat, contours_hat = contour_losses.masked_inputs(gray, known, mask)
        synthesised = self.nets["edge_generator"](torch.cat([gray_hat, contours_hat, mask], 1))
        return contour_losses.goal_contours(known, synthesised, mask), synthesised

    @torch.no_grad()
    def _frozen_goal(self, images: torch.Tensor, mask: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        """``C_goal`` ``(B, 1, H, W)`` of the frozen stage 2 (its generator in eval mode for the call),
        or of :attr:`contour_source`'s oracle (``"true"``: the visible contours outside ``mask``, the
        ``(B, 3, H, W)`` ``clean`` twin's inside) or ablation (``"none"``: the visible contours outside,
        none inside)."""
        if self.contour_source != "generated":
            if self.contour_source == "true" and clean is None:
                raise FacelibError("a contour-guided chain with contour_source='true' draws the clean twin's contours: "
                                   "pass clean (it has no contours of its own to predict with)")
            inside = self.contours(clean) if self.contour_source == "true" else torch.zeros_like(mask)
            return contour_losses.goal_contours(self.contours(images), inside, mask)
        net = self.nets["edge_generator"]
        was = net.training
        net.eval()
        try:
            return self.complete_contours(images, mask)[0]
        finally:
            net.train(was)

    def inpaint(self, images: torch.Tensor, mask: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """``I₁ = N_syn(Î, C_goal)`` ``(B, 3, H, W)``, composited: the generator's pixels inside the
        ``(B, 1, H, W)`` mask, the input's outside; ``goal`` ``(B, 1, H, W)`` contours."""
        hat = images * (1 - mask)
        out = self.nets["inpaint_generator"](torch.cat([hat, goal, mask], 1))
        return out * mask + hat

    @torch.no_grad()
    def inpainted(self, images: torch.Tensor, mask: torch.Tensor | None = None,
                  clean: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The whole chain on ``images`` (networks in eval mode): ``{"mask", "contours", "image"}``,
        with the mask ``Ω_m`` predicts, or a given ``(B, 1, H, W)`` one (the true occluded-face mask,
        to judge the contours and the fill alone); ``clean``: the ``(B, 3, H, W)`` clean twins, which
        :attr:`contour_source` ``"true"`` draws its contours from."""
        with self.evaluating():
            images = self._input(images)
            if mask is None:
                mask = self.predicted_mask(images)
            else:
                mask = F.interpolate(mask.to(self.device, torch.float32), size=images.shape[-2:], mode="nearest")
            goal = self._frozen_goal(images, mask, None if clean is None else self._input(clean))
            return {"mask": mask, "contours": goal, "image": self.inpaint(images, mask, goal)}

    def fill(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The inpainting as a fill of ``mask`` = 1 pixels (the signature of :mod:`facelib.fill`'s
        fills): ``(B, 3, H, W)`` images and ``(B, 1, H, W)`` mask in, ``(B, 3, H, W)`` on the CPU out."""
        return self.inpainted(images, mask)["image"].cpu()

    def restoring(self, predict):
        """``predict`` (e.g. R-Net's) applied to the chain's inpainted image instead of the input."""

        def on_inpainted(images: torch.Tensor):
            return predict(self.inpainted(images)["image"])

        return on_inpainted

    def phase_of(self, step: int) -> str:
        return self.schedule.stage(step)

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        stage = self.schedule.stage(step)
        clean, occluded = self._input(batch["clean"]), self._input(batch["occluded"])
        truth_mask = (batch["occluder_mask"] * batch["face_mask"]).float()
        code = {"stage": torch.tensor(float(STAGES.index(stage)))}
        w = self.weights
        if stage == "mask":
            logits = self.nets["masker"](occluded)
            loss = F.binary_cross_entropy_with_logits(logits, truth_mask)
            return {"mask": loss, "bce": loss.detach(), **code}
        if stage == "edges":
            gray = to_gray(clean)
            # a fixed formula of the stored clean twin: remembered per training item
            c_true = self.remembered("clean_contours", self.row_keys(batch, "clean"), lambda: self.contours(clean))
            gray_hat, c_hat = contour_losses.masked_inputs(to_gray(occluded), c_true, truth_mask)
            c_syn = self.nets["edge_generator"](torch.cat([gray_hat, c_hat, truth_mask], 1))
            d = self.nets["edge_discriminator"]
            fake_logits, fake_features = d(torch.cat([c_syn, gray], 1))
            real_logits, real_features = d(torch.cat([c_true, gray], 1))
            adversarial = contour_losses.generator_adversarial_loss(fake_logits)
            matching = contour_losses.feature_matching_loss(real_features, fake_features)
            generator = w["edge_adversarial"] * adversarial + w["edge_feature_matching"] * matching
            fake_detached, _ = d(torch.cat([c_syn.detach(), gray], 1))
            discriminator = contour_losses.discriminator_loss(real_logits, fake_detached)
            return {"edge_generator": generator, "edge_discriminator": discriminator,
                    "edge_adversarial": adversarial.detach(), "edge_feature_matching": matching.detach(), **code}
        if stage == "inpaint":
            # stage 2 is frozen now (its generator in eval mode: spectral normalisation's power
            # iteration no longer moves it), so each stored occluded face's C_goal is fixed: remembered
            goal = self.remembered("goal_contours", self.row_keys(batch, "occluded"),
                                   lambda: self._frozen_goal(occluded, truth_mask, clean))
            out = self.inpaint(occluded, truth_mask, goal)
            d = self.nets["inpaint_discriminator"]
            fake_logits, _ = d(torch.cat([out, goal], 1))
            real_logits, _ = d(torch.cat([clean, goal], 1))
            adversarial = contour_losses.generator_adversarial_loss(fake_logits)
            l1 = contour_losses.mask_normalised_l1(out, clean, truth_mask)
            style_net = self.fixed["style"]
            style = contour_losses.style_loss(style_net.trunk_features(out), style_net.trunk_features(clean))
            generator = (w["inpaint_adversarial"] * adversarial + w["inpaint_l1"] * l1 + w["inpaint_style"] * style)
            fake_detached, _ = d(torch.cat([out.detach(), goal], 1))
            discriminator = contour_losses.discriminator_loss(real_logits, fake_detached)
            return {"inpaint_generator": generator, "inpaint_discriminator": discriminator,
                    "inpaint_adversarial": adversarial.detach(), "inpaint_l1": l1.detach(),
                    "inpaint_style": style.detach(), **code}
        # stages 1-3 are frozen now: the chain's image and its features are fixed per training item
        keys = self.row_keys(batch, "occluded")
        with torch.no_grad():
            image = self.remembered("inpainted", keys, lambda: self.inpainted(
                occluded, clean=clean if self.contour_source == "true" else None)["image"])
        coeffs = self.encode(image)
        out = self.renderer(coeffs, background=image)
        emb = self.fixed["embedder"]
        lm = batch["landmarks68"]
        pixel = contour_losses.pixel_loss(image, out.image, out.mask)
        target = self.input_features(image, lm, keys)
        feature = contour_losses.feature_loss(target, emb.embed(out.image, lm))
        terms = {"pixel": pixel.detach(), "feature": feature.detach()}
        total = w["pixel"] * pixel + w["feature"] * feature
        if "landmark" in w:  # not the paper's: ties the pose to the landmarks, as R-Net's training does
            landmark = landmark_loss(out.landmarks, lm, image_size=self.image_size)
            total, terms["landmark"] = total + w["landmark"] * landmark, landmark.detach()
        return {"regression": total, **terms, **code}

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        """The regressor's validation numbers, the occluded view read through the chain (mask,
        contours, inpainting) as :meth:`predict` reads it — the log's occluded landmark error is the
        method's, not its encoder's on the raw occluded input. An oracle chain (``contour_source``
        ``"true"``) draws its contours from the batch's clean twin."""
        if "occluded" not in batch:
            return super().validation_step(batch)
        clean = batch.get("clean") if self.contour_source == "true" else None
        chained = {**batch, "occluded": self.inpainted(batch["occluded"], clean=clean)["image"]}
        return super().validation_step(chained)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → the ``(B, P)`` coefficients regressed from the
        inpainted image, and the ``(B, 1, H, W)`` face mask (1 = face, i.e. not occluded) the chain used."""
        if self.contour_source == "true":
            raise FacelibError("a contour-guided chain with contour_source='true' needs each image's clean twin: score "
                               "its inpainting with facelib.evaluation.mechanisms.contour_chain_scores")
        with self.evaluating():
            chain = self.inpainted(images)
            coeffs = self.encode(chain["image"])
            return Prediction(coeffs.cpu(), mask=(1 - chain["mask"]).cpu())
