"""Synthetic occluders used by the four papers (DESIGN 6, issue 3); image noise is :mod:`facelib.noise`.

Every occluder is a function ``fn(image, landmarks, generator, **options) -> Occlusion``:

* ``image`` — ``(3, H, W)`` float RGB in [0, 1];
* ``landmarks`` — ``(68, 2)`` iBUG points or ``(5, 2)`` Deep3D points (eye centres, nose tip, mouth
  corners) in pixels, x right, y down; shapes are laid out in the face's own frame (eye axis and
  inter-ocular distance), so they follow in-plane rotation, scale and — through the landmarks —
  yaw and pitch;
* ``generator`` — a ``torch.Generator``: the same seed gives the same occluder.

An :class:`Occlusion` holds the occluded image and the occluder's coverage ``alpha``; ``mask`` is
``alpha > 0`` and is exactly the set of pixels the occluder changed (coverage is computed by 4×4
supersampling, so alpha is a multiple of 1/16 and never a vanishing epsilon).

Families:

* **ORN** (Tiwari et al. 2022, Sec. 4.1, Fig. 2, 3; Tables 5, 7): :func:`dsofi`, :func:`dhofi`,
  :func:`shofi` (two small / two large / one large square-or-rectangular patch on the face),
  :func:`stars` and :func:`crowns` (MOPI's random patterns, "no specific standard shape"), any
  colour, and :func:`recoloured` for ORN's colour-invariance experiment (Fig. 3).
* **SynChOcc-style natural occluders** (ROGUE, Tiwari et al. 2022, Sec. 4, Fig. 3b):
  :func:`surgical_mask` (the four insightface mask textures), :func:`sunglasses`,
  :func:`spectacles`, :func:`hat`, :func:`bangs`, :func:`turban`, :func:`eye_mask`,
  :func:`mustache`, :func:`beard`, :func:`hand`, :func:`food`. Placed from the landmarks;
  :mod:`facelib.data.synthetic` also attaches masks to the 3D surface.
* **FOCUS baselines** (Li et al. 2023, Sec. 4.2): :func:`cutout` (DeVries & Taylor 2017) and
  :func:`cutmix` (Yun et al. 2019).

:func:`occlude` applies one by name, :func:`occlude_batch` one per sample of a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import FacelibError
from .landmarks import five_points

SUPERSAMPLING = 4


@dataclass
class Occlusion:
    """An occluded image and what covers it.

    Attributes:
        image: ``(3, H, W)`` occluded image in [0, 1].
        alpha: ``(H, W)`` occluder coverage in [0, 1] (multiples of 1/16 times the opacity).
        kind: the occluder's name.
        params: the drawn geometry and colours (for figures and reproducibility).
    """

    image: torch.Tensor
    alpha: torch.Tensor
    kind: str
    params: dict = field(default_factory=dict)

    @property
    def mask(self) -> torch.Tensor:
        """``(H, W)`` bool: pixels changed by the occluder."""
        return self.alpha > 0


# --------------------------------------------------------------------------- geometry helpers


@dataclass(frozen=True)
class FaceFrame:
    """A face's own 2D frame: origin between the eyes, ``ex`` along the eye axis (image left eye
    to image right eye), ``ey`` pointing down the face, unit = inter-ocular distance ``d``."""

    origin: torch.Tensor
    ex: torch.Tensor
    ey: torch.Tensor
    d: float

    def to_image(self, uv) -> torch.Tensor:
        """Face-frame points ``(..., 2)`` (units of ``d``) → pixels."""
        uv = torch.as_tensor(uv, dtype=torch.float64)
        return self.origin + self.d * (uv[..., :1] * self.ex + uv[..., 1:] * self.ey)

    def to_face(self, xy: torch.Tensor) -> torch.Tensor:
        """Pixels ``(..., 2)`` → face-frame coordinates."""
        rel = (xy.to(torch.float64) - self.origin) / self.d
        return torch.stack([(rel * self.ex).sum(-1), (rel * self.ey).sum(-1)], -1)

    @property
    def angle(self) -> float:
        return math.atan2(float(self.ex[1]), float(self.ex[0]))


def face_frame(landmarks: torch.Tensor) -> FaceFrame:
    """The :class:`FaceFrame` of 68 or 5 landmarks ``(68, 2)`` / ``(5, 2)`` in pixels."""
    p = five_points(torch.as_tensor(landmarks, dtype=torch.float64))
    left, right = p[0], p[1]
    axis = right - left
    d = float(axis.norm())
    if not d > 1e-6:
        raise FacelibError("the eye landmarks coincide; cannot place an occluder")
    ex = axis / d
    ey = torch.stack([-ex[1], ex[0]])
    return FaceFrame(origin=(left + right) / 2, ex=ex, ey=ey, d=d)


def face_box(landmarks: torch.Tensor) -> tuple[float, float, float, float]:
    """Axis-aligned face box ``(x0, y0, x1, y1)`` in pixels of ``(68, 2)`` or ``(5, 2)`` landmarks: their
    box extended upward to the forehead (0.25 of its height; 5 points use the face frame instead)."""
    lm = torch.as_tensor(landmarks, dtype=torch.float64)
    if lm.shape[-2] == 5:
        fr = face_frame(lm)
        pts = fr.to_image(torch.tensor([[-1.1, -1.0], [1.1, -1.0], [1.1, 1.9], [-1.1, 1.9]]))
    else:
        pts = lm
    x0, y0 = pts.min(0).values.tolist()
    x1, y1 = pts.max(0).values.tolist()
    if lm.shape[-2] == 68:
        y0 -= 0.25 * (y1 - y0)
    return x0, y0, x1, y1


def ellipse(center, radii, angle: float = 0.0, n: int = 48) -> torch.Tensor:
    """Polygon ``(n, 2)`` approximating an ellipse (pixels)."""
    t = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)[:-1]
    pts = torch.stack([radii[0] * torch.cos(t), radii[1] * torch.sin(t)], -1)
    return torch.as_tensor(center, dtype=torch.float64) + pts @ _rot(angle).T


def _rot(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def rectangle(center, size, angle: float = 0.0) -> torch.Tensor:
    """Polygon ``(4, 2)`` of a rotated rectangle."""
    w, h = size[0] / 2, size[1] / 2
    pts = torch.tensor([[-w, -h], [w, -h], [w, h], [-w, h]], dtype=torch.float64)
    return torch.as_tensor(center, dtype=torch.float64) + pts @ _rot(angle).T


def thick_polyline(points: torch.Tensor, width: float) -> list[torch.Tensor]:
    """Quads ``(4, 2)`` (one per segment) and round joints ``(K, 2)`` covering a polyline ``(N, 2)`` of the
    given width, all in pixels."""
    pts = torch.as_tensor(points, dtype=torch.float64)
    polys = []
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        t = b - a
        n = torch.stack([-t[1], t[0]]) / (t.norm() + 1e-12) * width / 2
        polys.append(torch.stack([a + n, b + n, b - n, a - n]))
    polys += [ellipse(p, (width / 2, width / 2), n=12) for p in pts]
    return polys


def coverage(polygons: list[torch.Tensor], height: int, width: int,
             holes: list[torch.Tensor] = (), samples: int = SUPERSAMPLING) -> torch.Tensor:
    """Fraction of each pixel covered by the union of ``polygons`` minus the union of ``holes``.

    Scanline fill on a ``samples × samples`` subpixel grid (crossing-number rule per polygon);
    returns ``(H, W)`` float64 in multiples of ``1/samples²``.
    """
    ys = (torch.arange(height * samples, dtype=torch.float64) + 0.5) / samples
    xs = (torch.arange(width * samples, dtype=torch.float64) + 0.5) / samples

    def union(polys) -> torch.Tensor:
        inside = torch.zeros(len(ys), len(xs), dtype=torch.bool)
        for poly in polys:
            poly = torch.as_tensor(poly, dtype=torch.float64)
            x1, y1 = poly[:, 0], poly[:, 1]
            x2, y2 = poly.roll(-1, 0)[:, 0], poly.roll(-1, 0)[:, 1]
            cross = (y1[None] > ys[:, None]) != (y2[None] > ys[:, None])  # (R, M)
            with torch.no_grad():
                xint = x1 + (ys[:, None] - y1) * (x2 - x1) / torch.where(y2 == y1, 1.0, y2 - y1)
            xint = torch.where(cross, xint, torch.inf).sort(-1).values
            count = torch.searchsorted(xint.contiguous(), xs.expand(len(ys), -1).contiguous())
            inside |= count % 2 == 1
        return inside

    inside = union(polygons)
    if holes:
        inside &= ~union(holes)
    cov = inside.reshape(height, samples, width, samples).to(torch.float64).mean((1, 3))
    return cov


def composite(image: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]], kind: str,
              params: dict | None = None) -> Occlusion:
    """Alpha-composite ``(rgb (3, H, W), alpha (H, W))`` layers over ``image`` in order."""
    out = image.clone()
    total = torch.zeros(image.shape[-2:], dtype=image.dtype)
    for rgb, a in layers:
        a = a.to(image.dtype)
        out = out * (1 - a) + rgb.to(image.dtype).clamp(0, 1) * a
        total = 1 - (1 - total) * (1 - a)
    return Occlusion(image=out, alpha=total, kind=kind, params=params or {})


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _choice(g: torch.Generator, options):
    return options[int(torch.randint(len(options), (), generator=g))]


def random_colour(g: torch.Generator) -> tuple[float, float, float]:
    """A uniformly random RGB colour (ORN: occlusions "in any colour")."""
    return tuple(_u(g) for _ in range(3))


def _solid(colour, height: int, width: int) -> torch.Tensor:
    return torch.as_tensor(colour, dtype=torch.float64).reshape(3, 1, 1).expand(3, height, width)


def _shaded(colour, frame: FaceFrame, height: int, width: int, strength: float = 0.12) -> torch.Tensor:
    """A colour lit from the top-left of the face: a gentle gradient that makes overlays read as
    objects rather than flat stickers."""
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    uv = frame.to_face(torch.stack([xx, yy], -1))
    light = 1 + strength * torch.tanh(-(uv[..., 0] + uv[..., 1]) / 2)
    return _solid(colour, height, width) * light


def _strands(colour, frame: FaceFrame, height: int, width: int, g: torch.Generator,
             along: str = "v") -> torch.Tensor:
    """Hair/fabric texture: a colour modulated by fine random streaks along one face axis."""
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    uv = frame.to_face(torch.stack([xx, yy], -1))
    across = uv[..., 0] if along == "v" else uv[..., 1]
    streak = torch.zeros_like(across)
    for k in range(4):
        f = _u(g, 12, 40) * (k + 1)
        streak += torch.sin(f * across + _u(g, 0, 2 * math.pi)) / (k + 1)
    tone = 1 + 0.12 * streak / 2
    return _solid(colour, height, width) * tone


# --------------------------------------------------------------------------- ORN patterns

def _patches(image, landmarks, g, count: int, side: tuple[float, float], kind: str, colour=None):
    _, h, w = image.shape
    x0, y0, x1, y1 = face_box(landmarks)
    size = math.sqrt(max(x1 - x0, 1) * max(y1 - y0, 1))
    polys, boxes = [], []
    for _ in range(count):
        s = _u(g, *side) * size
        aspect = _u(g, 0.7, 1.4)
        cx, cy = _u(g, x0, x1), _u(g, y0, y1)
        boxes.append((cx, cy, s * math.sqrt(aspect), s / math.sqrt(aspect)))
        polys.append(rectangle((cx, cy), (s * math.sqrt(aspect), s / math.sqrt(aspect))))
    colours = [colour or random_colour(g) for _ in range(count)]
    layers = [(_solid(c, h, w), coverage([p], h, w)) for p, c in zip(polys, colours, strict=True)]
    return composite(image, layers, kind, {"boxes": boxes, "colours": colours})


def dsofi(image, landmarks, generator, colour=None) -> Occlusion:
    """ORN *Double Slightly Occluded Face Image* (Tiwari et al., ORN, WACV 2022, Sec. 4.1, Fig. 2a):
    two small square/rectangular patches on the face (side 18-28 % of the face size)."""
    return _patches(image, landmarks, generator, 2, (0.18, 0.28), "dsofi", colour)


def dhofi(image, landmarks, generator, colour=None) -> Occlusion:
    """ORN *Double Heavily Occluded Face Image* (Sec. 4.1, Fig. 2b): two large patches (side 35-50 %)."""
    return _patches(image, landmarks, generator, 2, (0.35, 0.50), "dhofi", colour)


def shofi(image, landmarks, generator, colour=None) -> Occlusion:
    """ORN *Single Heavily Occluded Face Image* (Sec. 4.1, Fig. 2c): one large patch (side 55-75 %)."""
    return _patches(image, landmarks, generator, 1, (0.55, 0.75), "shofi", colour)


def _star(center, outer: float, inner: float, points: int, angle: float) -> torch.Tensor:
    k = torch.arange(2 * points, dtype=torch.float64)
    r = torch.where(k % 2 == 0, outer, inner)
    t = angle + k * math.pi / points
    return torch.as_tensor(center, dtype=torch.float64) + torch.stack([r * torch.sin(t), -r * torch.cos(t)], -1)


def _crown(center, size: float, spikes: int, angle: float) -> torch.Tensor:
    w, h = size, 0.75 * size
    top = [(-w / 2 + i * w / spikes / 2, -h / 2 if i % 2 == 0 else -h / 2 + 0.45 * h) for i in range(2 * spikes + 1)]
    pts = torch.tensor([(-w / 2, h / 2)] + top + [(w / 2, h / 2)], dtype=torch.float64)
    return torch.as_tensor(center, dtype=torch.float64) + pts @ _rot(angle).T


def _random_shapes(image, landmarks, g, make, kind, colour):
    _, h, w = image.shape
    x0, y0, x1, y1 = face_box(landmarks)
    size = math.sqrt(max(x1 - x0, 1) * max(y1 - y0, 1))
    n = int(torch.randint(1, 5, (), generator=g))
    polys = [make((_u(g, x0, x1), _u(g, y0, y1)), _u(g, 0.15, 0.35) * size, g) for _ in range(n)]
    colours = [colour or random_colour(g) for _ in range(n)]
    layers = [(_solid(c, h, w), coverage([p], h, w)) for p, c in zip(polys, colours, strict=True)]
    return composite(image, layers, kind, {"count": n, "colours": colours})


def stars(image, landmarks, generator, colour=None) -> Occlusion:
    """ORN MOPI random pattern (Sec. 4.2.2, Tables 5, 7): 1-4 stars of 5-8 points, random size,
    rotation, position on the face and colour."""
    return _random_shapes(
        image, landmarks, generator,
        lambda c, s, g: _star(c, s, s * _u(g, 0.35, 0.6), int(torch.randint(5, 9, (), generator=g)),
                              _u(g, 0, 2 * math.pi)),
        "stars", colour)


def crowns(image, landmarks, generator, colour=None) -> Occlusion:
    """ORN MOPI random pattern (Sec. 4.2.2, Tables 5, 7): 1-4 crowns (3-6 spikes), random size,
    rotation, position and colour."""
    return _random_shapes(
        image, landmarks, generator,
        lambda c, s, g: _crown(c, 1.6 * s, int(torch.randint(3, 7, (), generator=g)), _u(g, -0.6, 0.6)),
        "crowns", colour)


def recoloured(fn: Callable, image, landmarks, seed: int, colours) -> list[Occlusion]:
    """The same occluder geometry (one ``seed``) in each of ``colours`` — the images of ORN's
    colour-invariance experiment (Fig. 3; measured by :mod:`facelib.evaluation.protocols.orn`)."""
    return [fn(image, landmarks, torch.Generator().manual_seed(seed), colour=tuple(c)) for c in colours]


# --------------------------------------------------------------------------- natural occluders

_HAIR = [(0.08, 0.06, 0.05), (0.22, 0.14, 0.08), (0.42, 0.28, 0.16), (0.72, 0.58, 0.35), (0.5, 0.22, 0.1),
         (0.55, 0.55, 0.55)]
_SKIN = [(0.96, 0.8, 0.69), (0.88, 0.67, 0.53), (0.76, 0.55, 0.4), (0.55, 0.37, 0.26), (0.36, 0.23, 0.16)]


def mask_textures() -> list[torch.Tensor]:
    """The four surgical-mask textures of the insightface package (``(3, h, w)`` in [0, 1])."""
    from PIL import Image

    from . import assets

    folder = assets.path("mask-textures")
    out = []
    for name in ("mask_black.jpg", "mask_blue.jpg", "mask_green.jpg", "mask_white.jpg"):
        arr = np.asarray(Image.open(folder / name).convert("RGB"), dtype=np.float64) / 255.0
        out.append(torch.from_numpy(arr).permute(2, 0, 1).contiguous())
    return out


def _texture_in_frame(texture: torch.Tensor, frame: FaceFrame, box: tuple[float, float, float, float],
                      height: int, width: int) -> torch.Tensor:
    """Map ``texture`` onto the face-frame rectangle ``box = (u0, v0, u1, v1)``, following roll."""
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    uv = frame.to_face(torch.stack([xx, yy], -1))
    u0, v0, u1, v1 = box
    grid = torch.stack([(uv[..., 0] - u0) / (u1 - u0) * 2 - 1, (uv[..., 1] - v0) / (v1 - v0) * 2 - 1], -1)
    grid = grid.clamp(-1, 1)[None].to(texture.dtype)
    return F.grid_sample(texture[None], grid, mode="bilinear", align_corners=False)[0].to(torch.float64)


def _placement(image, landmarks):
    """Image height, width, the face frame and the 68 landmarks (``None`` for 5 points)."""
    _, h, w = image.shape
    return h, w, face_frame(landmarks), _lm68(landmarks)


def _lm68(landmarks) -> torch.Tensor | None:
    lm = torch.as_tensor(landmarks, dtype=torch.float64)
    return lm if lm.shape[-2] == 68 else None


def surgical_mask(image, landmarks, generator, texture: int | torch.Tensor | None = None) -> Occlusion:
    """SynChOcc-style surgical mask (ROGUE, Tiwari et al. 2022, Sec. 4, Fig. 3b): from the nose
    bridge to below the chin, jaw to jaw, textured with one of insightface's four mask photos
    (``texture``: index 0-3 or a ``(3, h, w)`` tensor; random when ``None``), with ear loops."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    lm = _lm68(landmarks)
    top = _u(g, 0.35, 0.55)
    if lm is not None:
        jaw = fr.to_face(lm[1:16])
        jaw = jaw * torch.tensor([1.06, 1.0], dtype=torch.float64) + torch.tensor([0.0, 0.06])
        left, right = jaw[0].clone(), jaw[-1].clone()
        left[1], right[1] = min(left[1].item(), top + 0.15), min(right[1].item(), top + 0.15)
        outline = torch.cat([left[None], jaw, right[None],
                             torch.tensor([[0.45, top - 0.05], [0.0, top - 0.12], [-0.45, top - 0.05]])])
    else:
        t = torch.linspace(0, math.pi, 16, dtype=torch.float64)
        outline = torch.cat([torch.stack([-1.05 * torch.cos(t), top + 0.1 + 1.5 * torch.sin(t)], -1),
                             torch.tensor([[0.45, top - 0.05], [0.0, top - 0.12], [-0.45, top - 0.05]])])
    poly = fr.to_image(outline)
    if texture is None or isinstance(texture, int):
        textures = mask_textures()
        texture = textures[texture if isinstance(texture, int) else int(torch.randint(4, (), generator=g))]
    lo, hi = outline.min(0).values.tolist(), outline.max(0).values.tolist()
    rgb = _texture_in_frame(texture, fr, (lo[0], lo[1], hi[0], hi[1]), h, w)
    loop_colour = rgb.reshape(3, -1).mean(1).tolist()
    ears = [fr.to_image(torch.tensor([[s * 1.0, top + 0.1], [s * 1.25, top - 0.05], [s * 1.3, top - 0.3]]))
            for s in (-1, 1)]
    loops = sum((thick_polyline(e, max(0.025 * fr.d, 0.6)) for e in ears), [])
    layers = [(_solid(loop_colour, h, w), coverage(loops, h, w)), (rgb, coverage([poly], h, w))]
    return composite(image, layers, "surgical_mask", {"top": top})


