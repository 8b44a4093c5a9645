"""Chapter 10's benchmark, the part that needs the trained methods: load every chapter's finished
run and evaluate it on the views its own chapter did not (ORN's chapter scores shape on clean faces
only, FOCUS and the contour method skip the noisy view), so that every method has every view of
the same test faces. Reading and comparing the rows is :mod:`facelib.evaluation.protocols.benchmark`.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import FacelibError
from .evaluation import runner
from .evaluation.protocols import benchmark as protocol
from .results import run_dir
from .runs import finished, train_command

#: benchmark label -> (method name in the registry, its run folder name), for the rows of trained methods
RUNS = {"MoFA": ("mofa", "mofa"), "R-Net": ("rnet", "rnet"), "SOPI": ("sopi", "sopi"), "MOPI": ("mopi", "mopi"),
        "ROGUE": ("rogue", "rogue"), "FOCUS": ("focus", "focus"), "FOCUS-MP": ("focus", "focus"),
        "contour-guided": ("contour", "contour")}
MISFIT_RUN = ("focus_backbone", "r_syn")  # FOCUS-MP's R_syn (chapter 8)


def trained_methods(model, profile, labels) -> dict:
    """``{label: method}`` loaded from the chapters' finished runs; every missing run is named in one
    error, with the command that trains it."""
    loaded, missing = {}, []
    for label in labels:
        if label not in RUNS:
            continue
        name, folder = RUNS[label]
        chapter = protocol.ROW_OF[label].chapter
        path = run_dir(chapter, profile.name, folder)
        try:
            loaded[label] = finished(name, model, profile, path)
        except FacelibError:
            missing.append(f"{label}: book/{chapter}.ipynb trains it ({train_command(name, profile, path)})")
    if missing:
        raise FacelibError("the benchmark needs every method trained; missing:\n  " + "\n  ".join(missing))
    return loaded


def predictor(label: str, methods: dict, model, profile, root) -> Callable:
    """The ``predict`` the benchmark evaluates for ``label`` — the same one its chapter evaluates."""
    if label == "mean face":
        return runner.mean_face_predictor(model)
    if label == "R-Net":
        return methods[label].predict_with_mask  # with its skin mask, as chapter 5 scores it
    if label == "FOCUS-MP":
        from .methods import focus

        name, folder = MISFIT_RUN
        r_syn = finished(name, model, profile, run_dir("08_focus", profile.name, folder))
        return focus.MisfitCorrected(methods[label], focus.misfit_prior(r_syn, root, limit=profile.test_faces)).predict
    return methods[label].predict


def complete(model, profile, root, progress: bool = False) -> tuple[dict, dict]:
    """Evaluate every (row, view) no chapter evaluated, into chapter 10's ``metrics.json``, and return
    the assembled benchmark ``(metrics, sources)``: a view its chapter evaluated is read from there."""
    metrics, _ = protocol.assemble(profile.name, own={})
    lacking = protocol.missing_views(metrics)
    methods = trained_methods(model, profile, lacking)
    for label, views in lacking.items():
        row = protocol.ROW_OF[label]
        # with the clean view too: the perceptual error of an occluded or noisy face (ROGUE's
        # Algorithm 1) needs the pose and expression predicted from its clean twin
        runner.evaluate(predictor(label, methods, model, profile, root), root, method=label,
                        chapter=protocol.CHAPTER, profile=profile, limit=profile.test_faces,
                        views=tuple(dict.fromkeys(("clean", *views))),
                        progress=progress, config={"completes": row.chapter,
                                                   "train_signature": getattr(methods.get(label), "run_signature",
                                                                              None)})
    return protocol.assemble(profile.name)
