"""ROGUE's Table 1 (Tiwari et al., BMVC 2022) beside ours.

The paper's numbers are data here: the mean ± std perceptual error (Algorithm 1) with FaceNet-512
and ArcFace on ReaChOcc, SynChOcc and noisy CelebA. Ours come from the dlib embedder (the one
available offline) on the benchmark's stand-in groups (:mod:`facelib.evaluation.protocols.rogue`):
the embedders' distance scales differ, so compare the *reductions* a method brings over another
— the paper's headline numbers — not the raw values.
"""

from __future__ import annotations

from ..protocols.rogue import GROUP_LABELS, GROUPS
from ..tables import change_against, interval_of, markdown_table, relative_change

#: Table 1: group -> method -> (FaceNet-512 mean, std, ArcFace mean, std)
PAPER = {
    "reachocc": {"MoFA": (1.237, 0.141, 1.313, 0.114), "R-Net": (1.045, 0.173, 1.188, 0.171),
                 "ROGUE": (0.943, 0.187, 1.025, 0.168)},
    "synchocc": {"MoFA": (1.195, 0.126, 1.284, 0.150), "R-Net": (0.955, 0.187, 1.131, 0.194),
                 "ROGUE": (0.879, 0.174, 0.983, 0.186)},
    "noise": {"MoFA": (1.245, 0.171, 1.250, 0.274), "R-Net": (1.161, 0.253, 1.221, 0.217),
              "ROGUE": (0.963, 0.185, 1.017, 0.146)},
}


def table1(grouped: dict, methods: list[str], embedder: str = "dlib") -> str:
    """Markdown: one row per group and method — ours (mean [95 % interval] over the group's faces)
    and the paper's FaceNet-512 and ArcFace mean ± std where the paper has the method."""
    metric = f"perceptual_{embedder}"
    rows = []
    for group in GROUPS:
        for method in methods:
            if group not in grouped.get(method, {}).get("views", {}):
                continue
            iv = interval_of(grouped, method, group, metric)
            paper = PAPER[group].get(method)
            rows.append([GROUP_LABELS[group], method, f"{iv.format('.3f')}", iv.n,
                         f"{paper[0]:.3f} ± {paper[1]:.3f}" if paper else "—",
                         f"{paper[2]:.3f} ± {paper[3]:.3f}" if paper else "—"])
    return markdown_table(["test set", "method", f"ours ({embedder})", "faces", "paper FaceNet-512",
                           "paper ArcFace"], rows)


def reductions(grouped: dict, method: str, others: list[str], embedder: str = "dlib") -> str:
    """Markdown: the change of ``method``'s perceptual error against each of ``others`` per group,
    ours (paired over the same faces, 95 % interval) beside the paper's (FaceNet-512, ArcFace)."""
    metric = f"perceptual_{embedder}"
    rows = []
    for group in GROUPS:
        for other in others:
            iv = change_against(grouped, method, other, group, metric)
            paper = PAPER[group]
            theirs = [f"{relative_change(paper[method][k], paper[other][k]):+.1f} %"
                      if method in paper and other in paper else "—" for k in (0, 2)]
            rows.append([GROUP_LABELS[group], f"{method} vs {other}", f"{iv.estimate:+.1f} % [{iv.low:+.1f}, {iv.high:+.1f}]",
                         *theirs])
    return markdown_table(["test set", "comparison", f"ours ({embedder})", "paper FaceNet-512", "paper ArcFace"], rows)
