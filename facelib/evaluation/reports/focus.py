"""FOCUS's Tables 1, 3, 4 and 5 (Li et al., CVPR 2023) as data, printed beside ours.

The paper measures on CelebA-HQ, NoW and AR; the benchmark's numbers differ in scale (RMSE on
0-255 pixels of renders, shape error of the model's own faces), so compare the *order* of methods
and the direction of each change, which the chapter decides with paired intervals.
"""

from __future__ import annotations

from ..tables import markdown_table

#: Table 1: RMSE, mean ± std — rows: test sets; columns: methods
TABLE1 = {
    "columns": ("MoFA", "Backbone-Supervised", "Backbone-cutmix", "Backbone-cutout", "Deep3D", "FOCUS"),
    "CelebA-Unoccluded": ("8.77 ± 0.40", "8.71 ± 0.38", "8.75 ± 0.39", "8.72 ± 0.40", "8.49 ± 0.39", "8.38 ± 0.42"),
    "CelebA-Occluded": ("9.20 ± 0.45", "9.01 ± 0.45", "9.04 ± 0.44", "8.99 ± 0.45", "8.79 ± 0.45", "8.71 ± 0.48"),
    "CelebA-Overall": ("8.99 ± 0.47", "8.86 ± 0.44", "8.90 ± 0.44", "8.85 ± 0.45", "8.64 ± 0.44", "8.55 ± 0.48"),
    "AR-Overall": ("9.53 ± 0.33", "9.34 ± 0.33", "9.33 ± 0.32", "9.28 ± 0.31", "9.11 ± 0.37", "8.93 ± 0.35"),
}
#: Table 3: NoW validation subset, mm — method -> (unoccluded median, mean, std, occluded median, mean, std)
TABLE3 = {
    "Deep3D": (1.33, 1.67, 1.41, 1.40, 1.73, 1.41), "DECA": (1.18, 1.47, 1.24, 1.29, 1.56, 1.29),
    "MoFA": (1.35, 1.69, 1.42, 1.36, 1.69, 1.41), "Backbone": (1.21, 1.46, 1.18, 1.33, 1.59, 1.27),
    "Backbone-Supervised": (1.02, 1.25, 1.04, 1.05, 1.29, 1.09), "Backbone-cutmix": (1.05, 1.28, 1.04, 1.08, 1.33, 1.11),
    "Backbone-cutout": (1.03, 1.28, 1.06, 1.09, 1.34, 1.10), "FOCUS": (1.03, 1.25, 1.03, 1.07, 1.34, 1.19),
    "FOCUS-MP": (1.02, 1.24, 1.02, 1.08, 1.34, 1.20),
}
#: Table 4: AR segmentation — method -> subset -> (ACC, PPV, TPR, F1); None = not reported
TABLE4 = {
    "Deep3D": {"unoccluded": (0.88, 0.93, 0.94, 0.93), "glasses": (0.88, 0.92, 0.92, 0.92), "scarf": (0.80, 0.80, 0.93, 0.86)},
    "Egger et al.": {"unoccluded": (None, None, None, 0.90), "glasses": (None, None, None, 0.87),
                     "scarf": (None, None, None, 0.86)},
    "FOCUS": {"unoccluded": (0.88, 0.96, 0.91, 0.93), "glasses": (0.88, 0.98, 0.85, 0.91), "scarf": (0.86, 0.97, 0.81, 0.88)},
}
#: Table 5: ablation — method -> (AR-unoccluded F1, AR-glasses F1, AR-scarf F1, NoW median, mean, std)
TABLE5 = {
    "Pretrained": (0.85, 0.82, 0.73, 1.06, 1.32, 1.14), "Baseline": (0.89, 0.85, 0.82, 1.06, 1.32, 1.15),
    "Neighbor": (0.91, 0.87, 0.85, 1.06, 1.32, 1.15), "Perceptual": (0.94, 0.92, 0.90, 1.06, 1.32, 1.14),
    "FOCUS": (0.93, 0.91, 0.88, 1.05, 1.31, 1.14), "FOCUS-MP": (None, None, None, 1.03, 1.29, 1.12),
}


def _cell(v) -> str:
    return "—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def paper_table1() -> str:
    return markdown_table(["test set", *TABLE1["columns"]], [[k, *v] for k, v in TABLE1.items() if k != "columns"])


def paper_table3() -> str:
    return markdown_table(["method", "unocc. median", "mean", "std", "occ. median", "mean", "std"],
                          [[k, *map(_cell, v)] for k, v in TABLE3.items()])


def paper_table4() -> str:
    rows = [[m, s, *map(_cell, v)] for m, subsets in TABLE4.items() for s, v in subsets.items()]
    return markdown_table(["method", "AR subset", "ACC", "PPV", "TPR", "F1"], rows)


def paper_table5() -> str:
    return markdown_table(["run", "F1 unocc.", "F1 glasses", "F1 scarf", "NoW median", "mean", "std"],
                          [[k, *map(_cell, v)] for k, v in TABLE5.items()])
