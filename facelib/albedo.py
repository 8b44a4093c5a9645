"""A procedural, low-rank albedo prior for face models that have none (ICT-FaceKit).

This is a *prior*, not data: no skin was measured to build it. Per vertex, a mean reflectance is
composed from a skin tone and soft region maps (lips, brows, eye surroundings, beard area, cheeks,
nose) derived from the 68 landmark vertices of the neutral mesh; a handful of basis directions
(melanin, haemoglobin, carotene, brightness, lip colour, brow and stubble darkness, eye-region
shadowing, cheek flush, forehead–chin gradient) span the variation. Coefficients are unit-variance
Gaussian, like a PCA model's, so the prior plugs into the same regulariser as BFM's texture basis.

Region maps are computed on the neutral mesh in its frontal (x, y) projection — the same as
painting them in a frontal UV layout and sampling at the vertices, which is what a per-vertex
renderer needs (see DESIGN-NOTES).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Linear-space reflectances in [0, 1] (red, green, blue).
SKIN = np.array([0.78, 0.57, 0.47])
LIPS = np.array([0.66, 0.36, 0.35])
BROWS = np.array([0.36, 0.27, 0.22])
EYE_SURROUND = np.array([0.66, 0.47, 0.40])


@dataclass
class AlbedoPrior:
    """Mean ``(V, 3)``, basis ``(K, V, 3)`` (1 σ per direction), names ``(K,)`` and region maps."""

    mean: np.ndarray
    basis: np.ndarray
    names: list[str]
    regions: dict[str, np.ndarray]


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points ``p`` (N, 2) to segment ``ab``."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _polyline_distance(p: np.ndarray, pts: np.ndarray, closed: bool) -> np.ndarray:
    segs = list(zip(pts[:-1], pts[1:], strict=True)) + ([(pts[-1], pts[0])] if closed else [])
    return np.min([_segment_distance(p, a, b) for a, b in segs], axis=0)


def _inside_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even–odd rule point-in-polygon test for points ``(N, 2)``."""
    inside = np.zeros(len(p), dtype=bool)
    x, y = p[:, 0], p[:, 1]
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def _soft_polygon(p: np.ndarray, poly: np.ndarray, falloff: float) -> np.ndarray:
    """1 inside ``poly``, Gaussian falloff (scale ``falloff``) with distance outside."""
    d = _polyline_distance(p, poly, closed=True)
    return np.where(_inside_polygon(p, poly), 1.0, np.exp(-((d / falloff) ** 2)))


def _soft_band(p: np.ndarray, line: np.ndarray, width: float) -> np.ndarray:
    """Soft band of half-width ``width`` around a polyline."""
    return np.exp(-((_polyline_distance(p, line, closed=False) / width) ** 2))


def region_maps(vertices: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Soft masks in [0, 1] per vertex, from the frontal projection of the neutral mesh.

    Args:
        vertices: ``(V, 3)`` neutral vertices, decimetres, face looking along +z.
        landmarks: ``(68,)`` vertex indices (Multi-PIE order).
    """
    xy = vertices[:, :2]
    lm = vertices[landmarks, :2]
    scale = np.linalg.norm(lm[45] - lm[36])  # outer eye corners: ~0.9 dm
    front = vertices[:, 2] > vertices[landmarks[:17], 2].min() - 0.2 * scale
    lips = _soft_polygon(xy, lm[48:60], 0.04 * scale)
    brows = np.maximum(_soft_band(xy, lm[17:22], 0.07 * scale), _soft_band(xy, lm[22:27], 0.07 * scale))
    eyes = np.maximum(_soft_polygon(xy, lm[36:42], 0.12 * scale), _soft_polygon(xy, lm[42:48], 0.12 * scale))
    nose = _soft_polygon(xy, lm[[31, 27, 35, 33]], 0.10 * scale)
    cheek_l = np.exp(-np.sum((xy - (lm[2] + lm[31]) / 2) ** 2, 1) / (0.25 * scale) ** 2)
    cheek_r = np.exp(-np.sum((xy - (lm[14] + lm[35]) / 2) ** 2, 1) / (0.25 * scale) ** 2)
    jaw = np.concatenate([lm[3:14], [lm[35] + (lm[14] - lm[35]) * 0.1, lm[33], lm[31] + (lm[2] - lm[31]) * 0.1]])
    beard = _soft_polygon(xy, jaw, 0.08 * scale) * (1 - lips)
    top, bottom = lm[19:25, 1].max() + 0.3 * scale, lm[8, 1]
    height = np.clip((xy[:, 1] - bottom) / (top - bottom), 0.0, 1.0)
    maps = {
        "lips": lips, "brows": brows * (1 - eyes), "eyes": eyes, "nose": nose,
        "cheeks": np.maximum(cheek_l, cheek_r), "beard": beard, "height": height,
    }
    return {k: (v * front).astype(np.float32) for k, v in maps.items()}


def procedural_albedo(vertices: np.ndarray, landmarks: np.ndarray) -> AlbedoPrior:
    """Build the prior for a mesh: mean reflectance and 10 unit-variance basis directions.

    Args:
        vertices: ``(V, 3)`` neutral vertices (decimetres, +z forward).
        landmarks: ``(68,)`` landmark vertex indices.
    Returns:
        :class:`AlbedoPrior` with ``mean (V, 3)`` and ``basis (10, V, 3)`` float32.
    """
    r = region_maps(vertices, landmarks)
    one = np.ones(len(vertices), dtype=np.float32)
    skin = one * (1 - r["lips"]) * (1 - r["brows"])
    mean = (
        SKIN[None] * one[:, None]
        + (LIPS - SKIN)[None] * r["lips"][:, None]
        + (BROWS - SKIN)[None] * r["brows"][:, None]
        + (EYE_SURROUND - SKIN)[None] * (r["eyes"] * 0.6)[:, None]
    )
    directions = [  # (name, spatial map, RGB change per standard deviation)
        ("melanin", one, (-0.12, -0.10, -0.085)),
        ("haemoglobin", 0.6 + 0.4 * np.maximum(r["cheeks"], r["nose"]), (0.025, -0.03, -0.02)),
        ("carotene", skin, (0.015, 0.01, -0.035)),
        ("brightness", one, (0.05, 0.05, 0.05)),
        ("lip_colour", r["lips"], (0.06, -0.04, -0.01)),
        ("brow_darkness", r["brows"], (-0.12, -0.10, -0.08)),
        ("stubble", r["beard"], (-0.10, -0.085, -0.07)),
        ("eye_shadow", r["eyes"] * (1 - r["brows"]), (-0.05, -0.05, -0.03)),
        ("cheek_flush", r["cheeks"], (0.04, -0.02, -0.015)),
        ("vertical_gradient", r["height"] - 0.5, (0.04, 0.035, 0.03)),
    ]
    basis = np.stack([m[:, None] * np.asarray(c)[None] for _, m, c in directions]).astype(np.float32)
    return AlbedoPrior(mean.astype(np.float32), basis, [n for n, _, _ in directions], r)
