"""Per-paper evaluation protocols: the experiments a single paper runs, on top of the runner.

Shared here: papers group their test images by what occludes them (ROGUE's test sets, FOCUS's AR
subsets); :func:`occluder_groups` finds those groups among the benchmark's test faces and
:func:`regrouped` re-cuts a chapter's metrics into them, in the shape every function of
:mod:`facelib.evaluation.tables` reads — so tables and paired claims work per group.
"""

from __future__ import annotations

from pathlib import Path

from ... import metrics as M
from ...data.folder import FaceFolder


def occluder_groups(root: str | Path, groups: dict, split: str = "test") -> dict[str, tuple[str, list[int]]]:
    """``{group: (view, [face index])}`` for ``groups`` = ``{group: (view, occluder kinds or None)}``:
    the faces of ``split`` whose occluder is one of the kinds (every face for ``None``)."""
    kinds = FaceFolder(root, split, views=("clean",)).annotations["occluder"]
    return {g: (view, [i for i in range(len(kinds)) if allowed is None or str(kinds[i]) in allowed])
            for g, (view, allowed) in groups.items()}


def regrouped(metrics: dict, methods, groups: dict[str, tuple[str, list[int]]], metric_names=None) -> dict:
    """``metrics`` re-cut into ``groups`` (``{group: (view, faces)}``): ``{method: {"views": {group:
    {metric: summary, "faces", "per_face"}}}}``, keeping the per-image metrics that have per-face
    values (``metric_names``: default all of them). A method without that view is left out of the group."""
    out = {}
    for method in methods:
        views = {}
        for group, (view, faces) in groups.items():
            row = metrics[method]["views"].get(view)
            if row is None or "per_face" not in row:
                continue
            wanted = set(faces)
            keep = [k for k, f in enumerate(row["faces"]) if f in wanted]
            per_face = {name: [values[k] for k in keep] for name, values in row["per_face"].items()
                        if metric_names is None or name in metric_names}
            views[group] = {**{name: M.summary([v for v in values if v is not None])
                               for name, values in per_face.items()},
                            "faces": [row["faces"][k] for k in keep], "per_face": per_face,
                            **({"identities": [row["identities"][k] for k in keep]} if "identities" in row else {})}
        out[method] = {"views": views}
    return out
