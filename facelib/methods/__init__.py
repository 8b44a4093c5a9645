"""The book's methods: each is model construction + loss assembly + ``train_step`` + ``predict``
(a :class:`.base.Method`), trained by :func:`facelib.train.train`, which knows none of them.

* :mod:`.base` — the contract; :mod:`.regressor` — image → coefficients with an encoder and a
  renderer, what every method here builds on;
* :mod:`.rnet` — R-Net (Deep3D), :mod:`.mofa` — MoFA: the baselines;
* :mod:`.orn` — ORN's SOPI (distilled from a trained R-Net) and MOPI (from a trained SOPI);
* :mod:`.rogue` — ROGUE's guidance and robustification pipelines with a coefficient discriminator;
* :mod:`.focus` — FOCUS's face autoencoder and outlier-segmentation U-Net, trained EM-style;
* :mod:`.contour` — the contour-guided method: occlusion mask, contour GAN, inpainting GAN, regression;
* :mod:`.refine` — test-time refinement of any trained method's prediction (not a trained method).

:data:`REGISTRY` names every method the command line and the chapters can build; a new method
adds one line here (README, "Adding a method"). Importing this package imports no method.
"""

from __future__ import annotations

import importlib

from ..errors import FacelibError

#: method name → "module:Class" (imported on first use)
REGISTRY = {
    "rnet": "facelib.methods.rnet:RNet",
    "mofa": "facelib.methods.mofa:MoFA",
    "sopi": "facelib.methods.orn:SOPI",
    "mopi": "facelib.methods.orn:MOPI",
    "rogue": "facelib.methods.rogue:ROGUE",
    "focus": "facelib.methods.focus:FOCUS",
    "focus_backbone": "facelib.methods.focus:FaceAutoencoder",
    "contour": "facelib.methods.contour:Contour",
}
NAMES = tuple(REGISTRY)
#: method name -> the chapter that trains its default configuration (its run folder is
#: ``runs/<chapter>/<profile>/<method>``, shared by ``make book`` and ``python -m facelib train``)
CHAPTERS = {"rnet": "05_baselines", "mofa": "05_baselines", "sopi": "06_orn", "mopi": "06_orn",
            "rogue": "07_rogue", "focus": "08_focus", "focus_backbone": "08_focus", "contour": "09_contour"}


def method_class(name: str) -> type:
    """The class registered as ``name``."""
    if name not in REGISTRY:
        raise FacelibError(f"unknown method {name!r}; choose one of {sorted(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, model, profile, **options):
    """The method called ``name``, sized by ``profile`` (backbone, input size) and ``model``
    (its coefficient layout); ``options`` go to the method's constructor. The learning rate is
    ``lr`` if given, else the class's ``default_lr`` if it has one (MOPI), else the profile's."""
    from .regressor import EncoderConfig

    cls = method_class(name)
    if hasattr(cls, "profile_options"):  # options a method sizes by the profile (e.g. FOCUS's EM schedule)
        options = {**cls.profile_options(profile), **options}
    lr = options.pop("lr", None) or getattr(cls, "default_lr", None)
    encoder = EncoderConfig.from_profile(profile, **({"lr": lr} if lr is not None else {}))
    return cls(model, encoder, **options)
