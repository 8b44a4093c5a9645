"""Canny edges (Canny 1986) in torch: the ground-truth contour maps of the contour-guided method
(its edge generator is trained on the Canny edges of the clean twin, as EdgeConnect is).

``canny(gray)``: Gaussian smoothing, Sobel gradients, non-maximum suppression along the gradient
direction (quantised to 0/45/90/135 degrees), double threshold and hysteresis (weak edges kept
where connected to strong ones). Thresholds are on the gradient magnitude of a [0, 1] image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import FacelibError
from .filters import gaussian_blur


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` → ``(B, 1, H, W)`` luma (ITU-R BT.601 weights)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(1, keepdim=True)


@torch.no_grad()
def canny(gray: torch.Tensor, low: float = 0.1, high: float = 0.2, sigma: float = 1.0) -> torch.Tensor:
    """Binary edge map ``(B, 1, H, W)`` of ``(B, 1, H, W)`` grey images in [0, 1]."""
    if gray.dim() != 4 or gray.shape[1] != 1:
        raise FacelibError(f"canny expects (B, 1, H, W) grey images, got {tuple(gray.shape)}")
    if not 0 <= low <= high:
        raise FacelibError(f"canny needs 0 <= low <= high, got low={low}, high={high}")
    x = gray.float()
    if sigma > 0:
        x = gaussian_blur(x, sigma)
    sx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device) / 4
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sx.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sx.t().contiguous().view(1, 1, 3, 3))
    mag = torch.hypot(gx, gy)
    # non-maximum suppression: keep a pixel if it is not smaller than both neighbours along the gradient
    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180
    sector = ((angle + 22.5) // 45).long() % 4  # 0: horizontal gradient, 1: 45°, 2: vertical, 3: 135°
    offsets = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}  # (dy, dx) along the gradient, y down
    m = F.pad(mag, (1, 1, 1, 1))
    h, w = mag.shape[-2:]
    keep = torch.zeros_like(mag, dtype=torch.bool)
    for s, (dy, dx) in offsets.items():
        ahead = m[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        behind = m[..., 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]
        keep |= (sector == s) & (mag >= ahead) & (mag >= behind)
    thin = mag * keep
    strong = thin >= high
    weak = thin >= low
    # hysteresis: grow the strong edges through connected weak pixels (8-neighbourhood)
    edges = strong
    while True:
        grown = (F.max_pool2d(edges.float(), 3, stride=1, padding=1) > 0) & weak
        if torch.equal(grown, edges):
            return edges.float()
        edges = grown
