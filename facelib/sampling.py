"""Random coefficient vectors from the model's prior and plausible scene ranges.

Used to generate synthetic faces (chapter 1, the benchmark generator) and random starts for
fitting. Every draw takes an explicit ``torch.Generator`` so results are reproducible.
"""

from __future__ import annotations

import math

import torch

from .lighting import N_SH
from .morphable import MorphableModel


def random_coefficients(model: MorphableModel, n: int, generator: torch.Generator,
                        identity_scale: float = 1.0, expression_scale: float = 1.0,
                        texture_scale: float = 1.0, pose_degrees: tuple[float, float, float] = (15, 35, 10),
                        light_scale: float = 1.0, translation_scale: float = 1.0) -> torch.Tensor:
    """Draw ``(n, layout.total)`` coefficients (CPU, float32).

    * identity, texture: ``N(0, scale²)`` (unit-variance priors of ICT and BFM);
    * expression: ICT blendshape weights — each active with probability 0.15, weight ``U(0, 0.8)``;
      BFM — ``N(0, (0.5·scale)²)``;
    * pose: uniform Euler angles within ± ``pose_degrees`` (pitch, yaw, roll);
    * light: a white-ish ambient term plus a random directional (band-1) and small band-2 part,
      correlated across R, G, B so that lights look natural;
    * translation: ``N(0, 0.1²)`` dm in x, y and ``N(0, 0.3²)`` dm in depth.
    """
    lay = model.layout
    g = generator

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    parts = {"id": identity_scale * randn(n, lay.id), "tex": texture_scale * randn(n, lay.tex)}
    if model.info.expression_prior == "unit_interval":
        active = rand(n, lay.exp) < 0.15
        parts["exp"] = expression_scale * active * 0.8 * rand(n, lay.exp)
    else:
        parts["exp"] = 0.5 * expression_scale * randn(n, lay.exp)
    limits = torch.tensor([math.radians(d) for d in pose_degrees])
    parts["angle"] = (2 * rand(n, 3) - 1) * limits
    shared = randn(n, 1, N_SH) * torch.tensor([0.1, 0.22, 0.22, 0.22, 0.06, 0.06, 0.06, 0.06, 0.06])
    tint = 1 + 0.08 * randn(n, 3, 1)
    parts["gamma"] = (light_scale * shared * tint + 0.02 * light_scale * randn(n, 3, N_SH)).reshape(n, 3 * N_SH)
    parts["trans"] = translation_scale * randn(n, 3) * torch.tensor([0.1, 0.1, 0.3])
    return lay.join(parts)
