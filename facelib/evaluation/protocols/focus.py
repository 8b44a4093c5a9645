"""FOCUS's evaluation protocol (Li et al., CVPR 2023, Tables 1, 3, 4, 5) on the synthetic benchmark.

* Table 1 — image fit: RMSE inside the *visible* face (the runner's ``visible_rmse``: the exact
  visible-face mask, which the benchmark knows) on unoccluded and occluded faces and both together;
* Table 3 — shape error on unoccluded and occluded faces, with and without the misfit prior;
* Table 4 — segmentation (ACC, PPV, TPR, F1 inside the rendered face; face = positive) with no
  occluder, glasses-like and scarf-like occluders — the AR database's subsets, imitated by the
  benchmark's occluder kinds (:data:`GLASSES_LIKE`, :data:`SCARF_LIKE`);
* Table 5 — the same segmentation columns for the ablated training runs.
"""

from __future__ import annotations

from pathlib import Path

from . import occluder_groups, regrouped

GLASSES_LIKE = ("sunglasses", "spectacles", "eye_mask", "eye_mask_3d")
SCARF_LIKE = ("surgical_mask", "surgical_mask_3d", "beard")
#: Table 4's subsets: group -> (benchmark view, occluder kinds or None)
SEGMENTATION_GROUPS = {"unoccluded": ("clean", None), "glasses": ("occluded", GLASSES_LIKE),
                       "scarf": ("occluded", SCARF_LIKE)}


def segmentation_groups(metrics: dict, methods, root: str | Path) -> dict:
    """``metrics`` re-cut into Table 4's subsets."""
    return regrouped(metrics, methods, occluder_groups(root, SEGMENTATION_GROUPS))


def with_overall(metrics: dict, methods, metric: str = "visible_rmse") -> dict:
    """A copy of ``metrics`` whose methods also have an ``"overall"`` view: per face, the mean of
    its clean and occluded values of ``metric`` (Table 1's "Overall" row, paired over faces)."""
    from ... import metrics as M

    out = {}
    for method in methods:
        views = dict(metrics[method]["views"])
        clean, occluded = views.get("clean"), views.get("occluded")
        if clean and occluded and metric in clean.get("per_face", {}) and metric in occluded.get("per_face", {}):
            a = dict(zip(clean["faces"], clean["per_face"][metric], strict=True))
            b = dict(zip(occluded["faces"], occluded["per_face"][metric], strict=True))
            faces = sorted(set(a) & set(b))
            values = [None if a[f] is None or b[f] is None else (a[f] + b[f]) / 2 for f in faces]
            views["overall"] = {metric: M.summary([v for v in values if v is not None]), "faces": faces,
                                "per_face": {metric: values}}
            if "identities" in clean:
                who = dict(zip(clean["faces"], clean["identities"], strict=True))
                views["overall"]["identities"] = [who[f] for f in faces]
        out[method] = {**metrics[method], "views": views}
    return out
