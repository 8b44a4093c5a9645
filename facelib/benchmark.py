"""Chapter 10's benchmark, the part that needs the trained methods: load every chapter's finished
run and evaluate it on the views its own chapter did not (ORN's chapter scores shape on clean faces
only, FOCUS and the contour method skip the noisy view), so that every method has every view of
the same test faces. Reading and comparing the rows is :mod:`facelib.evaluation.protocols.benchmark`.
"""

from __future__ import annotations

from . import methods
from .errors import FacelibError
from .evaluation import runner
from .evaluation.protocols import benchmark as protocol
from .methods.base import EvaluationContext
from .results import run_dir
from .runs import finished, train_command


def trained_rows(labels) -> dict:
    """``{label: (declaration, row)}`` of the registered methods' benchmark rows among ``labels``."""
    return {row.label: (declared, row) for declared, row in methods.rows() if row.label in labels}


def trained_methods(model, profile, labels) -> dict:
    """``{label: method}`` loaded from the chapters' finished runs; every missing run is named in one
    error, with the command that trains it."""
    loaded, missing = {}, []
    for label, (declared, _) in trained_rows(labels).items():
        path = run_dir(declared.chapter, profile.name, declared.name)
        try:
            loaded[label] = finished(declared.name, model, profile, path)
        except FacelibError:
            missing.append(f"{label}: book/{declared.chapter}.ipynb trains it "
                           f"({train_command(declared.name, profile, path)})")
    if missing:
        raise FacelibError("the benchmark needs every method trained; missing:\n  " + "\n  ".join(missing))
    return loaded


def context(model, profile, root) -> EvaluationContext:
    """What a row's predictor may load: finished runs from their method's chapter."""
    def load(name: str, run: str):
        return finished(name, model, profile, run_dir(methods.chapter_of(name), profile.name, run))

    return EvaluationContext(model, profile, root, load)


def predictor(label: str, trained: dict, model, profile, root):
    """The predictor the benchmark evaluates for ``label`` — the one its declaration names
    (:class:`facelib.methods.Row`), as its chapter evaluates it; the floor for ``"mean face"``."""
    if label == protocol.FLOOR.label:
        return runner.MeanFace(model)
    _, row = trained_rows([label])[label]
    return row.evaluated(trained[label], context(model, profile, root))


def complete(model, profile, root, progress: bool = False) -> tuple[dict, dict]:
    """Evaluate every (row, view) no chapter evaluated, into chapter 10's ``metrics.json``, and return
    the assembled benchmark ``(metrics, sources)``: a view its chapter evaluated is read from there."""
    metrics, _ = protocol.assemble(profile.name, own={})
    lacking = protocol.missing_views(metrics)
    trained = trained_methods(model, profile, lacking)
    for label, views in lacking.items():
        row = protocol.row_of(label)
        # with the clean view too: the perceptual error of an occluded or noisy face (ROGUE's
        # Algorithm 1) needs the pose and expression predicted from its clean twin
        runner.evaluate(predictor(label, trained, model, profile, root), root, method=label,
                        chapter=protocol.CHAPTER, profile=profile, limit=profile.test_faces,
                        views=tuple(dict.fromkeys(("clean", *views))),
                        progress=progress, config={"completes": row.chapter,
                                                   "train_signature": getattr(trained.get(label), "run_signature",
                                                                              None)})
    return protocol.assemble(profile.name)


#: the prefix of a clean-input oracle's row in chapter 10's ``metrics.json`` (not a benchmark row)
CLEAN_INPUT = "clean input: "


def clean_input_oracles(model, profile, root, labels, progress: bool = False) -> dict:
    """``{label: {"views": …}}``: each row's **clean-input oracle** (issue 32;
    :func:`facelib.evaluation.runner.clean_input_oracle`) — its predictor given each face's clean
    twin, scored on every view — evaluated on the benchmark's test faces and stored in chapter 10's
    ``metrics.json`` as ``"clean input: <label>"``. The floor (the mean face) has none: it reads no
    pixel."""
    labels = [label for label in labels if label != protocol.FLOOR.label]
    trained = trained_methods(model, profile, labels)
    out = {}
    for label in labels:
        oracle = runner.clean_input_oracle(predictor(label, trained, model, profile, root), root)
        record = runner.evaluate(oracle, root, method=CLEAN_INPUT + label, chapter=protocol.CHAPTER, profile=profile,
                                 limit=profile.test_faces, progress=progress)
        out[label] = {"views": record["views"]}
    return out
