"""A camera's response, drawn at random: the photometric variety of real photos (issue 33).

The synthetic set's renders share one camera: linear colour, the SH light's white balance, no lens
blur. Real photos do not — white balance, exposure, contrast, saturation, a tone curve and some
softness differ from camera to camera. :func:`camera_response` applies one such response, drawn
from a ``torch.Generator`` by :func:`draw_response`, to a rendered image; the synthetic set applies
the same response to a face's clean, occluded and noisy views (before the noise, which the sensor
adds), so the twins still differ only by their occluder or their noise — and, where the drawn lens
blur is on, by its halo of a few pixels around the occluder's edge. Off by default
(``SyntheticConfig.camera_jitter``); DESIGN-NOTES 35 measures it on real photos.

The ranges follow the colour augmentation common in face-reconstruction training (brightness,
contrast, saturation and hue-like channel gains of about ±10-30 %); noise and JPEG are not drawn
here: they are the benchmark's noisy view (:mod:`facelib.noise`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .filters import gaussian_blur

#: half-widths of the uniform draws (blur: the largest sigma, px at 112, scaled with the image)
RANGES = {"exposure": 0.3, "contrast": 0.25, "saturation": 0.35, "white_balance": 0.12, "gamma": 0.25, "blur": 1.0}


@dataclass(frozen=True)
class Response:
    """One camera: ``exposure`` gain, ``contrast`` about mid grey, ``saturation`` about each pixel's
    luminance, per-channel ``gains`` (white balance, mean 1), ``gamma`` of the tone curve, ``blur``
    sigma in px at 112."""

    exposure: float
    contrast: float
    saturation: float
    gains: tuple[float, float, float]
    gamma: float
    blur: float


def draw_response(generator: torch.Generator) -> Response:
    """A response drawn uniformly within :data:`RANGES` (the same generator state gives the same response)."""
    u = torch.rand(8, generator=generator, dtype=torch.float64) * 2 - 1  # U(-1, 1)
    gains = 1 + RANGES["white_balance"] * u[3:6]
    gains = gains / gains.mean()
    return Response(exposure=float(1 + RANGES["exposure"] * u[0]), contrast=float(1 + RANGES["contrast"] * u[1]),
                    saturation=float(1 + RANGES["saturation"] * u[2]), gains=tuple(float(g) for g in gains),
                    gamma=float(torch.exp(RANGES["gamma"] * u[6])), blur=float(RANGES["blur"] * (u[7] + 1) / 2))


def camera_response(image: torch.Tensor, response: Response) -> torch.Tensor:
    """``image`` ``(3, H, W)`` in [0, 1] as ``response``'s camera would record it, ``(3, H, W)`` in [0, 1].
    Every step but the blur maps each pixel on its own."""
    x = image * torch.tensor(response.gains, dtype=image.dtype)[:, None, None] * response.exposure
    x = (x - 0.5) * response.contrast + 0.5  # a function of the pixel alone (only the blur mixes neighbours)
    luminance = (x * torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype)[:, None, None]).sum(0, keepdim=True)
    x = (luminance + (x - luminance) * response.saturation).clamp(0, 1) ** response.gamma
    sigma = response.blur * image.shape[-1] / 112
    if sigma > 0.25:
        x = gaussian_blur(x[None], sigma)[0]
    return x.clamp(0, 1)
