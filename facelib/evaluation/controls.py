"""Controls that show what the benchmark's comparisons can tell (issue 32).

**The negative control** (:func:`seed_control`): one method trained twice, the same command with
two seeds (initial weights and batch order), scored on the same test faces. Nothing distinguishes the
two but chance, so every comparison between them must come out undecided — its paired 95 % interval
(identities resampled, :mod:`facelib.stats`) must contain zero. A comparison that "decides" here
would decide on noise, and its verdicts elsewhere would mean nothing.

``python -m facelib.evaluation.controls seeds --method rnet --profile cpu`` trains (or loads) the two
runs under ``runs/controls/<profile>/<method>-seed<s>`` and prints one JSON record.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import stats
from . import tables

#: the metrics the papers use, in the benchmark's views (those a method's rows hold are compared)
METRICS = ("landmark_me", "shape_v2v_mm", "shape_s2m_mm", "perceptual_dlib", "visible_rmse", "seg_f1")
VIEWS = ("clean", "occluded", "noisy")


def seed_comparisons(metrics: dict, a: str, b: str, metrics_used=METRICS, views=VIEWS) -> list[dict]:
    """Every ``metric`` × ``view`` that both rows ``a`` and ``b`` of ``metrics`` hold: ``a``'s
    relative change against ``b`` (per cent, paired over the same faces, identities resampled)
    and whether its interval excludes zero (``"differs"``) or not (``"undecided"``)."""
    out = []
    for view in views:
        for metric in metrics_used:
            try:
                iv = tables.change_against(metrics, a, b, view, metric)
            except KeyError:
                continue
            decided = stats.verdict(iv, 0.0, "below") != stats.UNDECIDED
            out.append({"view": view, "metric": metric, "change_pct": iv.as_dict(),
                        "verdict": "differs" if decided else stats.UNDECIDED})
    return out


def seed_control(method: str, profile: str = "cpu", seeds=(0, 1), folder: Path | None = None,
                 progress: bool = True) -> dict:
    """Train ``method`` with each of ``seeds`` (the reader's training, :func:`facelib.train.train_on_set`;
    a finished run is loaded), evaluate each on the profile's test faces, and compare the second
    seed with the first on every metric and view (:func:`seed_comparisons`). For a method trained
    from no other run (its prerequisites would need the run layer above this one)."""
    from .. import methods
    from .. import profile as profiles
    from ..data import synthetic
    from ..errors import FacelibError
    from ..morphable import MorphableModel
    from ..reproduce import use_threads
    from ..results import project_root
    from ..train import train_on_set
    from .runner import evaluate

    if methods.method_class(method).prerequisites:
        raise FacelibError(f"the seed control trains methods that start from no other run; {method} needs "
                           f"{[p.method for p in methods.method_class(method).prerequisites]}: run it for one that does not "
                           "(e.g. rnet, mofa, rogue)")
    prof = profiles.resolve(profile)
    use_threads(prof.threads)
    root = synthetic.default_root(prof.name)
    synthetic.generate(root, synthetic.config_for(prof), progress=progress)
    folder = Path(folder) if folder else project_root() / "runs" / "controls" / prof.name
    model = MorphableModel.from_ict()
    metrics, trainings = {}, {}
    for seed in seeds:
        m = methods.build(method, model, prof, seed=seed)
        res = train_on_set(m, root, folder / f"{method}-seed{seed}", prof, seed=seed, progress=progress)
        trainings[f"seed {seed}"] = {"steps": res.steps, "seconds": round(res.seconds, 1)}
        rec = evaluate(m.predict, root, method=f"{method} seed {seed}", chapter="controls", profile=prof,
                       limit=prof.test_faces, write=False, progress=progress)
        metrics[f"seed {seed}"] = {"views": rec["views"]}
    a, b = f"seed {seeds[1]}", f"seed {seeds[0]}"
    rows = seed_comparisons(metrics, a, b)
    return {"control": "seeds", "method": method, "profile": prof.name, "seeds": list(seeds), "trainings": trainings,
            "comparisons": rows, "passes": all(r["verdict"] == stats.UNDECIDED for r in rows),
            "means": {k: {v: {mm: row[mm]["mean"] for mm in METRICS if mm in row} for v, row in rec["views"].items()}
                      for k, rec in metrics.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the benchmark's controls")
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("seeds", help="the negative control: one method, two seeds, every comparison undecided")
    s.add_argument("--method", default="rnet")
    s.add_argument("--profile", default="cpu")
    s.add_argument("--seeds", type=int, nargs=2, default=[0, 1])
    s.add_argument("--folder", default=None, help="where the runs go (default runs/controls/<profile>)")
    s.add_argument("--out", default=None, help="also write the record here")
    s.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    from ..errors import FacelibError

    try:
        record = seed_control(args.method, args.profile, tuple(args.seeds), args.folder, progress=not args.quiet)
    except FacelibError as err:
        print(f"error: {err}")
        return 2
    text = json.dumps(record)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