def _glasses(image, landmarks, g, kind: str):
    _, h, w = image.shape
    fr = face_frame(landmarks)
    p5 = five_points(torch.as_tensor(landmarks, dtype=torch.float64))
    rx, ry = _u(g, 0.36, 0.46) * fr.d, _u(g, 0.24, 0.32) * fr.d
    frame_w = _u(g, 0.04, 0.08) * fr.d
    centres = [p5[0] + 0.03 * fr.d * fr.ey, p5[1] + 0.03 * fr.d * fr.ey]
    lenses = [ellipse(c, (rx, ry), fr.angle) for c in centres]
    inner = [ellipse(c, (rx - frame_w, ry - frame_w), fr.angle) for c in centres]
    bridge = thick_polyline(fr.to_image(torch.tensor([[-0.5 + rx / fr.d - 0.1, -0.08], [0.0, -0.14],
                                                      [0.5 - rx / fr.d + 0.1, -0.08]])), frame_w)
    temples = sum((thick_polyline(fr.to_image(torch.tensor([[s * (0.5 + rx / fr.d - 0.02), -0.05],
                                                             [s * 1.15, -0.1]])), frame_w) for s in (-1, 1)), [])
    frame_colour = _choice(g, [(0.03, 0.03, 0.03), (0.25, 0.13, 0.06), (0.6, 0.6, 0.62), (0.45, 0.05, 0.05)])
    rims = coverage(lenses + bridge + temples, h, w, holes=inner)
    layers = [(_shaded(frame_colour, fr, h, w), rims)]
    if kind == "sunglasses":
        tint = _choice(g, [(0.04, 0.04, 0.05), (0.12, 0.08, 0.04), (0.05, 0.1, 0.06), (0.1, 0.1, 0.16)])
        opacity = _u(g, 0.85, 0.95)
        layers.insert(0, (_shaded(tint, fr, h, w, 0.3), opacity * coverage(inner, h, w)))
    return composite(image, layers, kind, {"frame_colour": frame_colour})


