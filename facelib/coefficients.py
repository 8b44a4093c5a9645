"""Named split and join of the coefficient vector (Deep3D layout: id | exp | tex | angle | gamma | trans).

Sizes come from the face model (ICT: 100 | 53 | K | 3 | 27 | 3; Deep3D BFM: 80 | 64 | 80 | 3 | 27 | 3)
— no code anywhere hard-codes a total such as 257.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import FacelibError

NAMES = ("id", "exp", "tex", "angle", "gamma", "trans")


@dataclass(frozen=True)
class CoefficientLayout:
    """Sizes of the named blocks of a coefficient vector."""

    id: int
    exp: int
    tex: int
    angle: int = 3
    gamma: int = 27
    trans: int = 3

    @property
    def sizes(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in NAMES}

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for n, k in self.sizes.items():
            out[n] = slice(start, start + k)
            start += k
        return out

    def split(self, coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, total)`` → dict of ``(B, size)`` views named id, exp, tex, angle, gamma, trans."""
        if coeffs.shape[-1] != self.total:
            raise FacelibError(
                f"coefficient vector has {coeffs.shape[-1]} entries, this model's layout needs "
                f"{self.total} ({self.sizes})"
            )
        return {n: coeffs[..., s] for n, s in self.slices().items()}

    def join(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`split`: dict of ``(B, size)`` blocks → ``(B, total)`` (any leading
        batch shape ``(...,)`` works); missing blocks are zeros (the mean face, default light)."""
        ref = next(iter(parts.values()))
        batch = ref.shape[:-1]
        blocks = []
        for n, k in self.sizes.items():
            if n in parts:
                if parts[n].shape[-1] != k:
                    raise FacelibError(f"block {n!r} has {parts[n].shape[-1]} entries, expected {k}")
                blocks.append(parts[n])
            else:
                blocks.append(ref.new_zeros(*batch, k))
        unknown = set(parts) - set(NAMES)
        if unknown:
            raise FacelibError(f"unknown coefficient blocks {sorted(unknown)}; names are {NAMES}")
        return torch.cat(blocks, dim=-1)

    def zeros(self, batch: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """Coefficients of the mean face, frontal, default light: ``(batch, total)`` zeros."""
        return torch.zeros(batch, self.total, device=device, dtype=dtype)
