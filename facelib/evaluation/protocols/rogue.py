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

from . import occluder_groups, regrouped

REACHOCC_LIKE = ("beard", "mustache", "hand", "food", "sunglasses", "surgical_mask_3d")
SYNCHOCC_LIKE = ("turban", "surgical_mask", "eye_mask", "eye_mask_3d", "hat", "bangs", "spectacles")
#: group -> (benchmark view, occluder kinds or None for every face of the view)
GROUPS = {"reachocc": ("occluded", REACHOCC_LIKE), "synchocc": ("occluded", SYNCHOCC_LIKE),
          "noise": ("noisy", None)}
GROUP_LABELS = {"reachocc": "ReaChOcc-like", "synchocc": "SynChOcc-like", "noise": "noise"}


def group_faces(root: str | Path, split: str = "test") -> dict[str, list[int]]:
    """The test faces (dataset indices) of each group of :data:`GROUPS`."""
    return {g: faces for g, (_, faces) in occluder_groups(root, GROUPS, split).items()}


def grouped(metrics: dict, methods, faces: dict[str, list[int]], metric_names=None) -> dict:
    """``metrics`` re-cut into ROGUE's groups (:func:`facelib.evaluation.protocols.regrouped`)."""
    return regrouped(metrics, methods, {g: (GROUPS[g][0], f) for g, f in faces.items()}, metric_names)
