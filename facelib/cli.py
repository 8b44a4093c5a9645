"""The command line: ``python -m facelib train --method NAME --profile cpu [...]`` and
``python -m facelib refine --method NAME --profile cpu [...]`` (the shape lever's curve), plus the
book's housekeeping: ``timings`` (README's time table), ``benchmark-table`` (README's results
table), ``store`` (an executed chapter into ``book/``), ``static-figures`` (PNG twins of the stored
plotly figures) and ``book`` (every chapter executed, with progress and resume: ``make book``);
``python -m facelib reconstruct PHOTO --run RUN_DIR -o face.obj`` turns a reader's photo into a mesh.

Trains any registered method (:func:`facelib.methods.register`) on the synthetic benchmark
(generated when missing) with the one training loop; a method's prerequisites (ORN's teachers)
are loaded from their chapters' finished runs, or from ``--teacher``. SIGINT/SIGTERM saves a
checkpoint and the same command resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .errors import FacelibError


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise FacelibError(f"--set takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def run_folder(method: str, prof, run_dir: Path | None, options: dict) -> Path:
    """Where a training goes: ``run_dir``, else the folder the method's chapter trains its default
    configuration in (``runs/<chapter>/<profile>/<method>``), so the command line and ``make book``
    share one run. A variant (``--set``) must name its own folder."""
    from .methods import chapter_of
    from .results import run_dir as chapter_run_dir

    if run_dir is not None:
        return Path(run_dir)
    default = chapter_run_dir(chapter_of(method), prof.name, method)
    if options:
        raise FacelibError(f"--set, --seed or --warm-start makes a variant of {method}: give it its own --run-dir (the default folder "
                           f"{default} holds the chapter's configuration), e.g. --run-dir {default}_variant")
    return default


def train_main(args: argparse.Namespace) -> int:
    from . import methods, runs
    from . import profile as profiles
    from .data import synthetic
    from .evaluation.runner import evaluate
    from .morphable import MorphableModel
    from .reproduce import use_threads
    from .train import TrainingInterrupted, train_on_set

    prof = profiles.resolve(args.profile)
    use_threads(prof.threads)  # the reference runs' thread count (a reduction's order depends on it)
    cls = methods.method_class(args.method)
    root = args.root or synthetic.default_root(prof.name)
    if args.root is None:
        synthetic.generate(root, synthetic.config_for(prof), progress=not args.quiet)
    model = MorphableModel.from_ict()
    options = dict(_option(o) for o in args.set)
    prerequisite_runs = {}
    if args.teacher is not None:
        if len(cls.prerequisites) != 1:
            raise FacelibError(f"--teacher is for a method built from one finished run; {args.method} has "
                               f"{len(cls.prerequisites)}")
        prerequisite_runs[cls.prerequisites[0].argument] = args.teacher
    variant = {**options, **({"warm_start": args.warm_start} if args.warm_start else {}),
               **({"seed": args.seed} if args.seed else {})}
    out = run_folder(args.method, prof, args.run_dir, variant)
    stand_in = None
    if runs.starts_from_stand_in(args.method, prof) and not runs.stand_in_finished(prof):
        # the stand-in for pretrained weights is trained once, on the profile's own set, as chapter 5 trains it
        default = synthetic.default_root(prof.name)
        print(f"{args.method} starts from the profile's stand-in, not trained yet: training it first in "
              f"{runs.stand_in_run_dir(prof)}")
        synthetic.generate(default, synthetic.config_for(prof), progress=not args.quiet)
        stand_in = runs.trained_in_chapter(runs.STAND_IN, model, prof, default, progress=not args.quiet)[0]
    method = runs.build_with_prerequisites(args.method, model, prof, prerequisite_runs, stand_in=stand_in,
                                           **options, **({"seed": args.seed} if args.seed else {}))
    if args.warm_start is not None:
        name, _, folder = args.warm_start.rpartition("=")
        method.start_from(runs.finished(name or "rnet", model, prof, folder))
    try:
        res = train_on_set(method, root, out, prof, steps=args.steps, seed=args.seed, resume=not args.restart,
                           progress=not args.quiet, snapshots=tuple(args.snapshots or ()))
    except TrainingInterrupted as stop:
        print(stop)
        return 130
    print(f"{method.name}: {res.steps} steps from step {res.started_at} in {res.seconds:.1f} s -> {out}")
    if args.evaluate is not None:
        rec = evaluate(method.predict, root, method=method.name, chapter="train", profile=prof,
                       limit=None if args.evaluate < 0 else args.evaluate, write=False, progress=not args.quiet)
        (Path(out) / "metrics.json").write_text(json.dumps(rec["views"], indent=1, sort_keys=True))
        for view, row in rec["views"].items():
            print(f"{view:9s}" + "  ".join(f"{k}={row[k]['mean']:.4f}" for k in
                                           ("landmark_me", "perceptual_dlib", "shape_v2v_mm") if k in row))
    return 0


def refine_main(args: argparse.Namespace) -> int:
    """Print the test-time refinement curve of a finished run (chapter 5's shape lever)."""
    from . import profile as profiles
    from . import runs
    from .data import synthetic
    from .evaluation.shape import TRUTH, refinement_curve
    from .morphable import MorphableModel

    prof = profiles.resolve(args.profile)
    root = args.root or synthetic.default_root(prof.name)
    if args.root is None:
        synthetic.generate(root, synthetic.config_for(prof), progress=False)
    model = MorphableModel.from_ict()
    method = runs.finished(args.method, model, prof, run_folder(args.method, prof, args.run_dir, {}))
    predictor = method.skin_masked() if args.mask and hasattr(method, "skin_masked") else method
    steps = tuple(int(s) for s in args.steps.split(","))
    anchors = tuple(a for a in args.anchors.split(",")) if args.anchors else ("network", "detector", TRUTH)
    curve = refinement_curve(predictor, root, steps=steps, anchors=anchors, limit=args.faces, model=model)
    rows = {"mean face": {k: curve["mean_face"][k]["mean"] for k in ("shape_v2v_mm", "identity_cosine", "landmark_me")}}
    for anchor, points in curve["curves"].items():
        for k, v in points.items():
            rows[f"{anchor} {k} steps"] = {m: v[m]["mean"] for m in ("shape_v2v_mm", "identity_cosine", "landmark_me")}
            rows[f"{anchor} {k} steps"]["seconds_per_face"] = v["seconds_per_face"]
    print(json.dumps({"method": args.method, "profile": prof.name, "faces": len(curve["faces"]), "rows": rows},
                     indent=1))
    return 0


def timings_main(args: argparse.Namespace) -> int:
    """Print the measured time per chapter (README's table) from the committed results."""
    from .results import timings_markdown

    print(timings_markdown(args.profile))
    return 0


def benchmark_table_main(args: argparse.Namespace) -> int:
    """Print README's results table (chapter 10's benchmark) from the committed results."""
    from .evaluation.protocols.benchmark import readme_table

    print(readme_table(args.profile))
    return 0


def store_main(args: argparse.Namespace) -> int:
    """Store an executed chapter's outputs into the book's notebook, with static figure twins."""
    from .notebooks import store

    for note in store(args.executed, args.target, twins=not args.no_figures):
        print(note)
    print(f"stored {args.executed} -> {args.target}")
    return 0


def figures_main(args: argparse.Namespace) -> int:
    """Add (or remove) the static PNG twins of the plotly figures stored in notebooks."""
    from .notebooks import static_figures_main

    for path, n in static_figures_main(args.notebooks, remove=args.remove).items():
        print(f"{path}: {n} static twin{'s' * (n != 1)} {'removed' if args.remove else 'drawn'}")
    return 0


def reconstruct_main(args: argparse.Namespace) -> int:
    """A photo's face as a mesh (OBJ, millimetres) from a finished run (:mod:`facelib.reconstruct`)."""
    from .reconstruct import reconstruct

    out = args.output or Path(args.photo).with_suffix(".obj").name
    face = reconstruct(args.photo, args.run_dir, profile=args.profile, method=args.method, face=args.face,
                       detector=args.detector, upsample=args.upsample)
    path = face.write_obj(out, colours=not args.no_colours)
    x0, y0, x1, y1 = face.box
    print(f"{args.photo}: face at x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f}; {face.method} from {face.run_dir} -> "
          f"{path} ({len(face.vertices)} vertices, mm)")
    return 0


def real_scan_main(args: argparse.Namespace) -> int:
    """The fit's weights side by side on a real scan, real photos and the synthetic set (or the scan's diagnosis)."""
    import time

    from . import runs
    from .data import synthetic
    from .evaluation import real_scan
    from .morphable import MorphableModel
    from .profile import resolve
    from .reconstruct import method_of_run, profile_of_run
    from .reproduce import use_threads
    from .results import code_version

    if (args.run_dir is None) == (args.fits_only is None):
        raise FacelibError("name a finished run (--run RUN_DIR) or, for the fit alone, a profile (--fits-only PROFILE)")
    if args.fits_only is not None and args.diagnose:
        raise FacelibError("--diagnose compares a network's refinement with the fit: it needs --run RUN_DIR, "
                           "not --fits-only")
    prof = profile_of_run(args.run_dir) if args.run_dir is not None else resolve(args.fits_only)
    use_threads(prof.threads)
    model = MorphableModel.from_ict()
    root = synthetic.default_root(prof.name)
    if not args.diagnose:  # the diagnosis uses the scan alone
        synthetic.generate(root, synthetic.config_for(prof), progress=True)
    started = time.perf_counter()
    record = {"profile": prof.name, "commit": code_version(), "date": time.strftime("%Y-%m-%d"),
              "fit_steps": prof.fit_steps, "refine_steps": prof.refine_steps}
    sizes = {"image_size": prof.image_size, "fit_steps": prof.fit_steps, "refine_steps": prof.refine_steps}
    if args.fits_only is not None:
        record |= {"command": f"python -m facelib real-scan --fits-only {prof.name} --limit {args.limit}",
                   **real_scan.fit_only_levers(model, root, real_scan.fit_arms(), image_size=prof.image_size,
                                               fit_steps=prof.fit_steps, synthetic_limit=args.limit)}
        return _write_record(record, started, args.out)
    method = runs.finished(method_of_run(args.run_dir), model, prof, args.run_dir)
    if args.diagnose:
        arms = real_scan.lever_arms()
        arms = {k: arms[k] for k in ("Deep3D", "prior ×10", "landmarks only, prior ×10", "prior ×30")}
        record |= {"command": f"python -m facelib real-scan --run {args.run_dir} --diagnose",
                   **real_scan.scan_diagnosis(model, method, arms, **sizes)}
    else:
        record |= {"command": f"python -m facelib real-scan --run {args.run_dir} --limit {args.limit}",
                   **real_scan.fit_levers(model, method, root, real_scan.lever_arms(), synthetic_limit=args.limit,
                                          **sizes)}
    return _write_record(record, started, args.out)


def _write_record(record: dict, started: float, out: str | None) -> int:
    """A measurement's record with its wall time: its arms printed, the whole written to ``out``."""
    import time

    record["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(record["arms"], indent=1, ensure_ascii=False))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return 0


def stand_in_budget_main(args: argparse.Namespace) -> int:
    """Measure the stand-in's step budgets side by side (issue 34; DESIGN-NOTES 40)."""
    from . import bench
    from . import profile as profiles
    from .evaluation import identity
    from .results import project_root

    prof = profiles.resolve(args.profile)
    path = project_root() / identity.STAND_IN_BENCH
    records = bench.read_records(path)
    precision = prof.precision or "no"
    timed = next((r for r in records if r["method"] == "pretrain" and r.get("profile") == prof.name), None)
    if timed is None:
        raise FacelibError(f"{path} has no step time of the stand-in at profile {prof.name}: time it with "
                           f"`python -m facelib.bench train --profile {prof.name} --precisions no {precision}`")
    book = bench.estimate_book(prof.name, records, precision)["total"]
    out = Path(args.out) if args.out else project_root() / "results" / "identity" / f"stand-in-budget-{prof.name}.json"
    rec = identity.stand_in_budget(book, prof.name, tuple(args.budgets), progress=not args.quiet, out=out,
                                   stand_in_step_seconds=bench.step_time(timed, precision))
    print(identity.budget_markdown(rec))
    return 0


#: the options each mechanism experiment takes (the others train as the chapters do)
MECHANISM_OPTIONS = {"focus": ("segment_steps", "every"), "focus-departures": (), "orn": ("steps", "every", "arm"),
                     "orn-departures": (), "rogue": ("arm",), "contour": ("arm",), "contour-departures": ()}


def mechanism_main(args: argparse.Namespace) -> int:
    """A paper's mechanism experiment (issue 35; facelib.evaluation.mechanisms, facelib.experiments)."""
    from . import experiments
    from .evaluation import mechanisms
    from .results import project_root

    given = [k for k in ("segment_steps", "every", "steps", "arm") if getattr(args, k) is not None]
    refused = [k for k in given if k not in MECHANISM_OPTIONS[args.paper]]
    if refused:
        takes = ", ".join("--" + k.replace("_", "-") for k in MECHANISM_OPTIONS[args.paper]) or "none of them"
        raise FacelibError(f"mechanism {args.paper} does not take {', '.join('--' + k.replace('_', '-') for k in refused)} "
                           f"(it takes {takes})")
    base = project_root() / "results" / "mechanisms"
    out = Path(args.out) if args.out else base / f"{args.paper}-{args.profile}.json"
    kw = {"out": out, "logs": base / "logs" / args.profile, "progress": not args.quiet}
    run = {"focus": lambda: experiments.focus_oracle(args.profile, args.segment_steps, args.every, **kw),
           "focus-departures": lambda: experiments.focus_departures(args.profile, **kw),
           "orn": lambda: experiments.orn_curve(args.profile, args.steps, args.every, args.arm, **kw),
           "orn-departures": lambda: experiments.mopi_balance(args.profile, **kw),
           "rogue": lambda: experiments.rogue_arms(args.profile, args.arm, **kw),
           "contour-departures": lambda: experiments.contour_departures(args.profile, **kw),
           "contour": lambda: experiments.contour_chain(args.profile, args.arm, **kw)}
    print(mechanisms.markdown(args.paper, run[args.paper]()))
    return 0


def controls_main(args: argparse.Namespace) -> int:
    """The negative or the positive control, trained as the book trains (facelib.experiments.controls)."""
    from . import experiments
    from .results import project_root

    name = f"seeds-{args.profile}-{args.method}" if args.what == "seeds" else f"visibility-{args.profile}"
    out = Path(args.out) if args.out else project_root() / "results" / "controls" / f"{name}.json"
    rec = experiments.controls(args.what, args.profile, args.method, tuple(args.seeds), args.before_stand_in, out,
                               progress=not args.quiet)
    print(json.dumps({k: rec[k] for k in ("control", "base", "passes", "trainings") if k in rec}, indent=1))
    print(f"-> {out}")
    return 0


def ablations_main(args: argparse.Namespace) -> int:
    """Train and evaluate the chapters' rows off the reference path (facelib.ablations)."""
    from . import ablations
    from . import profile as profiles
    from .data import synthetic

    prof = profiles.resolve(args.profile)
    chapters = args.chapter or sorted(ablations.DECLARED)
    unknown = [c for c in chapters if c not in ablations.DECLARED]
    if unknown:
        raise FacelibError(f"no ablation rows declared for {unknown}; chapters with some: {sorted(ablations.DECLARED)}")
    root, model = synthetic.prepared(prof, not args.quiet)
    for chapter in chapters:
        rec = ablations.run(chapter, prof, root, model, progress=not args.quiet, fresh=args.again)
        print(f"{chapter}: {len(rec['rows'])} rows -> results/{chapter}/{prof.name}/{ablations.FILE}")
    return 0


def real_faces_main(args: argparse.Namespace) -> int:
    """Score dlib, the mean face, finished runs, their refinement and a fit on real annotated photos."""
    from . import profile as profiles
    from . import runs
    from .evaluation.real_faces import evaluate_real_faces
    from .morphable import MorphableModel
    from .reconstruct import method_of_run, profile_of_run

    folders = {}
    for spec in args.runs:
        label, sep, folder = spec.rpartition("=")
        if not sep:
            raise FacelibError(f"--run takes LABEL=RUN_DIR (e.g. R-Net=runs/05_baselines/cpu/rnet), not {spec!r}")
        folders[label] = folder
    if args.profile:
        prof = profiles.resolve(args.profile)
    else:  # the runs' own, read from their folders' paths; all alike, since one image size serves them
        found = {profile_of_run(folder).name for folder in folders.values()} or {"cpu"}
        if len(found) > 1:
            raise FacelibError(f"the runs come from several profiles ({', '.join(sorted(found))}): score one profile's "
                               f"runs at a time, or give --profile")
        prof = profiles.resolve(found.pop())
    model = MorphableModel.from_ict()
    predictors = {label: runs.finished(method_of_run(folder), model, prof, folder) for label, folder in folders.items()}
    import time

    from .results import code_version

    record = {"profile": prof.name, "commit": code_version(), "date": time.strftime("%Y-%m-%d"),
              "command": "python -m facelib real-faces " + " ".join(
                  f"--run '{s}'" if " " in s else f"--run {s}" for s in args.runs) + f" --profile {prof.name}",
              "runs": dict(s.rpartition("=")[::2] for s in args.runs),
              **evaluate_real_faces(model, prof.image_size, predictors, fit_steps=prof.fit_steps,
                                    refine_steps=prof.refine_steps)}
    width = max(len(k) for k in record["rows"])
    print(f"{len(record['photos'])} photos ({', '.join(record['photos'])}); 300-W NME, % of the outer-eye-corner distance")
    for label, row in record["rows"].items():
        print(f"{label:{width}s}  {row['mean']:6.2f} [{row['interval'][0]:.2f}, {row['interval'][1]:.2f}]  per photo "
              + " ".join(f"{v:.2f}" for v in row["nme_percent"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
        print(f"-> {args.out}")
    return 0


def book_main(args: argparse.Namespace) -> int:
    """Execute every chapter (``make book``), with progress and resume (:mod:`facelib.bookrun`)."""
    from .bookrun import main as run

    return run(args)


def parser() -> argparse.ArgumentParser:
    from .methods import names

    p = argparse.ArgumentParser(prog="python -m facelib", description="Occluded Faces: train and evaluate methods.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a method on the synthetic benchmark", description=
                       "Train a method on the synthetic benchmark (generated when missing); SIGINT/SIGTERM "
                       "saves a checkpoint, the same command resumes.")
    t.add_argument("--method", required=True, choices=names())
    t.add_argument("--profile", default="auto", help="smoke | cpu | gpu | auto (default)")
    t.add_argument("--steps", type=int, help="override the profile's training steps")
    t.add_argument("--snapshots", type=int, nargs="+", metavar="STEP",
                   help="also save the networks after these steps (snapshot-<step>.pt; not part of the run signature)")
    t.add_argument("--run-dir", type=Path, help="checkpoint folder (default: the folder its chapter uses, "
                   "runs/<chapter>/<profile>/<method>; required with --set)")
    t.add_argument("--root", type=Path, help="face set (default data/synthetic/<profile>)")
    t.add_argument("--teacher", type=Path, help="the finished run a method is built from (sopi: an R-Net run, default "
                   "runs/05_baselines/<profile>/rnet; mopi: a SOPI run, default runs/06_orn/<profile>/sopi)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a constructor option of the method, VALUE as JSON or a plain string "
                        "(e.g. --set loss=l1 for SOPI, --set losses_used=label for MOPI)")
    t.add_argument("--warm-start", metavar="[METHOD=]RUN_DIR", help="start the encoder from a finished run's "
                   "(default method rnet), e.g. --warm-start runs/05_baselines/cpu/rnet; needs its own --run-dir")
    t.add_argument("--seed", type=int, default=0,
                   help="another draw of the encoder's initial weights and of the batch order (default 0, the "
                        "chapters' runs; another seed needs its own --run-dir)")
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    t.add_argument("--evaluate", type=int, nargs="?", const=-1, metavar="N",
                   help="evaluate on the test split afterwards (N images; all without N) and write "
                        "<run-dir>/metrics.json")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(run=train_main)
    r = sub.add_parser("refine", help="test-time refinement curve of a finished run (chapter 5's shape lever)",
                       description="Refine a finished run's predictions on clean test faces for several step "
                       "counts and landmark anchors; print shape error, identity cosine and landmark ME (JSON).")
    r.add_argument("--method", required=True, choices=names())
    r.add_argument("--profile", default="auto")
    r.add_argument("--run-dir", type=Path, help="the finished run (default: its chapter's folder)")
    r.add_argument("--root", type=Path, help="face set (default data/synthetic/<profile>)")
    r.add_argument("--faces", type=int, default=16, help="clean test faces (default 16)")
    r.add_argument("--steps", default="0,50,100,200", help="comma-separated refinement steps")
    r.add_argument("--anchors", default="", help="comma-separated: network, detector, truth (default all)")
    r.add_argument("--mask", action="store_true", help="fit only the method's predicted mask (R-Net: its skin)")
    r.set_defaults(run=refine_main)
    w = sub.add_parser("timings", help="measured wall time per chapter and training (README's table)",
                       description="Wall time of each chapter's committed run and of each training whose log "
                       "is committed under results/<chapter>/<profile>/logs/, as a Markdown table.")
    w.add_argument("--profile", default="cpu")
    w.set_defaults(run=timings_main)
    b = sub.add_parser("benchmark-table", help="README's results table (chapter 10) from the committed results",
                       description="Every method on the benchmark's clean, occluded and noisy test faces (mean and "
                       "95 %% interval), from the chapters' committed metrics and chapter 10's, as a Markdown table.")
    b.add_argument("--profile", default="cpu")
    b.set_defaults(run=benchmark_table_main)
    s = sub.add_parser("store", help="store an executed chapter's outputs into book/ (with static figures)",
                       description="Copy the outputs of an executed chapter (papermill's output notebook) into "
                       "the book's notebook, keeping the book's sources, and add a PNG twin after every plotly "
                       "figure so that GitHub shows it (needs kaleido and Chrome/Chromium).")
    s.add_argument("executed", type=Path)
    s.add_argument("target", type=Path)
    s.add_argument("--no-figures", action="store_true", help="skip the static PNG twins")
    s.set_defaults(run=store_main)
    f = sub.add_parser("static-figures", help="add or remove PNG twins of stored plotly figures",
                       description="Draw a PNG twin after every plotly figure stored in the notebooks (redrawing "
                       "existing twins), or remove them (--remove; `make html` does, the HTML has the "
                       "interactive figure).")
    f.add_argument("notebooks", type=Path, nargs="+")
    f.add_argument("--remove", action="store_true")
    f.set_defaults(run=figures_main)
    c = sub.add_parser("reconstruct", help="a photo's face as a mesh (OBJ) from a finished run",
                       description="Detect the face in PHOTO (dlib), align it as the benchmark frames faces, "
                       "predict its coefficients with the finished run in RUN_DIR and write the mesh (identity and "
                       "expression, millimetres, each vertex with its predicted albedo) as Wavefront OBJ.")
    c.add_argument("photo", help="an image file (JPEG, PNG, ...)")
    c.add_argument("--run", dest="run_dir", required=True, type=Path, help="a finished run folder, e.g. runs/05_baselines/cpu/rnet")
    c.add_argument("-o", "--output", type=Path, help="the OBJ to write (default: the photo's name, .obj, here)")
    c.add_argument("--profile", help="the run's profile (default: read from the run folder's path)")
    c.add_argument("--method", choices=names(), help="the run's method (default: its checkpoint's)")
    c.add_argument("--face", default="only", help="with several faces: 'largest' or an index from the left "
                   "(default: refuse several)")
    c.add_argument("--detector", default="hog", choices=("hog", "cnn"), help="dlib's detector (cnn finds harder faces)")
    c.add_argument("--upsample", type=int, default=1, help="upsample the photo before detection (2 finds smaller or "
                   "turned faces, four times slower; default 1)")
    c.add_argument("--no-colours", action="store_true", help="write positions only")
    c.set_defaults(run=reconstruct_main)
    e = sub.add_parser("real-faces", help="landmark error on real annotated photos (dlib, mean face, runs, fit)",
                       description="Score dlib's points, the mean face, each finished run, its refinement from dlib's "
                       "points and a fit from the mean face against the ground-truth 68 points of real photos "
                       "(300-W NME), each photo processed as a reader's is (facelib.evaluation.real_faces).")
    e.add_argument("--profile", help="the runs' profile (image size, fit and refinement steps; default: read from the "
                   "run folders' paths, else cpu)")
    e.add_argument("--run", dest="runs", action="append", default=[], metavar="LABEL=RUN_DIR", help="a finished run (repeatable)")
    e.add_argument("--out", help="write the record (JSON) here")
    e.set_defaults(run=real_faces_main)
    r = sub.add_parser("real-scan", help="the fit's weights on a real 3D scan, real photos and the synthetic set",
                       description="Fit and refine with each of the fit's weightings (Deep3D's, a stronger prior, "
                       "landmarks alone) and score them side by side: scan-to-mesh on a real textured scan (menpo3d's "
                       "james), landmark NME on real annotated photos, the refinement's shape gain on the synthetic "
                       "set (facelib.evaluation.real_scan; DESIGN-NOTES 35).")
    r.add_argument("--run", dest="run_dir", metavar="RUN_DIR",
                   help="a finished run: its network is refined; its profile sets sizes and steps")
    r.add_argument("--fits-only", metavar="PROFILE", help="no network: the fit from the mean face with its landmark "
                   "and expression levers, at PROFILE's sizes (real_scan.fit_arms; DESIGN-NOTES 49)")
    r.add_argument("--limit", type=int, default=96, help="clean synthetic validation faces for the refinement's shape "
                   "gain, or with --fits-only for the fit's v2v (not used by --diagnose)")
    r.add_argument("--diagnose", action="store_true", help="the scan alone: a fit against a refinement, true landmarks "
                   "against dlib's")
    r.add_argument("--out", help="write the record (JSON) here")
    r.set_defaults(run=real_scan_main)
    g = sub.add_parser("stand-in-budget", help="the stand-in's step budgets side by side (chapter 5; issue 34)",
                       description="Train one stand-in to the largest budget with snapshots at the others, score each "
                       "on the validation split, train R-Net from each as the chapters do, and choose the budget by "
                       "R-Net's identity-only v2v within 20 % of the book's estimated time "
                       "(facelib.evaluation.identity.stand_in_budget; about an hour at cpu).")
    g.add_argument("--profile", default="cpu")
    g.add_argument("--budgets", type=int, nargs="+", default=[1000, 3000, 6000], metavar="STEPS")
    g.add_argument("--out", help="the JSON record (default results/identity/stand-in-budget-<profile>.json)")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(run=stand_in_budget_main)
    m = sub.add_parser("mechanism", help="a paper's mechanism shown acting (chapters 6-9; issue 35)",
                       description="FOCUS: its segmentation network S trained against an oracle reconstruction (the "
                       "render of the true coefficients) with the code's and the paper's preserve weight, scored on "
                       "the validation split beside the skin detector (facelib.evaluation.mechanisms; about 20 min "
                       "at cpu). focus-departures: FOCUS trained with the code's and the paper's preserve weight, and "
                       "with its identity reader trained, scored on the validation split (about 80 min at cpu with "
                       "the stand-in to train). orn: SOPI's learning curve to four times chapter 6's steps, the "
                       "occluded/unoccluded landmark change at each chapter budget, beside SOPI taught by the true "
                       "coefficients and SOPI started from the stand-in (facelib.experiments; about 2 h at cpu). "
                       "orn-departures: MOPI with Eq. 9's weights and with L_perc's weight times the measured "
                       "gradient ratio (about 40 min at cpu). "
                       "rogue: ROGUE's arms from chapter 5's R-Net beside R-Net continued on clean faces, judged on "
                       "how far C_O and C_N move from C_G (about 1 h at cpu). contour: chapter 9's chain with "
                       "generated, true (the clean twin's) or no contours, judged on the fill and on R-Net's landmarks "
                       "on it (about 30 min at cpu).")
    m.add_argument("paper", choices=list(MECHANISM_OPTIONS))
    m.add_argument("--profile", default="cpu")
    m.add_argument("--segment-steps", type=int, default=None, help="S's steps after its initialisation "
                   "(default four times chapter 8's)")
    m.add_argument("--every", type=int, default=None, help="steps between scored snapshots (default: focus, chapter "
                   "8's S steps; orn, chapter 6's steps)")
    m.add_argument("--steps", type=int, default=None, help="orn: each arm's steps (default four times chapter 6's)")
    m.add_argument("--arm", action="append", default=None, metavar="RUN",
                   help="orn, rogue: train and score only this arm (orn: sopi, sopi-truth, sopi-stand-in; rogue: "
                   "rnet-continued, rogue, rogue-no-consistency, rogue-robust-guidance; contour: generated, true, "
                   "none; repeatable)")
    m.add_argument("--out", help="the JSON record (default results/mechanisms/<paper>-<profile>.json)")
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(run=mechanism_main)
    a = sub.add_parser("ablations", help="the chapters' ablation and refinement rows, off the reference path",
                       description="Train (or load) and evaluate every row a chapter shows beside its paper's method "
                       "but that `make book` does not train: ablation arms, levers, refinement rows "
                       "(facelib.ablations). Each chapter's rows go to results/<chapter>/<profile>/ablations.json and "
                       "their runs' logs beside it; the chapter reads them, and refuses rows made from another "
                       "training than its own.")
    a.add_argument("--profile", default="cpu")
    a.add_argument("--chapter", action="append", default=None, help="only this chapter (e.g. 06_orn; repeatable)")
    a.add_argument("--again", action="store_true", help="evaluate every row again, also those already made from "
                   "the same training (after a change to the evaluation)")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(run=ablations_main)
    o = sub.add_parser("controls", help="the negative control (two seeds) or the positive one (the visibility oracle)",
                       description="Train (or load) the control's runs from the profile's stand-in as the book trains "
                       "its methods (chapter 5's R-Net is the seed-0 arm), evaluate them on the test faces and write "
                       "the record to results/controls/ (facelib.evaluation.controls; chapter 10 reads it).")
    o.add_argument("what", choices=("seeds", "visibility"))
    o.add_argument("--profile", default="cpu")
    o.add_argument("--method", default="rnet", help="the seed control's method (default rnet)")
    o.add_argument("--seeds", type=int, nargs=2, default=[0, 1])
    o.add_argument("--before-stand-in", action="store_true", help="train on the profile before the stand-in, as "
                   "the controls were first measured (ResNet-18 from random weights at cpu)")
    o.add_argument("--out", default=None, help="where the record goes (default results/controls/seeds-<profile>-"
                   "<method>.json or visibility-<profile>.json)")
    o.add_argument("--quiet", action="store_true")
    o.set_defaults(run=controls_main)
    k = sub.add_parser("book", help="execute every chapter (what `make book` runs), telling where it is; resumes",
                       description="Execute the chapters one after the other with papermill into "
                       "_build/executed/<profile>/, printing the chapter, the training running, its step and the "
                       "time left. Chapters executed earlier by the same cells and facelib are kept, so an "
                       "interrupted run resumes where it stopped (Ctrl-C checkpoints the training running).")
    k.add_argument("--profile", default="auto", help="smoke | cpu | gpu | auto (default)")
    k.add_argument("--restart", action="store_true", help="execute every chapter again")
    k.add_argument("--every", type=float, default=60.0, help="seconds between progress lines (default 60)")
    k.add_argument("--stage", type=Path, help="copy the executed chapters into this folder (the HTML's staging)")
    k.set_defaults(run=book_main)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
