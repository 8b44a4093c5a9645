"""Render a morphable model's coefficients to images (Deep3D's analysis-by-synthesis renderer).

``Renderer(model, image_size, backend=...)`` turns a coefficient vector into an image, a face
mask, a depth map and projected 68 landmarks. Both backends share everything except the choice of
visible triangle per pixel:

* ``"torch"`` — :mod:`facelib.rasterize`, pure torch, CPU and CUDA, always available;
* ``"pytorch3d"`` — ``pytorch3d.renderer.mesh.rasterize_meshes`` (when it imports; Colab readers
  can install it), then the same differentiable barycentrics and shading.

Colours are computed per vertex (albedo × SH irradiance, :mod:`facelib.lighting`) and interpolated,
as in Deep3D.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import camera, lighting
from .errors import FacelibError
from .morphable import MorphableModel
from .rasterize import Fragments, barycentrics, interpolate, rasterize

BACKENDS = ("torch", "pytorch3d")


@dataclass
class RenderOutput:
    """Everything a loss or a figure needs from one rendering.

    Attributes:
        image: ``(B, 3, H, W)`` linear RGB (face over ``background``).
        mask: ``(B, 1, H, W)`` float {0, 1}: pixel covered by the face mesh.
        depth: ``(B, 1, H, W)`` distance along the optical axis (0 where not covered).
        landmarks: ``(B, 68, 2)`` projected landmark vertices in pixels (x right, y down).
        vertices: ``(B, V, 3)`` posed vertices (world space, decimetres).
        colors: ``(B, V, 3)`` shaded per-vertex colours.
        face_id: ``(B, H, W)`` visible triangle per pixel, −1 for background.
    """

    image: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    landmarks: torch.Tensor
    vertices: torch.Tensor
    colors: torch.Tensor
    face_id: torch.Tensor


def pytorch3d_available() -> bool:
    """True when ``pytorch3d``'s rasterizer imports."""
    try:
        from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes  # noqa: F401
    except Exception:  # ImportError, or a binary built against another torch
        return False
    return True


def _rasterize_pytorch3d(xy, depth, triangles, height, width, cull_backfaces=True) -> Fragments:
    """pytorch3d's rasterizer on our screen-space vertices (NDC: +x left, +y up, z = depth)."""
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    if height != width:
        raise FacelibError("the pytorch3d backend renders square images only")
    s = float(width)
    ndc = torch.stack([1.0 - 2.0 * xy[..., 0] / s, 1.0 - 2.0 * xy[..., 1] / s, depth], -1).detach()
    b = ndc.shape[0]
    meshes = Meshes(verts=list(ndc.float()), faces=[triangles] * b)
    with torch.no_grad():
        pix_to_face, _, _, _ = rasterize_meshes(
            meshes, image_size=height, blur_radius=0.0, faces_per_pixel=1,
            cull_backfaces=cull_backfaces, perspective_correct=False,
        )
    face_id = pix_to_face[..., 0]
    offsets = (torch.arange(b, device=face_id.device) * triangles.shape[0])[:, None, None]
    return Fragments(face_id=torch.where(face_id >= 0, face_id - offsets, -1))


def _full_precision(like: torch.Tensor):
    """A block in which autocast is off on ``like``'s device (float32 stays float32)."""
    return torch.autocast(like.device.type, enabled=False)


def _widened(x):
    """A half-precision tensor (bf16, fp16) as float32; anything else (float32, float64 for gradient
    checks, ``None``, a number) as it is."""
    if isinstance(x, torch.Tensor) and x.dtype in (torch.bfloat16, torch.float16):
        return x.float()
    return x


