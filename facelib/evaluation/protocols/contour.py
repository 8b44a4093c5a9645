"""The contour-guided method's evaluation (chapter 9): how well the occluded face pixels are
restored, against the clean twin the benchmark keeps for every occluded face.

:func:`inpainting_quality` scores any number of fills — the method's inpainting and simple
baselines (:mod:`facelib.fill`) — with the *true* occluded-face mask, so the comparison isolates the
filling from the mask prediction; PSNR and SSIM inside the mask, per face, in the shape every
function of :mod:`facelib.evaluation.tables` reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ... import metrics as M
from ..runner import rounded, split_batches


def occluded_face_mask(batch: dict) -> torch.Tensor:
    """The benchmark's exact occluded face pixels ``(B, 1, H, W)``: occluder ∩ face."""
    return (batch["occluder_mask"] * batch["face_mask"]).float()


@torch.no_grad()
def inpainting_quality(fills: dict[str, Callable], root: str | Path, *, split: str = "test", limit: int | None = None,
                       batch_size: int = 32) -> dict:
    """``{fill name: {"views": {"inpainted": {"psnr": summary, "ssim": summary, "faces", "per_face"}}}}``
    for ``fills`` = ``{name: fill(occluded images, mask) -> images}``, over the faces of ``split``
    whose occluder covers part of the face (the others have nothing to restore)."""
    _, loader = split_batches(root, split, limit, ("clean", "occluded"), ("face_mask", "occluder_mask"), batch_size)
    values = {name: {"psnr": [], "ssim": [], "faces": []} for name in fills}
    for b in loader:
        mask = occluded_face_mask(b)
        keep = mask.flatten(1).sum(-1) > 0
        if not keep.any():
            continue
        clean, occluded, mask = b["clean"][keep], b["occluded"][keep], mask[keep]
        for name, fill in fills.items():
            out = fill(occluded, mask).float().cpu().clamp(0, 1)
            values[name]["psnr"].append(M.psnr(out, clean, mask))
            values[name]["ssim"].append(M.ssim(out, clean, mask))
            values[name]["faces"] += b["index"][keep].tolist()
    out = {}
    for name, v in values.items():
        cat = {k: torch.cat(v[k]) if v[k] else torch.zeros(0) for k in ("psnr", "ssim")}
        out[name] = {"views": {"inpainted": {**{k: M.summary(x) for k, x in cat.items() if len(x)},
                                             "faces": v["faces"], "per_face": {k: rounded(x) for k, x in cat.items()}}}}
    return out
