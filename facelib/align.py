"""Deep3D's 5-point alignment to a 224 × 224 crop, with its inverse (Deng et al. 2019, Sec. 3.4
and ``util/preprocess.py``: ``POS`` + ``resize_n_crop_img``).

Deep3D fits a scale ``s`` and a translation ``t`` (no rotation: roll is left to the network) that
map five detected points (eye centres, nose tip, mouth corners) onto the five points of the mean
3D face projected into the crop, then resamples the image. :func:`align` does the same, with the
template taken from *our* model and camera (:func:`template`), so an aligned photo is framed the
way the renderer frames a frontal face at zero translation.

The y-flip trap: Deep3D's template lives in a y-up 3D frame, so ``align_img`` flips the image
landmarks (``y → H − 1 − y``) before fitting and flips back afterwards; forgetting either flip
aligns the face upside-down or shifts it by the image height. Here the template is built in image
coordinates (y down) from the renderer's own projection, so no flip is needed; the tests check
that an aligned face is upright and that alignment followed by its inverse returns the points.

All coordinates are continuous pixels (top-left corner at 0, pixel centre at +0.5).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .camera import REFERENCE_SIZE
from .errors import FacelibError
from .landmarks import five_points


@functools.lru_cache(maxsize=4)
def _template(region: str, size: int) -> tuple[tuple[float, float], ...]:
    from .camera import project
    from .morphable import MorphableModel

    model = MorphableModel.from_ict(region=region)
    lm = model.neutral[model.landmarks][None]  # frontal, zero pose and translation
    xy, _ = project(lm, size)
    return tuple(map(tuple, five_points(xy[0].double()).tolist()))


def template(size: int = REFERENCE_SIZE, region: str = "narrow") -> np.ndarray:
    """The 5 target points ``(5, 2)``: the mean face's landmarks rendered frontally at ``size``."""
    return np.array(_template(region, int(size)))


@dataclass(frozen=True)
class Alignment:
    """A 2D similarity ``x' = A x + b`` from the original image to the ``size × size`` crop."""

    matrix: np.ndarray  # (2, 3): [A | b]
    size: int

    @property
    def scale(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def to_aligned(self, points) -> np.ndarray:
        """Original-image points ``(..., 2)`` → crop points."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_original(self, points) -> np.ndarray:
        """Crop points ``(..., 2)`` → original-image points (the inverse transform)."""
        p = np.asarray(points, dtype=np.float64)
        return (p - self.matrix[:, 2]) @ np.linalg.inv(self.matrix[:, :2]).T

    def inverse(self) -> np.ndarray:
        """The ``(2, 3)`` matrix of the inverse map."""
        inv = np.linalg.inv(self.matrix[:, :2])
        return np.concatenate([inv, -(inv @ self.matrix[:, 2])[:, None]], 1)

    def warp(self, image: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Resample ``(3, H, W)``/``(B, 3, H, W)`` float (or ``(H, W, 3)`` uint8) into the crop,
        bilinear, differentiable in the image; outside the photo is black."""
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)
        batched = image.dim() == 4
        x = image if batched else image[None]
        out = warp_affine(x, torch.from_numpy(self.inverse())[None], self.size, antialias=False)
        return out if batched else out[0]


def pyramid_down(images: torch.Tensor) -> torch.Tensor:
    """Halve the resolution like dlib's ``pyramid_down<2>``: separable ``[1 4 6 4 1] / 16``
    filter over each 5×5 window, every other pixel, no padding — new pixel ``i`` is centred on old
    pixel ``2i + 2`` (integer pixel indices), and ``(n − 3) // 2`` pixels remain per axis:
    ``images`` ``(B, C, H, W)`` → ``(B, C, (H − 3) // 2, (W − 3) // 2)``, same dtype."""
    c = images.shape[1]
    k = images.new_tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    x = F.conv2d(images, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), stride=(1, 2), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), stride=(2, 1), groups=c)


