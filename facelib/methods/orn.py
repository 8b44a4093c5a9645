"""ORN, the Occlusion Resistant Network (Tiwari, Kurmi, Venkatesh and Chen, WACV 2022): two ways to
make an R-Net robust to occluders without any occlusion labels.

* **SOPI** — Single-Occlusion per Identity (Sec. 3.1): a trainee ResNet sees the face clean or
  occluded at random (partially or heavily, in any colour) and learns to reproduce the
  coefficients that the frozen, trained R-Net (the *trainer*) predicts from the *clean* face —
  context-based distillation with the squared-error loss of Eq. (6) (or L1, the Fig. 6 ablation).
* **MOPI** — Multi-Occlusion per Identity (Sec. 3.2): each face is occluded ``w`` (= 7) times
  with random patterns; a ResNet with ``w`` coefficient heads (image ``j`` of a group → head ``j``)
  is trained with the composite loss of Eq. (9), ``0.2 L_perc + 0.8 L_label``: the renders of the
  ``w`` predictions should look alike to a face-recognition network (Eq. 7), and each prediction
  should match the one SOPI label — of SOPI's ``w`` predictions — whose render is most like the
  clean face (Eq. 8). Table 7's ablation is ``losses_used=("perceptual",)`` / ``("label",)`` / both.

Where the paper leaves a choice, this module takes one and says so (DESIGN-NOTES 16, chapter 6):
the occluders are ORN's own patterns (:data:`facelib.occlusion.ORN`) with random colours, a clean
sample has probability 3/4 in SOPI (Sec. 4: a quarter of the training images are occluded), MOPI predicts the mean of its heads for a single image, and
Eq. (7) is minimised as ``1 − similarity``.
"""

from __future__ import annotations

import copy

import torch

from .. import losses, occlusion
from ..errors import FacelibError
from ..morphable import MorphableModel
from .base import Prerequisite, unwrap
from .regressor import EncoderConfig, Regressor, frozen_embedder

#: ORN's artificial training occluders: squares (DSOFI, DHOFI, SHOFI) and random patterns
TRAIN_OCCLUDERS = occlusion.ORN
SOPI_LOSSES = {"se": losses.squared_error_loss, "l1": losses.absolute_error_loss}
#: Eq. (9): x1 = 0.2 for L_perc, x2 = 0.8 for L_label
MOPI_WEIGHTS = {"perceptual": 0.2, "label": 0.8}
VARIANTS = 7  # occluded images per identity (Sec. 3.2.1)
#: SOPI's probability of a clean training sample: Sec. 4 occludes "a quarter of the images"
P_CLEAN = 0.75
BACKGROUND = 0.5  # the constant grey behind renders whose features MOPI compares
GRADIENT_EVERY = 10  # MOPI logs each term's gradient norm every this many steps
#: where SOPI's labels come from: the frozen teacher on the clean face (Eq. 2), or the benchmark's
#: true coefficients (issue 35's mechanism arm: distillation with a perfect teacher)
SOPI_LABELS = ("teacher", "truth")


def _seeds(n: int) -> torch.Tensor:
    """Per-sample occlusion seeds from the global RNG (the training loop checkpoints its state, so
    a resumed run draws the same occluders)."""
    return torch.randint(0, 2**62, (n,))