class Renderer(nn.Module):
    """Coefficients → image, mask, depth and landmarks.

    Args:
        model: the :class:`~facelib.morphable.MorphableModel` (moved with ``.to(device)``).
        image_size: side of the square output in pixels.
        backend: ``"torch"``, ``"pytorch3d"`` or ``"auto"`` (pytorch3d when it imports).
        background: colour of uncovered pixels, scalar or RGB in [0, 1].
        cull_backfaces: drop triangles facing away from the camera.
    """

    def __init__(self, model: MorphableModel, image_size: int, backend: str = "torch",
                 background=0.0, cull_backfaces: bool = True):
        super().__init__()
        if backend == "auto":
            backend = "pytorch3d" if pytorch3d_available() else "torch"
        if backend not in BACKENDS:
            raise FacelibError(f"unknown render backend {backend!r}; choose one of {BACKENDS} or 'auto'")
        if backend == "pytorch3d" and not pytorch3d_available():
            raise FacelibError(
                "backend 'pytorch3d' requested but pytorch3d does not import here; install it "
                "(see the book's 'Running this book' note) or use backend='torch'"
            )
        self.model = model
        self.image_size = int(image_size)
        self.backend = backend
        self.cull_backfaces = cull_backfaces
        self.register_buffer("background", torch.as_tensor(background, dtype=torch.float32).reshape(-1))

    def forward(self, coeffs: torch.Tensor, background: torch.Tensor | None = None,
                albedo: torch.Tensor | None = None, lit: bool = True) -> RenderOutput:
        """Render ``(B, layout.total)`` coefficients; ``background`` may be ``(B, 3, H, W)`` images.

        ``albedo`` ``(B, V, 3)`` replaces the model's albedo (e.g. a fabric attached to the face);
        ``lit=False`` shows the albedo itself, unshaded (what texture a method estimated).

        Never in half precision, also inside a mixed-precision block (:func:`facelib.train.optimisation_step`):
        the mesh, the projection, visibility and the barycentrics decide which pixel shows what.
        """
        with _full_precision(coeffs):
            return self._forward(_widened(coeffs), _widened(background), _widened(albedo), lit)

    def _forward(self, coeffs, background, albedo, lit) -> RenderOutput:
        c = self.model.layout.split(coeffs)
        verts = self.model.shape(c["id"], c["exp"])
        if albedo is None:
            albedo = self.model.albedo(c["tex"])
        if lit:
            normals = camera.rotate_directions(self.model.vertex_normals(verts), c["angle"])
            colors = lighting.shade(albedo, normals, c["gamma"])
        else:
            colors = albedo
        posed = camera.rigid_transform(verts, c["angle"], c["trans"])
        return self.render_mesh(posed, colors, background)

    def landmarks(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Projected 68 landmarks ``(B, 68, 2)`` in pixels, without rasterizing (cheap; the same
        points as ``forward(coeffs).landmarks``); float32, as :meth:`forward`."""
        with _full_precision(coeffs):
            return self._landmarks(_widened(coeffs))

    def _landmarks(self, coeffs: torch.Tensor) -> torch.Tensor:
        c = self.model.layout.split(coeffs)
        offset = c["id"] @ self.model.id_basis.T + c["exp"] @ self.model.exp_basis.T
        rows = (3 * self.model.landmarks[:, None] + torch.arange(3, device=offset.device)).reshape(-1)
        lm = self.model.neutral[self.model.landmarks] + offset[:, rows].reshape(offset.shape[0], -1, 3)
        xy, _ = camera.project(camera.rigid_transform(lm, c["angle"], c["trans"]), self.image_size)
        return xy

    def render_mesh(self, posed: torch.Tensor, colors: torch.Tensor,
                    background: torch.Tensor | None = None) -> RenderOutput:
        """Render posed vertices ``(B, V, 3)`` with per-vertex colours ``(B, V, C)``."""
        s = self.image_size
        xy, depth = camera.project(posed, s)
        tri = self.model.triangles
        raster = _rasterize_pytorch3d if self.backend == "pytorch3d" else rasterize
        frags = raster(xy, depth, tri, s, s, cull_backfaces=self.cull_backfaces)
        pixel, vid, weights = barycentrics(xy, depth, tri, frags)
        shape = frags.face_id.shape
        bg = self.background.to(colors.dtype) if background is None else background
        if not isinstance(bg, torch.Tensor) or bg.dim() != 4:
            bg = torch.as_tensor(bg, dtype=colors.dtype, device=colors.device).expand(colors.shape[-1])
        image = interpolate(colors, pixel, vid, weights, shape, bg)
        depth_map = interpolate(depth[..., None], pixel, vid, weights, shape, 0.0)
        mask = frags.mask[:, None].to(colors.dtype)
        return RenderOutput(image=image, mask=mask, depth=depth_map, landmarks=xy[:, self.model.landmarks],
                            vertices=posed, colors=colors, face_id=frags.face_id)
