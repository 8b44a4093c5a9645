"""Image noise of ROGUE's "noisy CelebA test" (Tiwari et al., BMVC 2022, Sec. 4; DESIGN 6, issue 3).

:func:`add_noise` corrupts one ``(3, H, W)`` float RGB image in [0, 1] with one of
:data:`NOISE_KINDS` — ``gaussian``, ``salt_pepper``, ``speckle``, ``poisson``, ``blur``, ``jpeg`` —
at a severity 1-5 (:data:`SEVERITY`, after ImageNet-C: ROGUE publishes no noise levels), drawing
its randomness from a ``torch.Generator`` (the same seed gives the same noise). Noise is not an
occluder: the occluders are :mod:`facelib.occlusion`.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from .errors import FacelibError
from .filters import gaussian_blur

NOISE_KINDS = ("gaussian", "salt_pepper", "speckle", "poisson", "blur", "jpeg")
# Severity 1-5, after the corruption levels of Hendrycks & Dietterich (ImageNet-C, ICLR 2019);
# ROGUE (Sec. 4) builds a "noisy CelebA test" but does not publish its noise levels.
SEVERITY = {
    "gaussian": (0.04, 0.08, 0.12, 0.18, 0.26),  # std
    "salt_pepper": (0.01, 0.03, 0.06, 0.09, 0.17),  # fraction of pixels
    "speckle": (0.1, 0.15, 0.2, 0.35, 0.45),  # std of the multiplicative term
    "poisson": (60.0, 25.0, 12.0, 5.0, 3.0),  # photons at white
    "blur": (0.5, 1.0, 1.5, 2.0, 3.0),  # Gaussian sigma in pixels at 112 px (scaled with size)
    "jpeg": (30, 20, 15, 10, 7),  # quality
}


def add_noise(image: torch.Tensor, kind: str, severity: int, generator: torch.Generator) -> torch.Tensor:
    """ROGUE's image noise (Tiwari et al., BMVC 2022, Sec. 4: "noisy variant of CelebA-test"):
    ``kind`` in :data:`NOISE_KINDS`, ``severity`` 1 (mild) to 5 (heavy), see :data:`SEVERITY`.
    Returns ``(3, H, W)`` in [0, 1]."""
    if kind not in SEVERITY:
        raise FacelibError(f"unknown noise {kind!r}; known: {', '.join(NOISE_KINDS)}")
    if not 1 <= int(severity) <= 5:
        raise FacelibError(f"severity must be 1..5, got {severity}")
    level = SEVERITY[kind][int(severity) - 1]
    g = generator
    x = image
    if kind == "gaussian":
        out = x + level * torch.randn(x.shape, generator=g, dtype=x.dtype)
    elif kind == "speckle":
        out = x * (1 + level * torch.randn(x.shape, generator=g, dtype=x.dtype))
    elif kind == "poisson":
        out = torch.poisson(x.clamp(0, 1) * level, generator=g) / level
    elif kind == "salt_pepper":
        r = torch.rand(x.shape[-2:], generator=g, dtype=x.dtype)
        salt = torch.rand(x.shape[-2:], generator=g, dtype=x.dtype) < 0.5
        hit = r < level
        out = torch.where(hit, salt.to(x.dtype), x)
    elif kind == "blur":
        out = gaussian_blur(x[None], level * x.shape[-1] / 112)[0]
    else:  # jpeg
        from PIL import Image

        arr = (x.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(level))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64) / 255
        out = torch.from_numpy(dec).permute(2, 0, 1).to(x.dtype)
    return out.clamp(0, 1)
