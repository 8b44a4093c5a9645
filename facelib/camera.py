"""Rigid pose and perspective projection with the Deep3D camera.

Conventions (shared by every module):

* **World / model space**: decimetres, face centred near the origin, looking along **+z**, y up.
* **Camera**: at ``(0, 0, CAMERA_DISTANCE)`` looking along −z (Deep3D ``ParametricFaceModel``):
  depth of a point is ``CAMERA_DISTANCE − z``.
* **Image space**: pixels, x to the right, **y down**, origin at the top-left *corner* of the image,
  so the centre of pixel ``(i, j)`` (row i, column j) is ``(j + 0.5, i + 0.5)``. Deep3D computes y up
  and flips at the end; we flip in the projection so landmarks are directly in image coordinates.
* Focal length ``1015`` and principal point ``112`` at 224 px, scaled with the image size.
"""

from __future__ import annotations

import torch

CAMERA_DISTANCE = 10.0
FOCAL_224 = 1015.0
REFERENCE_SIZE = 224


def focal_length(image_size: int) -> float:
    """Deep3D's focal length (1015 px at 224 px) scaled to ``image_size``."""
    return FOCAL_224 * image_size / REFERENCE_SIZE


def euler_rotation(angles: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``R = Rz · Ry · Rx`` from Euler angles (Deep3D ``compute_rotation``).

    Args:
        angles: ``(B, 3)`` radians (pitch about x, yaw about y, roll about z).
    Returns:
        ``(B, 3, 3)``; a point ``p`` (column vector) maps to ``R p``.
    """
    x, y, z = angles.unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], -1)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1)
    rz = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], -1)
    shape = (*angles.shape[:-1], 3, 3)
    return rz.reshape(shape) @ ry.reshape(shape) @ rx.reshape(shape)


def rigid_transform(points: torch.Tensor, angles: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """Rotate then translate: ``(B, N, 3)`` points → ``R p + t`` (Deep3D ``transform``)."""
    rot = euler_rotation(angles)
    return points @ rot.transpose(-1, -2) + trans[..., None, :]


def rotate_directions(dirs: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate direction vectors (normals): ``(B, N, 3)`` → ``R n``."""
    return dirs @ euler_rotation(angles).transpose(-1, -2)


def project(points: torch.Tensor, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Perspective projection of posed points to image coordinates.

    Args:
        points: ``(B, N, 3)`` in world space (after :func:`rigid_transform`).
        image_size: side of the square image in pixels.
    Returns:
        ``xy`` ``(B, N, 2)`` in pixels (x right, y down, corner origin) and ``depth`` ``(B, N)``,
        the distance along the optical axis (positive in front of the camera).
    """
    f = focal_length(image_size)
    c = image_size / 2.0
    depth = CAMERA_DISTANCE - points[..., 2]
    x = f * points[..., 0] / depth + c
    y = c - f * points[..., 1] / depth
    return torch.stack([x, y], dim=-1), depth
