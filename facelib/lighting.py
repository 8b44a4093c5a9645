"""Second-order spherical-harmonics lighting of a Lambertian surface (27 coefficients: 9 × RGB).

Irradiance at a normal ``n`` is ``E(n) = Σ_k γ_k · a_k c_k Y_k(n)`` with the nine real SH basis
functions up to band 2, the Lambertian convolution constants ``a = (π, 2π/3, π/4)`` per band
(Ramamoorthi & Hanrahan 2001) and the normalisation constants ``c`` of the basis; the shaded colour
is ``albedo · E`` per channel. This is the illumination model of Deep3D (Deng et al. 2019, Sec. 3.1;
``compute_color`` in its code), including its sign convention and its default light: ``DEFAULT_AMBIENT``
is added to the first (constant) coefficient of every channel, so all-zero coefficients mean a
soft uniform light and a network head initialised at zero starts from a lit face.
"""

from __future__ import annotations

import math

import torch

DEFAULT_AMBIENT = 0.8
N_SH = 9


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """Nine SH basis values, pre-multiplied by the Lambertian constants (Deep3D convention).

    Args:
        normals: ``(..., 3)`` unit normals.
    Returns:
        ``(..., 9)``.
    """
    a0, a1, a2 = math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0)
    c0 = 1 / math.sqrt(4 * math.pi)
    c1 = math.sqrt(3.0) / math.sqrt(4 * math.pi)
    c2 = 3 * math.sqrt(5.0) / math.sqrt(12 * math.pi)
    nx, ny, nz = normals.unbind(-1)
    return torch.stack(
        [
            torch.full_like(nx, a0 * c0),
            -a1 * c1 * ny,
            a1 * c1 * nz,
            -a1 * c1 * nx,
            a2 * c2 * nx * ny,
            -a2 * c2 * ny * nz,
            a2 * c2 * 0.5 / math.sqrt(3.0) * (3 * nz**2 - 1),
            -a2 * c2 * nx * nz,
            a2 * c2 * 0.5 * (nx**2 - ny**2),
        ],
        dim=-1,
    )


def gamma_to_rgb_coeffs(gamma: torch.Tensor, ambient: float = DEFAULT_AMBIENT) -> torch.Tensor:
    """``(B, 27)`` coefficient block → ``(B, 9, 3)`` per-channel SH coefficients, ambient added.

    The 27 values are ordered channel-major (9 for R, then G, then B), as in Deep3D.
    """
    rgb = gamma.reshape(*gamma.shape[:-1], 3, N_SH).clone()
    rgb[..., 0] = rgb[..., 0] + ambient
    return rgb.transpose(-1, -2)


def shade(albedo: torch.Tensor, normals: torch.Tensor, gamma: torch.Tensor,
          ambient: float = DEFAULT_AMBIENT) -> torch.Tensor:
    """Lambertian SH shading (Deng et al. 2019, Sec. 3.1): colour = albedo ⊙ (Y(n) · γ).

    Args:
        albedo: ``(B, N, 3)`` reflectance in [0, 1].
        normals: ``(B, N, 3)`` unit normals in camera-aligned world space.
        gamma: ``(B, 27)`` SH coefficients.
    Returns:
        ``(B, N, 3)`` linear colour.
    """
    irradiance = sh_basis(normals) @ gamma_to_rgb_coeffs(gamma, ambient)
    return albedo * irradiance
