"""Throughput benchmarks, one JSON line per measurement:

* ``python -m facelib.bench render``: images/s of the renderer forward and forward+backward, of a
  ResNet-18 forward+backward on the same batch, and the ratio of their forward+backward times (the
  renderer should cost at most half the network, DESIGN 3);
* ``python -m facelib.bench embedders``: each face embedder's forward and forward+backward time;
* ``python -m facelib.bench train``: per method (and per phase of a scheduled one), the time of one
  training step of the loop (:func:`facelib.train.optimisation_step`, on a batch of the profile's
  synthetic set) as a ratio to its encoder's own forward+backward over the same images — what a
  method costs beyond the network it trains (issue 20 asks for at most 1.5) — with and without
  what the step remembers per training item; ``--precisions no bf16`` and ``--nondeterministic``
  time the same step in bf16 and without deterministic kernels, interleaved;
* ``python -m facelib.bench parity``: a method trained in float32 and in bf16 from the same seed,
  scored face by face, intervals over identities;
* ``python -m facelib.bench same``: the reader's training command in fresh processes, quiet, beside
  busy ones and interrupted, every tensor of the checkpoints compared (issue 31);
* ``python -m facelib.bench estimate``: the whole book's time from a ``bench train`` record.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import torch

from .checkpoints import CHECKPOINT
from .errors import FacelibError, run_cli


def _seconds(t: float) -> float:
    """A time for the report, to four significant digits (decimals would erase a tiny set's steps)."""
    return float(f"{t:.4g}")


def _best_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def bench_render(backend: str, size: int, batch: int, repeats: int, device: str, seed: int = 0,
                 region: str = "narrow") -> dict:
    """Measure renderer and ResNet-18 throughput at one size; returns the JSON record."""
    from .morphable import MorphableModel
    from .nets.resnet import resnet
    from .render import Renderer
    from .sampling import random_coefficients

    model = MorphableModel.from_ict(region).to(device)
    renderer = Renderer(model, size, backend=backend).to(device)
    gen = torch.Generator().manual_seed(seed)
    coeffs = random_coefficients(model, batch, gen).to(device)

    def render_fwd():
        with torch.no_grad():
            renderer(coeffs)

    def render_fwd_bwd():
        c = coeffs.clone().requires_grad_(True)
        renderer(c).image.square().mean().backward()

    net = resnet("resnet18", model.layout.total).to(device)
    images = torch.rand(batch, 3, size, size, generator=gen).to(device)

    def net_fwd_bwd():
        net.zero_grad(set_to_none=True)
        net(images).square().mean().backward()

    t_fwd = _best_time(render_fwd, repeats)
    t_fb = _best_time(render_fwd_bwd, repeats)
    t_net = _best_time(net_fwd_bwd, repeats)
    return {
        "backend": backend, "region": region, "triangles": int(model.triangles.shape[0]), "size": size, "batch": batch, "device": device,
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "render_fwd_img_s": round(batch / t_fwd, 1), "render_fwd_bwd_img_s": round(batch / t_fb, 1),
        "resnet18_fwd_bwd_img_s": round(batch / t_net, 1),
        "render_fwd_bwd_s": _seconds(t_fb), "resnet18_fwd_bwd_s": _seconds(t_net),
        "ratio_render_to_resnet18": round(t_fb / t_net, 3),
    }


def bench_embedders(names, size: int, batch: int, repeats: int, device: str) -> list[dict]:
    """Forward and forward+backward (to the images) time of each available embedder on aligned
    ``size`` crops; unavailable ones are reported with the reason."""
    from . import recognition

    out = []
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    for name in names:
        try:
            net = recognition.load(name, allow_download=False).to(device)
        except recognition.EmbedderUnavailable as err:
            out.append({"embedder": name, "unavailable": str(err)})
            continue

        def fwd(net=net):
            with torch.no_grad():
                net.embed(images)

        def fwd_bwd(net=net):
            x = images.clone().requires_grad_(True)
            net.embed(x).square().sum().backward()

        out.append({"embedder": name, "size": size, "batch": batch, "device": device,
                    "threads": torch.get_num_threads(),
                    "fwd_s": _seconds(_best_time(fwd, repeats)), "fwd_bwd_s": _seconds(_best_time(fwd_bwd, repeats))})
    return out


def untrained(name: str, model, profile):
    """Method ``name`` built with untrained prerequisites (a teacher's cost does not depend on
    its weights), for timing only."""
    from . import methods

    options = {p.argument: untrained(p.method, model, profile) for p in methods.method_class(name).prerequisites}
    return methods.build(name, model, profile, **options)


def bench_train(name: str, profile, root, repeats: int, device: str, model=None, precisions=("no",),
                nondeterministic: bool = False) -> dict:
    """Median time of one training step of method ``name`` in each phase of its schedule (steps of
    ``profile``) on the first batch of the training split at ``root``, and of its encoder's
    forward+backward over the images the step sent through the encoder (counted with a forward
    hook; the profile's batch when a phase does not use the encoder). The record's ``ratio`` is
    the whole run's step time over its encoder time, phases weighted by their number of steps.
    Data loading is not timed (the loop's sets are held in memory). The step is timed on a batch it
    has met before — the steady state after the first epoch (the cpu profile trains 20 epochs), in
    which what a method remembers per training item (:meth:`~facelib.methods.base.Method.remembered`)
    is not recomputed. Each phase is also timed with that memory off (``*_recomputing``: the step as
    it was before it remembered anything), side by side in the same process. Each further precision
    of ``precisions`` (``"bf16"``: :func:`facelib.train.autocast`) is timed interleaved with them
    (``step_s_<precision>``, ``ratio_<precision>``, always against the float32 encoder), and the
    record says which precision each name ran in here (:func:`facelib.train.precision_in_use`).
    With ``nondeterministic``, each precision is also timed without deterministic kernels
    (``step_s_<precision>_nondeterministic``: what :func:`facelib.reproduce.deterministic` costs)."""
    from .data.folder import FaceFolder
    from .morphable import MorphableModel
    from .reproduce import kernels_switched
    from .train import _collate_to, batch_indices, optimisation_step, precision_in_use, seed_everything

    model = model or MorphableModel.from_ict()
    seed_everything(0)
    method = untrained(name, model, profile).to(device)
    train_set = FaceFolder(root, "train", views=method.views, masks=method.masks)
    items = batch_indices(len(train_set), method.batch_items(profile.batch_size), 0, 0)
    batch = _collate_to(torch.utils.data.default_collate([train_set[i] for i in items]), method.device)
    encoder = method.nets["encoder"]
    seen = []
    hook = encoder.register_forward_hook(lambda module, args, out: seen.append(int(args[0].shape[0])))
    steps, shares, steps_of = profile.train_steps, {}, {}
    for step in range(steps):
        shares.setdefault(method.phase_of(step), [step, 0])[1] += 1
        steps_of.setdefault(method.phase_of(step), []).append(step)
    phases = {}
    method.train_mode(True)
    used = {p: precision_in_use(p, cpu=device == "cpu") for p in precisions}
    # (label, precision, deterministic kernels) timed beside the first precision
    others = [(p, p, True) for p in precisions[1:] if p != precisions[0]]
    if nondeterministic:
        others += [(f"{p}_nondeterministic", p, False) for p in precisions]
    try:
        for phase, (_, count) in shares.items():
            calls = itertools.count()

            def step_once(phase=phase, precision=used[precisions[0]], calls=calls, kernels=True):
                # the phase's own steps in turn (what a step does may depend on it: MOPI logs its
                # gradient norms every tenth step); the same random draws in every timed step
                torch.manual_seed(0)
                own = steps_of[phase]
                with kernels_switched(kernels):
                    optimisation_step(method, batch, own[next(calls) % len(own)], precision=precision)
            seen.clear()
            step_once()
            for _, p, det in others:
                step_once(precision=used[p], kernels=det)  # warm-up
            images = sum(seen) // (1 + len(others)) or profile.batch_size
            # interleaved, so all see the same machine: remembering, recomputing (the step before it
            # remembered), and each further precision
            remembering, recomputing, by_precision = [], [], {label: [] for label, _, _ in others}
            for _ in range(repeats):
                remembering.append(_best_time(step_once, 1, warmup=0))
                with method.recomputing():
                    recomputing.append(_best_time(step_once, 1, warmup=0))
                for label, p, det in others:
                    by_precision[label].append(_best_time(lambda p=p, det=det: step_once(precision=used[p], kernels=det),
                                                          1, warmup=0))
            step_s, plain_s = (sorted(t)[len(t) // 2] for t in (remembering, recomputing))
            extra = {p: sorted(t)[len(t) // 2] for p, t in by_precision.items()}
            x = torch.rand(images, 3, method.image_size, method.image_size, generator=torch.Generator().manual_seed(0),
                           device=method.device)

            def encoder_once(x=x):
                encoder.zero_grad(set_to_none=True)
                encoder(x).square().mean().backward()
            encoder_s = _best_time(encoder_once, repeats)
            phases[phase] = {"steps": count, "step_s": _seconds(step_s), "encoder_images": images,
                             "encoder_fwd_bwd_s": _seconds(encoder_s), "ratio": round(step_s / encoder_s, 3),
                             "step_s_recomputing": _seconds(plain_s), "ratio_recomputing": round(plain_s / encoder_s, 3),
                             **{f"step_s_{p}": _seconds(t) for p, t in extra.items()},
                             **{f"ratio_{p}": round(t / encoder_s, 3) for p, t in extra.items()}}
    finally:
        hook.remove()
    total = sum(p["steps"] * p["step_s"] for p in phases.values())
    plain = sum(p["steps"] * p["step_s_recomputing"] for p in phases.values())
    reference = sum(p["steps"] * p["encoder_fwd_bwd_s"] for p in phases.values())
    extra_totals = {label: sum(ph["steps"] * ph[f"step_s_{label}"] for ph in phases.values()) for label, _, _ in others}
    return {"method": name, "profile": profile.name, "backbone": profile.backbone, "size": method.image_size,
            "batch": profile.batch_size, "device": device, "threads": torch.get_num_threads(),
            "precision": {p: used[p] for p in precisions},
            **{f"step_s_{p}": _seconds(t / steps) for p, t in extra_totals.items()},
            **{f"ratio_{p}": round(t / reference, 3) for p, t in extra_totals.items()},
            "step_s": _seconds(total / steps), "encoder_fwd_bwd_s": _seconds(reference / steps),
            "ratio": round(total / reference, 3), "step_s_recomputing": _seconds(plain / steps),
            "ratio_recomputing": round(plain / reference, 3), "phases": phases}


def bench_parity(name: str, profile, root, precisions=("no", "bf16"), split: str = "val",
                 progress: bool = False, model=None) -> dict:
    """Train method ``name`` (default configuration, the profile's steps and seed) once per precision
    into ``runs/bench/<profile>/<name>_<precision>`` (a finished run is loaded), then score every
    face of ``split`` in float32: landmark ME (px at 224) per input view and, on clean faces, the
    shape error (v2v, mm). Intervals resample *identities* (each identity's faces averaged first:
    the faces of one identity are not independent). Returns ``{"runs": {precision: {...}},
    "metrics": {metric: {precision: mean, "half_width": h, "difference_<p>": interval,
    "within_<p>": bool}}}``: ``half_width`` is that of the first precision's 95 % interval of the
    metric (what the book's comparisons can resolve), ``difference_<p>`` the paired interval of
    (``p`` − first), and ``within_<p>`` whether that difference is smaller than ``half_width``."""
    import numpy as np

    from . import methods, results, stats
    from .camera import REFERENCE_SIZE
    from .data.folder import FaceFolder
    from .metrics import landmark_errors, shape_scores
    from .morphable import MorphableModel
    from .train import precision_in_use, train_on_set

    model = model or MorphableModel.from_ict()
    trained, runs = {}, {}
    for p in precisions:
        method = methods.build(name, model, profile)
        res = train_on_set(method, root, results.run_dir("bench", profile.name, f"{name}_{p}"), profile,
                           mixed_precision=p, progress=progress)
        trained[p] = method
        runs[p] = {"precision": precision_in_use(p), "training_seconds": round(res.training_seconds, 1),
                   "signature": res.signature}
    data = FaceFolder(root, split, views=("clean", "occluded", "noisy"))
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    per_face = {p: {} for p in precisions}
    identities = []
    for b in loader:
        identities += b["identity"].tolist()
        for p, method in trained.items():
            renderer = method.renderer
            for view in ("clean", "occluded", "noisy"):
                coeffs = method.predict(b[view]).coefficients
                with torch.no_grad():
                    lm = renderer.landmarks(coeffs)
                me = landmark_errors(lm.double(), b["landmarks68"].double(),
                                     normaliser=renderer.image_size / REFERENCE_SIZE)["me"]
                per_face[p].setdefault(f"landmark_me_{view}", []).append(me)
                if view == "clean":
                    per_face[p].setdefault("shape_v2v_mm_clean", []).append(
                        shape_scores(model, coeffs, b["coefficients"])["shape_v2v_mm"])
    ids = np.asarray(identities)
    order = sorted(set(identities))
    first, out = precisions[0], {}
    for metric in per_face[first]:
        by_id = {}
        for p in precisions:
            v = torch.cat(per_face[p][metric]).double().numpy()
            by_id[p] = np.array([v[ids == i].mean() for i in order])
        entry = {p: round(float(by_id[p].mean()), 4) for p in precisions}
        reference = stats.mean_interval(by_id[first])
        entry["half_width"] = round((reference.high - reference.low) / 2, 4)
        for p in precisions[1:]:
            iv = stats.paired_difference(by_id[p], by_id[first])
            entry[f"difference_{p}"] = {"estimate": round(iv.estimate, 4), "low": round(iv.low, 4),
                                        "high": round(iv.high, 4)}
            entry[f"within_{p}"] = bool(abs(iv.estimate) < entry["half_width"])
        out[metric] = entry
    return {"method": name, "profile": profile.name, "split": split, "faces": len(ids), "identities": len(order),
            "runs": runs, "metrics": out}


def _flat_tensors(value, prefix: str = "") -> dict:
    """Every tensor in a nested dict/list (a checkpoint's ``state``), by its path."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    out = {}
    for k, v in items:
        out.update(_flat_tensors(v, f"{prefix}/{k}" if prefix else str(k)))
    return out


def compare_checkpoints(a, b) -> dict:
    """Tensor-by-tensor comparison of two runs' checkpoints (networks and optimiser states):
    ``{"tensors": n, "differ": k, "max_abs": m}``, ``k`` the tensors not bit-identical."""
    from .checkpoints import load

    ta, tb = (_flat_tensors(load(Path(p) / CHECKPOINT)["state"]) for p in (a, b))
    if set(ta) != set(tb):
        raise FacelibError(f"{a} and {b} hold different tensors: {sorted(set(ta) ^ set(tb))[:5]}")
    differ = [k for k in ta if not torch.equal(ta[k], tb[k])]
    largest = max((float((ta[k].double() - tb[k].double()).abs().max()) for k in differ), default=0.0)
    return {"tensors": len(ta), "differ": len(differ), "max_abs": largest}


def _logged_step(run_dir: Path) -> int:
    from .train import read_log

    return max((e.get("step", 0) for e in read_log(run_dir, while_written=True)), default=0)


def bench_same(name: str, profile: str, steps: int, folder, loaded: int = 3, busy: int = 1,
               interrupt: bool = True, deterministic: bool = True, threads: int | None = None,
               progress=print) -> dict:
    """The reader's command ``python -m facelib train --method <name> --profile <profile> --steps
    <steps>`` run in fresh processes into fresh folders under ``folder``: once on the machine as it
    is ("quiet"), ``loaded`` times beside ``busy`` processes that each keep a core busy, and (with
    ``interrupt``) once beside them stopped by SIGTERM half-way and run again (it resumes). Each
    run's checkpoint is compared with the quiet one's, every tensor (:func:`compare_checkpoints`).
    ``deterministic=False`` runs without deterministic kernels (``FACELIB_DETERMINISTIC=0``: the
    control of stop 38; the renderer's gradients no longer need them, DESIGN-NOTES 30). ``threads``
    runs every run but the quiet one with that many threads (``FACELIB_THREADS``: the control, which
    shows what the comparison catches — one thread sums in another order than two)."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from .reproduce import DETERMINISTIC_VARIABLE, THREADS_VARIABLE

    folder = Path(folder)
    quiet_env = {**os.environ, DETERMINISTIC_VARIABLE: "1" if deterministic else "0"}
    compared_env = quiet_env if threads is None else {**quiet_env, THREADS_VARIABLE: str(threads)}

    def command(run_dir: Path) -> list[str]:
        return [sys.executable, "-m", "facelib", "train", "--method", name, "--profile", profile, "--steps",
                str(steps), "--run-dir", str(run_dir), "--quiet"]

    def train(run_dir: Path, stop_at: int | None = None, env=quiet_env) -> float:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command(run_dir), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if stop_at is not None:
            while proc.poll() is None and _logged_step(run_dir) < stop_at:
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate()
        if proc.returncode not in ((0, 130) if stop_at is not None else (0,)):
            raise FacelibError(f"`{' '.join(command(run_dir))}` failed ({proc.returncode}):\n{out[-2000:]}")
        return time.perf_counter() - t0

    plan = [("quiet", 0, None)] + [(f"loaded {i + 1}", busy, None) for i in range(loaded)]
    if interrupt:
        plan.append(("loaded, SIGTERM and resume", busy, max(1, steps // 2)))
    rows = []
    for label, n_busy, stop_at in plan:
        run_dir = folder / label.replace(" ", "_").replace(",", "")
        shutil.rmtree(run_dir, ignore_errors=True)
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_busy)]
        try:
            env = compared_env if rows else quiet_env
            seconds = train(run_dir, stop_at, env)
            if stop_at is not None:
                stopped = _logged_step(run_dir)
                seconds += train(run_dir, env=env)
        finally:
            for p in spinners:
                p.kill()
                p.wait()
        row = {"run": label, "busy": n_busy, "seconds": round(seconds, 1)}
        if stop_at is not None:
            row["stopped_after"] = stopped
        if rows:
            row.update(compare_checkpoints(folder / "quiet", run_dir))
        rows.append(row)
        progress(json.dumps(row))
    return {"method": name, "profile": profile, "steps": steps, "deterministic": deterministic,
            "threads_compared": threads, "runs": rows}


#: a training log's run name (prefix) -> the registered method whose bench record times its step
RUN_METHODS = (("pretrain", "pretrain"), ("rnet", "rnet"),
               ("mofa", "mofa"), ("sopi", "sopi"), ("mopi", "mopi"), ("rogue", "rogue"),
               ("focus", "focus"), ("backbone", "focus_backbone"), ("r_syn", "focus_backbone"),
               ("contour", "contour"))


def read_records(path: str | Path) -> list[dict]:
    """The JSON lines of a ``bench train`` record file (e.g. ``results/bench/train-cpu-bf16.jsonl``)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def step_time(record: dict, precision: str, phase: str | None = None) -> float:
    """Seconds per training step in ``precision`` of one ``bench train`` ``record`` (of ``phase``'s
    steps for a scheduled method): ``step_s`` holds the first precision timed (and is the answer for
    a precision the record did not time), ``step_s_<precision>`` the others."""
    row = record["phases"][phase] if phase else record
    first = record["precision"].get(precision) is None or list(record["precision"])[0] == precision
    return row["step_s" if first else f"step_s_{precision}"]


def estimate_book(profile: str, records: list[dict], precision: str) -> dict:
    """The whole book's time in ``profile`` from measured costs: each chapter's own run as its banner
    recorded it (evaluation; trainings loaded) plus each committed training's steps (its log) times
    the ``bench train`` step time of its method in ``precision`` (``records``: the JSON lines,
    ``step_s`` for the first precision timed, ``step_s_<p>`` for the others; per phase for scheduled
    methods; a contour run that logged only the regression stage counts as that phase). Seconds:
    ``{"chapters": {chapter: s}, "trainings": {run: s}, "total": s}``."""
    import json as _json

    from .results import results_base, timings

    by_method = {r["method"]: r for r in records}

    chapters, trainings = {}, {}
    for row in timings(profile):
        chapters[row["chapter"]] = row["chapter_seconds"] or 0.0
        for run in row["trainings"]:
            method = next(m for prefix, m in RUN_METHODS if run.startswith(prefix))
            log = results_base() / row["chapter"] / profile / "logs" / f"{run}.jsonl"
            entries = [_json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            steps = max(e["step"] for e in entries)
            stages = {e["losses"].get("stage") for e in entries if "losses" in e}
            if method not in by_method:
                raise FacelibError(f"the bench record has no {method!r}, which the committed run {run!r} "
                                   f"({row['chapter']}) trained: time it with `python -m facelib.bench train "
                                   f"--methods {method} --profile {profile} --precisions no bf16` and add its line")
            record = by_method[method]
            if method == "contour" and stages == {3.0}:  # a regression-only variant (the chain copied)
                trainings[run] = steps * step_time(record, precision, "regression")
            elif len(record["phases"]) > 1:
                trainings[run] = sum(p["steps"] * step_time(record, precision, name) for name, p in record["phases"].items())
            else:
                trainings[run] = steps * step_time(record, precision)
    return {"precision": precision, "chapters": chapters, "trainings": {k: round(v) for k, v in trainings.items()},
            "chapters_total": round(sum(chapters.values())), "trainings_total": round(sum(trainings.values())),
            "total": round(sum(chapters.values()) + sum(trainings.values()))}


def main(argv=None) -> int:
    from .render import pytorch3d_available
    from .reproduce import use_threads

    p = argparse.ArgumentParser(prog="python -m facelib.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("render", help="renderer vs ResNet-18 throughput")
    r.add_argument("--sizes", type=int, nargs="+", default=[64, 112, 224])
    r.add_argument("--batch", type=int, default=16)
    r.add_argument("--repeats", type=int, default=5)
    r.add_argument("--backends", nargs="+", default=None, help="default: torch, + pytorch3d if it imports")
    r.add_argument("--region", default="narrow", help="ICT region: narrow (default), face, head")
    r.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    e = sub.add_parser("embedders", help="face embedders' forward / forward+backward time")
    e.add_argument("--names", nargs="+", default=["dlib", "facenet", "arcface"])
    e.add_argument("--size", type=int, default=112, help="side of the aligned input crops")
    e.add_argument("--batch", type=int, default=16)
    e.add_argument("--repeats", type=int, default=5)
    e.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    t = sub.add_parser("train", help="each method's training step vs its encoder's forward+backward")
    t.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    t.add_argument("--profile", default="cpu")
    t.add_argument("--root", help="face set (default data/synthetic/<profile>, generated when missing)")
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--precisions", nargs="+", default=["no"],
                   help="precisions timed side by side (e.g. no bf16); the first is the reference")
    t.add_argument("--nondeterministic", action="store_true",
                   help="also time each precision without deterministic kernels (what they cost)")
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    q = sub.add_parser("parity", help="a method trained in each precision, scored face by face")
    q.add_argument("--methods", nargs="+", default=["rnet"])
    q.add_argument("--profile", default="cpu")
    q.add_argument("--precisions", nargs="+", default=["no", "bf16"])
    q.add_argument("--split", default="val")
    m = sub.add_parser("same", help="the same training in fresh processes, quiet and beside busy ones: same weights?")
    m.add_argument("--methods", nargs="+", default=["rnet"])
    m.add_argument("--profile", default="smoke")
    m.add_argument("--steps", type=int, default=40)
    m.add_argument("--loaded", type=int, default=3, help="runs beside busy processes (the failure is intermittent)")
    m.add_argument("--busy", type=int, default=1, help="busy processes beside a loaded run (one core each)")
    m.add_argument("--no-interrupt", action="store_true", help="skip the SIGTERM-and-resume run")
    m.add_argument("--nondeterministic", action="store_true",
                   help="the control: without deterministic kernels (FACELIB_DETERMINISTIC=0)")
    m.add_argument("--threads", type=int, default=None,
                   help="the control: every run but the quiet one with this many threads")
    m.add_argument("--folder", default=None, help="where the runs go (default runs/bench/same)")
    s = sub.add_parser("estimate", help="the whole book's time from a bench train record and the committed runs")
    s.add_argument("records", help="JSON lines of `bench train` (e.g. results/bench/train-cpu-bf16.jsonl)")
    s.add_argument("--profile", default="cpu")
    s.add_argument("--precisions", nargs="+", default=["no", "bf16"])
    args = p.parse_args(argv)
    if args.what == "estimate":
        records = read_records(args.records)
        for precision in args.precisions:
            print(json.dumps(estimate_book(args.profile, records, precision)), flush=True)
        return 0
    if args.what == "same":
        from .results import project_root

        folder = Path(args.folder) if args.folder else project_root() / "runs" / "bench" / "same"
        for name in args.methods:
            record = bench_same(name, args.profile, args.steps, folder / args.profile / name, args.loaded, args.busy,
                                not args.no_interrupt, not args.nondeterministic, args.threads,
                                progress=lambda line: None)
            print(json.dumps(record), flush=True)
        return 0
    if args.what == "parity":
        from . import profile as profiles
        from .data import synthetic

        prof = profiles.resolve(args.profile)
        use_threads(prof.threads)
        root = synthetic.default_root(prof.name)
        synthetic.generate(root, synthetic.config_for(prof), progress=False)
        for name in args.methods:
            print(json.dumps(bench_parity(name, prof, root, tuple(args.precisions), args.split)), flush=True)
        return 0
    if args.what == "train":
        from . import methods
        from . import profile as profiles
        from .data import synthetic

        prof = profiles.resolve(args.profile)
        use_threads(prof.threads)
        root = args.root or synthetic.default_root(prof.name)
        if args.root is None:
            synthetic.generate(root, synthetic.config_for(prof), progress=False)
        for name in args.methods or methods.names():
            print(json.dumps(bench_train(name, prof, root, args.repeats, args.device,
                                         precisions=tuple(args.precisions),
                                         nondeterministic=args.nondeterministic)), flush=True)
        return 0
    if args.what == "embedders":
        for record in bench_embedders(args.names, args.size, args.batch, args.repeats, args.device):
            print(json.dumps(record), flush=True)
        return 0
    backends = args.backends or (["torch", "pytorch3d"] if pytorch3d_available() else ["torch"])
    for backend in backends:
        for size in args.sizes:
            print(json.dumps(bench_render(backend, size, args.batch, args.repeats, args.device, region=args.region)), flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
