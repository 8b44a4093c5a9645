"""The contour-guided method's evaluation (chapter 9): how well the occluded face pixels are
restored, against the clean twin the benchmark keeps for every occluded face.

:func:`inpainting_quality` scores any number of fills — the method's inpainting and simple
baselines (:mod:`facelib.fill`) — with the *true* occluded-face mask, so the comparison isolates the
filling from the mask prediction; PSNR and SSIM inside the mask, per face, in the shape every
function of :mod:`facelib.evaluation.tables` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ... import metrics as M
from ..runner import rounded, split_batches


def occluded_face_mask(batch: dict) -> torch.Tensor:
    """The benchmark's exact occluded face pixels ``(B, 1, H, W)``: occluder ∩ face."""
    return (batch["occluder_mask"] * batch["face_mask"]).float()


def occluded_face_batches(root: str | Path, split: str = "test", limit: int | None = None,
                          batch_size: int = 32) -> Iterator[dict]:
    """The batches of ``split`` cut to the faces whose occluder covers part of the face (the others
    have nothing to restore), each ``{"clean", "occluded": (B, 3, H, W), "mask": (B, 1, H, W),
    "landmarks68": (B, 68, 2), "index", "identity": (B,)}`` (``mask``: the true occluded-face pixels,
    :func:`occluded_face_mask`); a batch with no such face is skipped."""
    _, loader = split_batches(root, split, limit, ("clean", "occluded"), ("face_mask", "occluder_mask"), batch_size)
    for b in loader:
        mask = occluded_face_mask(b)
        keep = mask.flatten(1).sum(-1) > 0
        if keep.any():
            yield {"mask": mask[keep], **{k: b[k][keep] for k in ("clean", "occluded", "landmarks68", "index", "identity")}}


@torch.no_grad()
def inpainting_quality(fills: dict[str, Callable], root: str | Path, *, split: str = "test", limit: int | None = None,
                       batch_size: int = 32) -> dict:
    """``{fill name: {"views": {"inpainted": {"psnr": summary, "ssim": summary, "faces", "per_face"}}}}``
    for ``fills`` = ``{name: fill(occluded images, mask) -> images}``, over the faces of ``split``
    whose occluder covers part of the face (the others have nothing to restore)."""
    values = {name: {"psnr": [], "ssim": [], "faces": [], "identities": []} for name in fills}
    for b in occluded_face_batches(root, split, limit, batch_size):
        for name, fill in fills.items():
            out = fill(b["occluded"], b["mask"]).float().cpu().clamp(0, 1)
            values[name]["psnr"].append(M.psnr(out, b["clean"], b["mask"]))
            values[name]["ssim"].append(M.ssim(out, b["clean"], b["mask"]))
            values[name]["faces"] += b["index"].tolist()
            values[name]["identities"] += b["identity"].tolist()
    out = {}
    for name, v in values.items():
        cat = {k: torch.cat(v[k]) if v[k] else torch.zeros(0) for k in ("psnr", "ssim")}
        out[name] = {"views": {"inpainted": {**{k: M.summary(x) for k, x in cat.items() if len(x)},
                                             "faces": v["faces"], "identities": v["identities"], "per_face": {k: rounded(x) for k, x in cat.items()}}}}
    return out


#: the row of chapter 9's lever: the regression stage again, with R-Net's landmark term added to L_3D
LEVER = "contour-guided, landmark term"


def claims(metrics: dict, quality: dict) -> dict:
    """The contour-guided method's claims as computed verdicts (:mod:`facelib.stats`). The paper
    gives no numbers (only Fig. 3, qualitative); these are what its method section promises,
    measured on the benchmark (``metrics``: the chapter's evaluations on the occluded view, with
    chapter 5's ``R-Net`` row; ``quality``: :func:`inpainting_quality`'s result):

    * ``psnr_above_mean_fill`` — inside the true occluded-face mask, the inpainting's PSNR above the
      mean fill's (dB, paired over faces);
    * ``me_below_rnet``, ``perc_below_rnet`` — the method's landmark ME and perceptual error on the
      occluded faces below R-Net's on the same occluded input (%);
    * ``rnet_inpainted_me_below_rnet`` — R-Net itself on the inpainted image below R-Net on the
      occluded one: is it the inpainting, or the new regressor, that helps?
    * ``lever_me_below_rnet``, ``lever_perc_below_rnet`` — the same two for the chapter's lever
      (:data:`LEVER`: the regression stage retrained with R-Net's landmark term, not the paper's).

    Claims whose rows are missing are left out.
    """
    from ...stats import decide
    from ..tables import change_against, difference_against

    out = {}
    if {"contour-guided", "mean fill"} <= set(quality):
        out["psnr_above_mean_fill"] = decide(
            "the inpainting's PSNR inside the occluded face above the mean fill's",
            difference_against(quality, "contour-guided", "mean fill", "inpainted", "psnr"), 0.0, "above", unit=" dB")
    rows = (("me_below_rnet", "contour-guided", "landmark_me", "the contour-guided reconstruction's landmark ME"),
            ("perc_below_rnet", "contour-guided", "perceptual_dlib", "the contour-guided reconstruction's perceptual error"),
            ("rnet_inpainted_me_below_rnet", "R-Net on the inpainted image", "landmark_me",
             "R-Net's landmark ME on the inpainted image"),
            ("lever_me_below_rnet", LEVER, "landmark_me", "with the landmark term, the reconstruction's landmark ME"),
            ("lever_perc_below_rnet", LEVER, "perceptual_dlib",
             "with the landmark term, the reconstruction's perceptual error"))
    for key, method, metric, text in rows:
        if method in metrics and "R-Net" in metrics:
            out[key] = decide(f"{text} below R-Net's on the occluded input",
                              change_against(metrics, method, "R-Net", "occluded", metric), 0.0, "below", unit=" %")
    return out
