"""ROGUE's evaluation protocol (Tiwari et al., BMVC 2022, Sec. 5.1, Algorithm 1, Table 1) on the
synthetic benchmark.

The paper scores three test sets with Algorithm 1's perceptual error (already computed for every
view by :func:`facelib.evaluation.runner.evaluate`: ``perceptual_<embedder>``): **ReaChOcc** (real
photos: beards, hands, food, sunglasses, masks), **SynChOcc** (clean photos with pasted natural
occluders: turbans, face masks, eye masks, hats, bangs) and a **noisy** CelebA. Neither set ships
offline; their stand-ins here are groups of the benchmark's own test faces, chosen by the
occluder each face carries — the groups name the paper's sets they imitate, they are not them:

* ``reachocc``: occluders of ReaChOcc's kinds (:data:`REACHOCC_LIKE`; the masks attached to the 3D
  surface, which follow the face like a worn mask);
* ``synchocc``: the 2D overlays of SynChOcc's kinds (:data:`SYNCHOCC_LIKE`);
* ``noise``: the noisy view (every noise kind and severity).
"""

from __future__ import annotations

from pathlib import Path

from ... import metrics as M
from ...data.folder import FaceFolder

REACHOCC_LIKE = ("beard", "mustache", "hand", "food", "sunglasses", "surgical_mask_3d")
SYNCHOCC_LIKE = ("turban", "surgical_mask", "eye_mask", "eye_mask_3d", "hat", "bangs", "spectacles")
#: group -> (benchmark view, occluder kinds or None for every face of the view)
GROUPS = {"reachocc": ("occluded", REACHOCC_LIKE), "synchocc": ("occluded", SYNCHOCC_LIKE),
          "noise": ("noisy", None)}
GROUP_LABELS = {"reachocc": "ReaChOcc-like", "synchocc": "SynChOcc-like", "noise": "noise"}


def group_faces(root: str | Path, split: str = "test") -> dict[str, list[int]]:
    """The test faces (dataset indices) of each group of :data:`GROUPS`."""
    kinds = FaceFolder(root, split, views=("clean",)).annotations["occluder"]
    return {g: [i for i in range(len(kinds)) if allowed is None or str(kinds[i]) in allowed]
            for g, (_, allowed) in GROUPS.items()}


def grouped(metrics: dict, methods, faces: dict[str, list[int]], metric_names=None) -> dict:
    """``metrics`` (a chapter's ``metrics`` dict) re-cut into the groups: ``{method: {"views":
    {group: {metric: summary, "faces", "per_face"}}}}`` — the shape every function of
    :mod:`facelib.evaluation.tables` reads, so tables and paired claims work per group. Only the
    per-image metrics with per-face values are kept (``metric_names``: default all of them)."""
    out = {}
    for method in methods:
        views = {}
        for group, (view, _) in GROUPS.items():
            row = metrics[method]["views"].get(view)
            if row is None or "per_face" not in row:
                continue
            wanted = set(faces[group])
            keep = [k for k, f in enumerate(row["faces"]) if f in wanted]
            per_face = {name: [values[k] for k in keep] for name, values in row["per_face"].items()
                        if metric_names is None or name in metric_names}
            views[group] = {**{name: M.summary([v for v in values if v is not None]) for name, values in per_face.items()},
                            "faces": [row["faces"][k] for k in keep], "per_face": per_face}
        out[method] = {"views": views}
    return out
