"""Deep3D's Bayesian skin classifier: the attention mask of R-Net's photometric loss.

Deng et al. 2019 (Deep3D, Sec. 3.2, "skin attention") weight each pixel of the photometric loss by
its probability of being skin, from two 4-component Gaussian mixtures (skin and non-skin) in
YCbCr, fitted by the reference implementation; the parameters ship with facelib
(``deep3d_skin_gmm.json``, copied from the Deep3D reference code). Pixels of other colours (most
occluders, hair, background) then barely pull on the fit.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import torch

PARAMETERS = Path(__file__).with_name("deep3d_skin_gmm.json")


@lru_cache(maxsize=1)
def parameters() -> dict:
    """The mixture parameters (weights, means, inverse covariances, determinants, skin prior)."""
    return json.loads(PARAMETERS.read_text())


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 YCbCr (Y in [16, 235]) of ``(B, 3, H, W)`` RGB in [0, 1] → ``(B, H, W, 3)``."""
    r, g, b = (image * 255.0).unbind(1)
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return torch.stack([y, cb, cr], -1)


@lru_cache(maxsize=2)
def _mixture(kind: str) -> tuple[torch.Tensor, ...]:
    """``(weights, means, inverse covariances, determinants)`` of the ``skin`` or ``nonskin``
    mixture as float64 tensors (built once, not at every training step)."""
    p = parameters()
    return tuple(torch.tensor(p[f"gmm_{kind}_{k}"], dtype=torch.float64) for k in ("w", "mu", "cov_inv", "cov_det"))


def _mixture_density(x: torch.Tensor, kind: str) -> torch.Tensor:
    w, mu, inv, det = (t.to(x.device) for t in _mixture(kind))
    d = x[..., None, :] - mu  # (..., K, 3)
    maha = torch.einsum("...ki,kij,...kj->...k", d, inv, d)
    norm = w / ((2 * math.pi) ** 1.5 * det.sqrt())
    return (norm * torch.exp(-0.5 * maha)).sum(-1)


def skin_probability(image: torch.Tensor) -> torch.Tensor:
    """Posterior probability of skin per pixel (Deng et al. 2019, Deep3D, Sec. 3.2.1 skin attention).

    ``P(skin | x) = p(x | skin) π / (p(x | skin) π + p(x | non-skin) (1 − π))`` with the two
    YCbCr Gaussian mixtures of the reference implementation and prior ``π = 0.8``.

    Args:
        image: ``(B, 3, H, W)`` RGB in [0, 1].
    Returns:
        ``(B, 1, H, W)`` in [0, 1] (no gradient: it is a fixed attention map of the input).
    """
    p = parameters()
    with torch.no_grad():
        x = rgb_to_ycbcr(image.double())
        skin = _mixture_density(x, "skin")
        other = _mixture_density(x, "nonskin")
        prior = p["prior_skin"]
        post = skin * prior / (skin * prior + other * (1 - prior)).clamp_min(1e-300)
    return post.to(image.dtype)[:, None]
