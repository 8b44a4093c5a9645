"""The book's methods: each is model construction + loss assembly + ``train_step`` + ``predict``
(a :class:`facelib.train.Method`), trained by :func:`facelib.train.train`.

* :mod:`.rnet` — R-Net (Deep3D), :mod:`.mofa` — MoFA: the baselines;
* :mod:`.orn` — ORN's SOPI (distilled from a trained R-Net) and MOPI (from a trained SOPI);
* ROGUE, FOCUS and the contour-guided method build on :class:`.common.Regressor`.
"""

from __future__ import annotations

from ..errors import FacelibError

NAMES = ("rnet", "mofa", "sopi", "mopi")


def build(name: str, model, profile, **options):
    """The method called ``name``, sized by ``profile`` (backbone, input size) and ``model``
    (its coefficient layout); ``options`` go to the method's constructor. The learning rate is
    ``lr`` if given, else the class's ``default_lr`` if it has one (MOPI), else the profile's."""
    from .common import EncoderConfig
    from .mofa import MoFA
    from .orn import MOPI, SOPI
    from .rnet import RNet

    classes = {"rnet": RNet, "mofa": MoFA, "sopi": SOPI, "mopi": MOPI}
    if name not in classes:
        raise FacelibError(f"unknown method {name!r}; choose one of {sorted(classes)}")
    lr = options.pop("lr", None) or getattr(classes[name], "default_lr", None)
    encoder = EncoderConfig.from_profile(profile, **({"lr": lr} if lr is not None else {}))
    return classes[name](model, encoder, **options)