def sunglasses(image, landmarks, generator) -> Occlusion:
    """SynChOcc/ReaChOcc sunglasses (ROGUE Sec. 4): dark lenses (85-95 % opaque) in a frame with
    bridge and temples, centred on the eyes."""
    return _glasses(image, landmarks, generator, "sunglasses")


def spectacles(image, landmarks, generator) -> Occlusion:
    """SynChOcc spectacles (ROGUE Sec. 4, Fig. 3b): frames only; the clear lenses change nothing."""
    return _glasses(image, landmarks, generator, "spectacles")


def hat(image, landmarks, generator) -> Occlusion:
    """SynChOcc hat (ROGUE Sec. 4): a crown and a brim across the forehead, low enough to cover
    the brows on some draws."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    brim_v = _u(g, -0.6, -0.3)
    colour = random_colour(g)
    brim = fr.to_image(torch.tensor([[-1.7, brim_v - 0.12], [1.7, brim_v - 0.12], [1.55, brim_v + 0.1],
                                     [-1.55, brim_v + 0.1]]))
    t = torch.linspace(0, math.pi, 24, dtype=torch.float64)
    dome = torch.stack([-1.2 * torch.cos(t), brim_v - 0.1 - _u(g, 1.0, 1.6) * torch.sin(t)], -1)
    crown = fr.to_image(dome)
    band = fr.to_image(torch.tensor([[-1.2, brim_v - 0.35], [1.2, brim_v - 0.35], [1.2, brim_v - 0.1],
                                     [-1.2, brim_v - 0.1]]))
    band_colour = random_colour(g)
    layers = [(_shaded(colour, fr, h, w), coverage([crown, brim], h, w)),
              (_shaded(band_colour, fr, h, w), coverage([band], h, w))]
    return composite(image, layers, "hat", {"brim_v": brim_v, "colour": colour})


def bangs(image, landmarks, generator) -> Occlusion:
    """SynChOcc bangs (ROGUE Sec. 4): a fringe of hair from above the forehead with a jagged lower
    edge reaching the brows or the eyes."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    depth = _u(g, -0.3, 0.15)
    n = 14
    us = torch.linspace(-1.25, 1.25, n, dtype=torch.float64)
    tips = [(u.item(), depth + _u(g, -0.2, 0.15) - 0.25 * u.item() ** 2) for u in us]
    edge = []
    for (ua, va), (ub, vb) in zip(tips[:-1], tips[1:], strict=True):
        edge += [(ua, va), ((ua + ub) / 2, min(va, vb) - _u(g, 0.1, 0.25))]
    edge.append(tips[-1])
    outline = torch.tensor([(-1.35, -1.8), (1.35, -1.8)] + edge[::-1], dtype=torch.float64)
    colour = _choice(g, _HAIR)
    return composite(image, [(_strands(colour, fr, h, w, g), coverage([fr.to_image(outline)], h, w))],
                     "bangs", {"depth": depth, "colour": colour})