def _frozen(net: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of ``net`` (the caller's teacher keeps its own weights and modes)."""
    net = copy.deepcopy(net)
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


class SOPI(Regressor):
    """ORN's Single-Occlusion per Identity network (Sec. 3.1).

    Args:
        model: the face model; encoder: the trainee's backbone, input size, learning rate.
        teacher: the trained R-Net (a :class:`~.regressor.Regressor`); only its encoder is kept,
            frozen, and the run it was trained in is part of SOPI's hyper-parameters. ``None``
            builds a SOPI for prediction only (e.g. to load a finished run).
        loss: ``"se"`` (Eq. 6) or ``"l1"`` (Fig. 6 ablation).
        occluders: occluder kinds drawn for occluded samples.
        p_clean: probability that a training sample is shown unoccluded — 3/4 from the paper's
            Sec. 4 ("we extract a quarter of the images … and occlude these": ~45K of ~181K).
        labels: ``"teacher"`` (Eq. 2, the paper) or ``"truth"``: the benchmark's true coefficients of
            the clean face, a perfect teacher (issue 35's mechanism arm; ``teacher`` must be ``None``).
    """

    name = "sopi"
    views = ("clean",)
    prerequisites = (Prerequisite("teacher", "rnet"),)
    #: from the profile's stand-in with its reader frozen, as its teacher R-Net starts (the paper starts
    #: both from the same ImageNet weights): chosen on the validation split before chapter 6's re-run,
    #: 3.39 px unoccluded at 1,500 steps against 6.77 px from the backbone's own weights
    #: (``python -m facelib mechanism orn``; DESIGN-NOTES 42)
    starts_from_stand_in = True
    later_arguments = ("labels",)

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, teacher: Regressor | None,
                 loss: str = "se", occluders=TRAIN_OCCLUDERS, p_clean: float = P_CLEAN, labels: str = "teacher"):
        super().__init__(model, encoder)
        if loss not in SOPI_LOSSES:
            raise FacelibError(f"unknown SOPI loss {loss!r}; choose one of {sorted(SOPI_LOSSES)}")
        if labels not in SOPI_LABELS:
            raise FacelibError(f"unknown SOPI labels {labels!r}; choose one of {list(SOPI_LABELS)}")
        if labels == "truth" and teacher is not None:
            raise FacelibError("a SOPI trained on the true coefficients has no teacher: pass teacher=None")
        self.labels = labels
        if teacher is not None and teacher.layout != self.layout:
            raise FacelibError(f"the teacher predicts layout {teacher.layout.sizes}, the trainee {self.layout.sizes}")
        self.loss, self.occluders, self.p_clean = loss, tuple(occluders), float(p_clean)
        self.weights = {loss: 1.0}
        if teacher is not None:
            self.teacher_size = teacher.image_size
            self.fixed["teacher"] = _frozen(teacher.nets["encoder"])

    @torch.no_grad()
    def teacher_labels(self, clean: torch.Tensor) -> torch.Tensor:
        """Eq. (2): ``v_u = RNet(I_u)``, the frozen trainer's ``(B, P)`` coefficients of the clean
        ``(B, 3, H, W)`` images."""
        if "teacher" not in self.fixed:
            raise FacelibError("this SOPI was built without a teacher (teacher=None: for prediction only); "
                               "pass the trained R-Net to train it")
        return self.model.in_range(self.fixed["teacher"](self._input(clean, self.teacher_size)).float())

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        clean = batch["clean"]
        if self.labels == "truth":
            if "coefficients" not in batch:
                raise FacelibError("SOPI with labels='truth' needs a training set with true coefficients "
                                   "(the synthetic benchmark)")
            target = batch["coefficients"].to(self.device)
        else:  # the frozen teacher's labels of stored clean faces: remembered across steps
            target = self.remembered("teacher_labels", self.row_keys(batch, "clean"),
                                     lambda: self.teacher_labels(clean))
        shown = occlusion.occlude_batch(clean, batch["landmarks68"], self.occluders, _seeds(len(clean)),
                                        p_clean=self.p_clean)
        loss = SOPI_LOSSES[self.loss](target, self.encode(shown.images))
        return {"total": loss, self.loss: loss.detach()}


class MOPI(Regressor):
    """ORN's Multi-Occlusion per Identity network (Sec. 3.2).

    A batch of the training set's items becomes ``len(batch) × variants`` images: each clean face
    occluded ``variants`` times with random patterns.

    Args:
        model, encoder: as :class:`SOPI`.
        sopi: the trained SOPI (its labels, Eq. 8, and MOPI's starting weights); the run it was
            trained in is part of MOPI's hyper-parameters. ``None`` builds a MOPI for prediction
            only (e.g. to load a finished run).
        losses_used: any of ``("perceptual", "label")`` (Table 7).
        variants: occluded images per face, ``w`` in Eq. (7)-(8).
        embedder: face-recognition network of Eq. (7)-(8) (the paper: FaceNet; offline: dlib).
        occluders: occluder kinds of the random patterns.
        init_from_sopi: start from SOPI's weights (every head = SOPI's head) instead of random ones
            — the paper starts both networks from ImageNet weights, which are not available offline;
            from random weights a batch of ⌊16/7⌋ = 2 faces may not get MOPI off the mean face in a
            cpu budget (to measure it: ``python -m facelib train --method mopi --profile cpu --set
            init_from_sopi=false``).
        weights: overrides of Eq. (9)'s weights :data:`MOPI_WEIGHTS` (0.2 for ``perceptual``, 0.8 for
            ``label``, on the raw terms — the paper's weighting, which the chapter uses; the logged
            ``grad_<term>`` show how hard each term pulls under it).
    """

    name = "mopi"
    views = ("clean",)
    prerequisites = (Prerequisite("sopi", "sopi"),)
    #: the paper's learning rate (Sec. 4); a fine-tuning rate when starting from SOPI
    default_lr = 1e-5

    def __init__(self, model: MorphableModel, encoder: EncoderConfig, sopi: SOPI | None,
                 losses_used=("perceptual", "label"), variants: int = VARIANTS, embedder: str = "dlib",
                 occluders=TRAIN_OCCLUDERS, init_from_sopi: bool = True, weights: dict | None = None):
        super().__init__(model, encoder, heads=variants)
        losses_used = (losses_used,) if isinstance(losses_used, str) else tuple(losses_used)
        unknown = set(losses_used) - set(MOPI_WEIGHTS)
        if unknown or not losses_used:
            raise FacelibError(f"MOPI losses must be a non-empty subset of {sorted(MOPI_WEIGHTS)}, got {losses_used}")
        if "label" in losses_used and sopi is not None:
            self.fixed["sopi"] = _frozen(sopi.nets["encoder"])
            self.sopi_size = sopi.image_size
        self.init_from_sopi = bool(init_from_sopi)
        self.trainable = sopi is not None or not (init_from_sopi or "label" in losses_used)
        if self.init_from_sopi and sopi is not None:
            self._start_from(sopi, int(variants))
        self.losses_used = tuple(k for k in MOPI_WEIGHTS if k in losses_used)
        self.weights = {k: {**MOPI_WEIGHTS, **(weights or {})}[k] for k in self.losses_used}
        self.variants, self.occluders = int(variants), tuple(occluders)
        self.embedder_name = embedder
        self.fixed["embedder"] = frozen_embedder(embedder).eval()

    @staticmethod
    def inherited_options(options: dict) -> dict:
        """Options MOPI takes from the SOPI it starts from (:func:`facelib.methods.build`): its
        identity reader frozen as SOPI's was (``reader_frozen``), so that MOPI continues SOPI's
        training rather than unfreezing what SOPI kept fixed."""
        sopi = options.get("sopi")
        if sopi is None or not options.get("init_from_sopi", True):
            return {}
        return {"reader_frozen": sopi.encoder_config.identity_frozen}

    def train_mode(self, on: bool = True) -> None:
        """Started from SOPI, MOPI keeps SOPI's BatchNorm statistics: a batch of 2 faces × 7 near
        copies would otherwise replace statistics learned from batches of 16 different faces."""
        super().train_mode(on)
        if on and self.init_from_sopi:
            for m in self.nets["encoder"].modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def _start_from(self, sopi: SOPI, variants: int) -> None:
        """Copy SOPI's backbone and give every head SOPI's head: MOPI starts where SOPI ends."""
        if sopi.encoder_config.backbone != self.encoder_config.backbone:
            raise FacelibError(f"SOPI's backbone {sopi.encoder_config.backbone} differs from MOPI's "
                               f"{self.encoder_config.backbone}; pass init_from_sopi=False")
        if sopi.encoder_config.identity != self.encoder_config.identity:
            raise FacelibError(f"SOPI reads identity with {sopi.encoder_config.identity or 'no reader'} and MOPI with "
                               f"{self.encoder_config.identity or 'no reader'}: build both with the same reader "
                               "(the profile's), or pass init_from_sopi=False")
        if sopi.encoder_config.identity_frozen != self.encoder_config.identity_frozen:
            raise FacelibError(f"SOPI's identity reader is {'frozen' if sopi.encoder_config.identity_frozen else 'trained'} "
                               "and MOPI's is not: build MOPI with reader_frozen="
                               f"{sopi.encoder_config.identity_frozen} (facelib.methods.build does it from sopi), "
                               "or pass init_from_sopi=False")
        source, target = unwrap(sopi.nets["encoder"]), unwrap(self.nets["encoder"])
        # the coefficient head's name: "head" for a bare encoder, "encoder.head" when an identity
        # reader wraps it (the reader's own head is shared by every variant and copied as it is)
        prefix = next(n for n, m in target.named_modules() if m is target.head)
        state = {k: v.clone() for k, v in source.state_dict().items()}
        state[f"{prefix}.weight"] = state[f"{prefix}.weight"].repeat(variants, 1)
        state[f"{prefix}.bias"] = state[f"{prefix}.bias"].repeat(variants)
        target.load_state_dict(state)

    def batch_items(self, images: int) -> int:
        """Faces per batch: each becomes ``variants`` images (cpu profile: 16 → 2 faces × 7)."""
        return max(1, images // self.variants)

    def heads(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, variants, total)``: every head's coefficients for every image."""
        raw = self.nets["encoder"](self._input(images)).float().view(len(images), self.variants, self.layout.total)
        return self.model.in_range(raw)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """For one image at a time (no group position): the mean of the heads' coefficients,
        ``(B, 3, H, W)`` images → ``(B, P)``."""
        return self.heads(images).mean(1)

    def _features(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Face-recognition features of the renders of ``coeffs`` ``(N, P)`` alone: the face over a
        constant grey background, each chip cut at the render's own (predicted) landmarks. The
        features see only the predicted face — a render pasted over the photo with chips at the
        photo's landmarks would let a shrunk or displaced face "look like" the photo, a degenerate
        minimum of Eq. (7) and a bias of Eq. (8)."""
        size = self.renderer.image_size
        out = self.renderer(coeffs, background=coeffs.new_full((len(coeffs), 3, size, size), BACKGROUND))
        return self.fixed["embedder"].embed(out.image, out.landmarks)

    @torch.no_grad()
    def label_candidates(self, clean: torch.Tensor, landmarks: torch.Tensor, occluded: torch.Tensor,
                         keys: list | None = None) -> dict:
        """Eq. (8)'s label: SOPI's coefficients ``v_s`` ``(n, w, P)`` for the ``w`` occluded copies
        ``occluded`` ``(n·w, 3, H, W)`` of each clean face, the index ``chosen`` ``(n,)`` of the one
        whose render is most like the clean face to the embedder, and that ``label`` ``(n, P)``."""
        if "sopi" not in self.fixed:
            raise FacelibError("this MOPI has no SOPI labels (built with sopi=None, or without the label loss)")
        n, w, p = len(clean), self.variants, self.layout.total
        v_s = self.model.in_range(self.fixed["sopi"](self._input(occluded, self.sopi_size)).float())
        f_s = self._features(v_s).view(n, w, -1)
        f = self.input_features(clean, landmarks, keys)  # ``keys``: the clean faces' rows (Method.row_keys)
        v_s = v_s.view(n, w, p)
        chosen = losses.closest_label_index(f_s, f)
        return {"v_s": v_s, "chosen": chosen, "label": v_s[torch.arange(n, device=v_s.device), chosen]}

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        if not self.trainable:
            raise FacelibError("this MOPI was built without a SOPI (sopi=None: for prediction only); its label loss "
                               "and its start from SOPI need the trained SOPI")
        clean, lm = batch["clean"], batch["landmarks68"]
        n, w, p = len(clean), self.variants, self.layout.total
        rep_clean, rep_lm = clean.repeat_interleave(w, 0), lm.repeat_interleave(w, 0)
        shown = occlusion.occlude_batch(rep_clean, rep_lm, self.occluders, _seeds(n * w))
        position = torch.arange(w, device=clean.device).repeat(n)
        # image j of each group reads head j: v_m (n, w, P)
        v_m = self.heads(shown.images)[torch.arange(n * w, device=clean.device), position].view(n, w, p)
        terms = {}
        if "label" in self.weights:
            candidates = self.label_candidates(clean, lm, shown.images, self.row_keys(batch, "clean"))
            terms["label"] = losses.label_loss(candidates["label"], v_m)
        if "perceptual" in self.weights:
            feats = self._features(v_m.reshape(n * w, p)).view(n, w, -1)
            terms["perceptual"] = losses.multi_occlusion_perceptual_loss(feats)
        total = sum(self.weights[k] * v for k, v in terms.items())
        grads = self.gradient_norms(terms) if step % GRADIENT_EVERY == 0 else {}
        return {"total": total, **{k: v.detach() for k, v in terms.items()}, **grads}

    def gradient_norms(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``grad_<term>``: the norm of each *weighted* term's gradient with respect to the heads'
        weights (the layer every term reaches). Table 7 compares configurations whose terms differ
        in scale by orders of magnitude; these say how hard each one actually pulls. ``terms``:
        scalar losses; returns one scalar per term."""
        head = unwrap(self.nets["encoder"]).head.weight
        out = {}
        for k, v in terms.items():
            (g,) = torch.autograd.grad(self.weights[k] * v, head, retain_graph=True, allow_unused=True)
            out[f"grad_{k}"] = torch.zeros(()) if g is None else g.norm().detach()
        return out
