"""Checks a reader can run on the renderer: finite-difference gradient checks."""

from __future__ import annotations

import torch

from . import camera, lighting
from .morphable import MorphableModel
from .render import Renderer

QUANTITIES = ("vertices", "albedo", "sh")


def render_gradient_check(model: MorphableModel, image_size: int, what: str, n_directions: int = 3,
                          eps: float = 1e-7, seed: int = 0) -> list[dict]:
    """Compare autograd with central finite differences of a rendered image (float64).

    The scalar is ``Σ w ⊙ image`` for fixed random weights ``w``; derivatives are taken along
    ``n_directions`` random directions in the space of ``what`` (``vertices``, ``albedo`` or
    ``sh``), with the model's mean shape posed slightly off-frontal.

    Returns:
        one dict per direction: ``analytic``, ``numeric``, ``relative_error``.
    """
    if what not in QUANTITIES:
        raise ValueError(f"what must be one of {QUANTITIES}")
    model = model.double()
    renderer = Renderer(model, image_size, background=0.1).double()
    g = torch.Generator().manual_seed(seed)
    f64 = dict(dtype=torch.float64)
    weights = torch.rand(1, 3, image_size, image_size, generator=g, **f64)
    base = {"vertices": model.neutral[None].clone(), "albedo": model.tex_mean[None].clone(),
            "sh": 0.3 * torch.randn(1, 27, generator=g, **f64)}
    pose = torch.tensor([[0.15, -0.25, 0.05]], **f64)

    def scalar(x):
        p = {**base, what: x}
        normals = camera.rotate_directions(model.vertex_normals(p["vertices"]), pose)
        colors = lighting.shade(p["albedo"], normals, p["sh"])
        posed = camera.rigid_transform(p["vertices"], pose, torch.zeros(1, 3, **f64))
        return (renderer.render_mesh(posed, colors).image * weights).sum()

    rows = []
    try:
        for k in range(n_directions):
            d = torch.randn(base[what].shape, generator=g, **f64)
            x = base[what].detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(scalar(x), x)
            analytic = (grad * d).sum().item()
            with torch.no_grad():
                numeric = ((scalar(x + eps * d) - scalar(x - eps * d)) / (2 * eps)).item()
            rows.append({"quantity": what, "direction": k, "analytic": analytic, "numeric": numeric,
                         "relative_error": abs(analytic - numeric) / max(abs(numeric), 1e-12)})
    finally:
        model.float()
    return rows