def turban(image, landmarks, generator) -> Occlusion:
    """SynChOcc turban (ROGUE Sec. 4): wrapped cloth over the top of the head down to the brows,
    with diagonal folds."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    low = _u(g, -0.45, -0.2)
    t = torch.linspace(0, math.pi, 32, dtype=torch.float64)
    top = torch.stack([-1.45 * torch.cos(t), low - 0.1 - _u(g, 1.3, 1.8) * torch.sin(t)], -1)
    lower = torch.tensor([[1.3, low + 0.05], [0.0, low - 0.12], [-1.3, low + 0.05]], dtype=torch.float64)
    poly = fr.to_image(torch.cat([top, lower]))
    colour = random_colour(g)
    rgb = _strands(colour, fr, h, w, g, along="u")
    return composite(image, [(rgb, coverage([poly], h, w))], "turban", {"low": low, "colour": colour})


def eye_mask(image, landmarks, generator) -> Occlusion:
    """SynChOcc eye mask (ROGUE Sec. 4): a band over both eyes from temple to temple."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    v0, v1 = _u(g, -0.45, -0.3), _u(g, 0.2, 0.35)
    outline = torch.tensor([[-1.25, v0 + 0.05], [-0.4, v0], [0.0, v0 + 0.08], [0.4, v0], [1.25, v0 + 0.05],
                            [1.2, v1], [0.25, v1 + 0.02], [0.0, v1 - 0.06], [-0.25, v1 + 0.02], [-1.2, v1]],
                           dtype=torch.float64)
    colour = random_colour(g)
    strap = sum((thick_polyline(fr.to_image(torch.tensor([[s * 1.2, (v0 + v1) / 2], [s * 1.45, (v0 + v1) / 2 - 0.1]])),
                                0.15 * fr.d) for s in (-1, 1)), [])
    layers = [(_shaded(colour, fr, h, w, 0.25), coverage([fr.to_image(outline)] + strap, h, w))]
    return composite(image, layers, "eye_mask", {"colour": colour})