# Continuous coordinates on a pyramid level: new = old / 2 − shift. The level's true geometry is
# (0.75, 0.75); dlib's chip extraction uses its pyramid's declared point_down, p/2 − (1.25, 0.75)
# in integer pixel indices, i.e. (1.0, 0.5) here — a quarter level pixel off, reproduced for dlib.
PYRAMID_SHIFT = (0.75, 0.75)
DLIB_PYRAMID_SHIFT = (1.0, 0.5)


def warp_affine(images: torch.Tensor, out_to_image: torch.Tensor, size: int,
                antialias: bool = True, pyramid_shift=PYRAMID_SHIFT) -> torch.Tensor:
    """Resample ``images`` ``(B, C, H, W)`` into ``size × size`` outputs given the ``(B|1, 2, 3)``
    map from output to image coordinates (continuous pixels). Bilinear; like dlib's chip extraction, when
    a chip pixel spans more than 2 image pixels the chip is read from an image pyramid level
    (:func:`pyramid_down`) instead, so shrinking does not alias. Outside the image is black.
    Differentiable in ``images`` and in the map."""
    m = out_to_image.to(torch.float64)
    if antialias:
        scale = float(torch.linalg.det(m[:, :, :2].detach()).abs().sqrt().max())
        shift = m.new_tensor(pyramid_shift)[None, :, None]
        while scale > 2.0 and min(images.shape[-2:]) > 8:
            images = pyramid_down(images)
            m = torch.cat([m[:, :, :2] / 2, m[:, :, 2:] / 2 - shift], -1)
            scale /= 2
    b, _, h, w = images.shape
    centres = torch.arange(size, dtype=torch.float64, device=images.device) + 0.5
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    grid = torch.stack([xx, yy, torch.ones_like(xx)], -1).reshape(1, -1, 3)
    src = grid @ m.to(images.device).transpose(1, 2)  # (B|1, size*size, 2), float64
    norm = torch.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1).reshape(-1, size, size, 2)
    return F.grid_sample(images, norm.to(images.dtype).expand(b, -1, -1, -1), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def fit_similarity(source: np.ndarray, target: np.ndarray, rotation: bool = False) -> np.ndarray:
    """Least-squares ``(2, 3)`` map of ``source`` points onto ``target``: scale + translation
    (Deep3D's ``POS``), or with ``rotation=True`` a full similarity (Umeyama 1991)."""
    src, dst = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    var = (a ** 2).sum()
    if var < 1e-12:
        raise FacelibError("the landmarks coincide; cannot align")
    if rotation:
        u, sig, vt = np.linalg.svd(b.T @ a)
        d = np.sign(np.linalg.det(u @ vt))
        r = u @ np.diag([1.0, d]) @ vt
        s = (sig * np.array([1.0, d])).sum() / var
        lin = s * r
    else:
        lin = np.eye(2) * (a * b).sum() / var
    return np.concatenate([lin, (mu_d - lin @ mu_s)[:, None]], 1)


def align(landmarks, size: int = REFERENCE_SIZE, rotation: bool = False, region: str = "narrow") -> Alignment:
    """The :class:`Alignment` that puts a face with these (68 or 5) landmarks into the crop."""
    lm5 = five_points(torch.as_tensor(np.asarray(landmarks, dtype=np.float64))).numpy()
    if not np.isfinite(lm5).all():
        raise FacelibError("landmarks contain NaN/inf; detect the face first (facelib.detect)")
    return Alignment(fit_similarity(lm5, template(size, region), rotation), int(size))


def align_image(image, landmarks, size: int = REFERENCE_SIZE, rotation: bool = False):
    """Align ``image`` and its landmarks: returns ``(crop (3, size, size), landmarks in the crop,
    the Alignment)``."""
    al = align(landmarks, size, rotation)
    return al.warp(image), al.to_aligned(landmarks), al