def mustache(image, landmarks, generator) -> Occlusion:
    """SynChOcc mustache (ROGUE Sec. 4): hair between nose and upper lip, drooping at the ends."""
    g = generator
    h, w, fr, lm = _placement(image, landmarks)
    if lm is not None:
        nose_v = fr.to_face(lm[33])[1].item()
        lip_v = fr.to_face(lm[51])[1].item()
        half = 0.5 * abs((fr.to_face(lm[54]) - fr.to_face(lm[48]))[0].item())
        cu = fr.to_face(lm[33])[0].item()
    else:
        nose_v, lip_v, half, cu = 0.75, 1.0, 0.4, 0.0
    droop = _u(g, 0.05, 0.35)
    width = half + _u(g, 0.05, 0.2)
    outline = torch.tensor([[cu, nose_v - 0.02], [cu + 0.6 * width, nose_v + 0.02], [cu + width, lip_v + droop],
                            [cu + width - 0.08, lip_v + droop + 0.04], [cu + 0.5 * width, lip_v + 0.02],
                            [cu, lip_v - 0.02], [cu - 0.5 * width, lip_v + 0.02],
                            [cu - width + 0.08, lip_v + droop + 0.04], [cu - width, lip_v + droop],
                            [cu - 0.6 * width, nose_v + 0.02]], dtype=torch.float64)
    colour = _choice(g, _HAIR)
    return composite(image, [(_strands(colour, fr, h, w, g), coverage([fr.to_image(outline)], h, w))],
                     "mustache", {"colour": colour, "droop": droop})


def beard(image, landmarks, generator) -> Occlusion:
    """SynChOcc/ReaChOcc beard (ROGUE Sec. 4): hair along the jaw and chin, below the lower lip."""
    g = generator
    h, w, fr, lm = _placement(image, landmarks)
    if lm is not None:
        jaw = fr.to_face(lm[2:15]) * torch.tensor([1.03, 1.0], dtype=torch.float64) + torch.tensor([0.0, 0.05])
        lip = fr.to_face(lm[[54, 55, 56, 57, 58, 59, 48]])
    else:
        t = torch.linspace(0.15 * math.pi, 0.85 * math.pi, 13, dtype=torch.float64)
        jaw = torch.stack([-1.0 * torch.cos(t), 0.4 + 1.5 * torch.sin(t)], -1)
        lip = torch.tensor([[0.4, 1.2], [0.0, 1.35], [-0.4, 1.2]], dtype=torch.float64)
    lip = lip + torch.tensor([0.0, _u(g, 0.03, 0.12)])
    cheek = _u(g, 0.0, 0.25)
    inner = torch.cat([lip[:1] + torch.tensor([0.1, -cheek]), lip, lip[-1:] + torch.tensor([-0.1, -cheek])])
    outline = torch.cat([jaw, inner])
    colour = _choice(g, _HAIR)
    return composite(image, [(_strands(colour, fr, h, w, g), coverage([fr.to_image(outline)], h, w))],
                     "beard", {"colour": colour})


def hand(image, landmarks, generator) -> Occlusion:
    """ReaChOcc-style hand (ROGUE Sec. 4): a palm and five fingers over a random part of the face,
    random skin tone, size and rotation."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    centre = fr.to_image(torch.tensor([_u(g, -0.9, 0.9), _u(g, 0.0, 1.9)]))
    angle = _u(g, -math.pi, math.pi)
    rot = _rot(angle)
    s = fr.d * _u(g, 0.8, 1.1)
    palm = ellipse(centre, (0.45 * s, 0.55 * s), angle)
    fingers = []
    for k, (du, length) in enumerate([(-0.33, 0.95), (-0.11, 1.05), (0.11, 1.0), (0.31, 0.8)]):
        base = torch.tensor([du * s, -0.45 * s], dtype=torch.float64)
        tip = base + torch.tensor([0.05 * (k - 1.5) * s, -length * _u(g, 0.85, 1.1) * s])
        fingers += thick_polyline(centre + torch.stack([base, tip]) @ rot.T, 0.21 * s)
    thumb = thick_polyline(centre + torch.tensor([[0.35 * s, 0.1 * s], [0.75 * s, -0.35 * s]],
                                                 dtype=torch.float64) @ rot.T, 0.24 * s)
    colour = _choice(g, _SKIN)
    layers = [(_shaded(colour, fr, h, w, 0.15), coverage([palm] + fingers + thumb, h, w))]
    return composite(image, layers, "hand", {"colour": colour, "angle": angle})


def food(image, landmarks, generator, item: str | None = None) -> Occlusion:
    """ReaChOcc-style food held to the mouth (ROGUE Sec. 4): a burger, a doughnut, an apple or an
    ice-cream cone (``item``; random when ``None``)."""
    g = generator
    _, h, w = image.shape
    fr = face_frame(landmarks)
    item = item or _choice(g, ["burger", "doughnut", "apple", "ice_cream"])
    c = fr.to_image(torch.tensor([_u(g, -0.4, 0.4), _u(g, 1.1, 1.6)]))
    s = fr.d * _u(g, 0.55, 0.8)
    a = fr.angle + _u(g, -0.4, 0.4)
    off = lambda du, dv: c + torch.tensor([du * s, dv * s], dtype=torch.float64) @ _rot(a).T  # noqa: E731
    if item == "burger":
        parts = [((0.85, 0.6, 0.3), [ellipse(off(0, -0.35), (1.0 * s, 0.45 * s), a)]),
                 ((0.25, 0.6, 0.15), [rectangle(off(0, -0.05), (2.1 * s, 0.22 * s), a)]),
                 ((0.35, 0.18, 0.08), [rectangle(off(0, 0.15), (2.0 * s, 0.3 * s), a)]),
                 ((0.9, 0.7, 0.35), [rectangle(off(0, 0.42), (1.9 * s, 0.28 * s), a)])]
        layers = [(_solid(col, h, w), coverage(p, h, w)) for col, p in parts]
    elif item == "doughnut":
        ring = coverage([ellipse(c, (s, s))], h, w, holes=[ellipse(c, (0.38 * s, 0.38 * s))])
        icing = coverage([ellipse(c, (0.85 * s, 0.85 * s))], h, w, holes=[ellipse(c, (0.45 * s, 0.45 * s))])
        layers = [(_solid((0.78, 0.52, 0.25), h, w), ring), (_solid(random_colour(g), h, w), icing)]
    elif item == "apple":
        body = [ellipse(off(-0.25, 0), (0.6 * s, 0.75 * s), a), ellipse(off(0.25, 0), (0.6 * s, 0.75 * s), a)]
        stem = thick_polyline(torch.stack([off(0, -0.6), off(0.1, -1.0)]), 0.1 * s)
        layers = [(_shaded(_choice(g, [(0.75, 0.08, 0.06), (0.45, 0.75, 0.2)]), fr, h, w, 0.25), coverage(body, h, w)),
                  (_solid((0.3, 0.2, 0.08), h, w), coverage(stem, h, w))]
    elif item == "ice_cream":
        cone = torch.stack([off(-0.45, 0.0), off(0.45, 0.0), off(0.0, 1.4)])
        layers = [(_solid((0.85, 0.62, 0.3), h, w), coverage([cone], h, w)),
                  (_solid(random_colour(g), h, w), coverage([ellipse(off(0, -0.2), (0.55 * s, 0.5 * s), a)], h, w))]
    else:
        raise FacelibError(f"unknown food item {item!r}; choose burger, doughnut, apple or ice_cream")
    return composite(image, layers, "food", {"item": item})


# --------------------------------------------------------------------------- FOCUS baselines

def cutout(image, landmarks, generator, fill: float = 0.0) -> Occlusion:
    """Cutout (DeVries & Taylor 2017; FOCUS baseline "Backbone-cutout", Li et al. 2023, Sec. 4.2):
    a square of side 30-60 % of the face size, centred anywhere in the face box, set to ``fill``."""
    g = generator
    _, h, w = image.shape
    x0, y0, x1, y1 = face_box(landmarks)
    side = _u(g, 0.3, 0.6) * math.sqrt(max(x1 - x0, 1) * max(y1 - y0, 1))
    cx, cy = _u(g, x0, x1), _u(g, y0, y1)
    a = coverage([rectangle((cx, cy), (side, side))], h, w)
    return composite(image, [(_solid((fill,) * 3, h, w), a)], "cutout", {"box": (cx, cy, side)})


def cutmix(image, landmarks, generator, other: torch.Tensor | None = None) -> Occlusion:
    """CutMix (Yun et al. 2019; FOCUS baseline "Backbone-cutmix", Sec. 4.2): a box of area ratio
    ``1 − λ``, ``λ ~ U(0, 1)``, pasted from ``other`` (another training image of the same size) at
    the same place; the box centre is drawn in the face box so the face is what gets covered.
    ``image`` and ``other`` ``(3, H, W)``, ``landmarks`` ``(68, 2)``."""
    if other is None:
        raise FacelibError("cutmix needs `other=`: a second image of the same size to paste from")
    g = generator
    _, h, w = image.shape
    lam = _u(g)
    bw, bh = w * math.sqrt(1 - lam), h * math.sqrt(1 - lam)
    x0, y0, x1, y1 = face_box(landmarks)
    cx, cy = _u(g, x0, x1), _u(g, y0, y1)
    a = coverage([rectangle((cx, cy), (bw, bh))], h, w, samples=1)  # whole pixels, as CutMix
    return composite(image, [(other, a)], "cutmix", {"lambda": lam, "box": (cx, cy, bw, bh)})


OCCLUDERS: dict[str, Callable[..., Occlusion]] = {
    "dsofi": dsofi, "dhofi": dhofi, "shofi": shofi, "stars": stars, "crowns": crowns,
    "surgical_mask": surgical_mask, "sunglasses": sunglasses, "spectacles": spectacles, "hat": hat,
    "bangs": bangs, "turban": turban, "eye_mask": eye_mask, "mustache": mustache, "beard": beard,
    "hand": hand, "food": food, "cutout": cutout, "cutmix": cutmix,
}
ORN = ("dsofi", "dhofi", "shofi", "stars", "crowns")
NATURAL = ("surgical_mask", "sunglasses", "spectacles", "hat", "bangs", "turban", "eye_mask",
           "mustache", "beard", "hand", "food")


def occlude(kind: str, image, landmarks, generator, **options) -> Occlusion:
    """Apply the occluder named ``kind`` (one of :data:`OCCLUDERS`)."""
    if kind not in OCCLUDERS:
        raise FacelibError(f"unknown occluder {kind!r}; known: {', '.join(OCCLUDERS)}")
    return OCCLUDERS[kind](image, landmarks, generator, **options)



@dataclass
class OccludedBatch:
    """A batch occluded sample by sample (:func:`occlude_batch`).

    Attributes:
        images: ``(B, 3, H, W)`` on the input's device and dtype.
        alpha: ``(B, 1, H, W)`` occluder coverage (0 where a sample stayed clean).
        kinds: the occluder of each sample (``"clean"`` where none).
    """

    images: torch.Tensor
    alpha: torch.Tensor
    kinds: list[str]


def occlude_batch(images: torch.Tensor, landmarks: torch.Tensor, kinds, seeds, p_clean: float = 0.0,
                  colour=None) -> OccludedBatch:
    """Occlude each image of a batch with one occluder drawn from ``kinds`` (ORN's on-line training
    occlusions, Sec. 3.1 and 3.2; the fixed test conditions of its Tables 1-7).

    Sample ``i`` draws everything — whether it stays clean (probability ``p_clean``), the kind, the
    geometry and the colour — from a generator seeded by ``seeds[i]``: the same seeds give the same
    batch, whatever else happens to the global RNG.

    Args:
        images: ``(B, 3, H, W)`` in [0, 1]; landmarks: ``(B, 68, 2)`` pixels.
        kinds: occluder names (:data:`OCCLUDERS`).
        seeds: ``B`` integers.
        p_clean: probability that a sample is left unoccluded.
        colour: an RGB triple for every patch (ORN patterns only; default: random colours).
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in OCCLUDERS]
    if unknown or not kinds:
        raise FacelibError(f"unknown occluders {unknown}; known: {', '.join(OCCLUDERS)}" if unknown
                           else "occlude_batch needs at least one occluder kind")
    seeds = [int(s) for s in (seeds.tolist() if isinstance(seeds, torch.Tensor) else seeds)]
    if len(seeds) != len(images):
        raise FacelibError(f"{len(images)} images but {len(seeds)} seeds")
    src = images.detach().to("cpu", torch.float64)
    lms = torch.as_tensor(landmarks).detach().to("cpu", torch.float64)
    out, alpha, chosen = src.clone(), torch.zeros(len(src), 1, *src.shape[-2:], dtype=torch.float64), []
    options = {} if colour is None else {"colour": tuple(colour)}
    for i, seed in enumerate(seeds):
        g = torch.Generator().manual_seed(seed)
        if p_clean > 0 and _u(g) < p_clean:
            chosen.append("clean")
            continue
        kind = _choice(g, kinds)
        occ = occlude(kind, src[i], lms[i], g, **(options if kind in ORN else {}))
        out[i], alpha[i, 0] = occ.image, occ.alpha
        chosen.append(kind)
    return OccludedBatch(out.to(images.device, images.dtype), alpha.to(images.device, images.dtype), chosen)
