"""What every chapter does around its own content: open (Colab setup where needed, the profile,
the run banner, the synthetic set, the face model) in one call, glue numbers and claims into the
prose, and draw its plotly figures in the built book.

A chapter opens with three cells: the install bootstrap (it must run before facelib exists), the
papermill ``parameters`` cell, and ``CHAPTER, P, banner, root, model = chapter.start(name, PROFILE)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .reproduce import environment, use_threads
from .train import precision_in_use

BOOK_RENDERER = "book_html"
#: how the banner names a precision in use
PRECISION_NAMES = {"no": "float32", "bf16": "bf16 mixed precision", "fp16": "fp16 mixed precision"}
#: values glued where myst-nb is not installed (Colab, a plain kernel): name -> value
GLUED: dict = {}


def glue(name: str, value, display: bool = True):
    """myst-nb's ``glue`` (a number for the prose of the built book) where myst-nb is installed;
    elsewhere the value is kept in :data:`GLUED` (and shown when ``display``), so a chapter opened
    in Colab without the book's tools still runs."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        GLUED[name] = value
        if display:
            from IPython.display import display as show

            show(value)
        return None
    return myst_glue(name, value, display=display)


def figure_bundle(fig_dict: dict) -> dict:
    """The outputs of one plotly figure in the book: its titles fitted to the book's column
    (:func:`facelib.plot_titles.fit_titles`), as plotly's JSON (Jupyter, VS Code) and as a
    ``<div>`` with the script that draws it with the page's ``Plotly`` — no plotly.js or MathJax
    from a CDN. The ``<div>``'s id is the figure's hash, so the same figure stores the same HTML."""
    import hashlib
    import json

    import plotly.io as pio

    from .plot_titles import fit_titles

    fig = fit_titles(fig_dict)
    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(fig)
    div_id = "fig-" + hashlib.sha1(json.dumps(fig, sort_keys=True, default=str).encode()).hexdigest()[:16]
    bundle["text/html"] = pio.to_html(fig, include_plotlyjs=False, include_mathjax=False, full_html=False,
                                      default_width="100%", default_height=525, validate=False, div_id=div_id)
    return bundle


def _register_book_renderer() -> None:
    """``book_html``: :func:`figure_bundle`. The built book ships plotly.js once per page
    (``book/_ext/offline_assets.py``) and MathJax once (sphinx-mathjax-offline), so the HTML works
    without a network; Jupyter and VS Code draw the plotly mime type beside it."""
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    class BookHtml(MimetypeRenderer):
        def to_mimebundle(self, fig_dict):
            return figure_bundle(fig_dict)

    if BOOK_RENDERER not in pio.renderers:
        pio.renderers[BOOK_RENDERER] = BookHtml()


def setup_notebook() -> None:
    """Make plotly figures appear in the built HTML (DESIGN 4, offline: :data:`BOOK_RENDERER`) and
    in Jupyter; in Colab keep Colab's own renderer (each Colab output is a separate frame that must
    load plotly itself)."""
    import sys

    import plotly.io as pio

    _register_book_renderer()
    pio.renderers.default = "colab" if "google.colab" in sys.modules else BOOK_RENDERER


class RunBanner:
    """The note a chapter opens with, generated from its own run: profile, date, commit, machine
    and — once :meth:`finish` runs in the chapter's last cell — the wall time of each section (the
    first cell's output is updated in place). A smoke run says plainly that its numbers are a wiring
    check. :meth:`finish` also stores the same facts as ``run`` in the chapter's ``metrics.json``.

    ``RunBanner(chapter, profile)`` in the setup cell, ``banner.section("Evaluation")`` where a
    section's work starts, ``banner.finish()`` at the end."""

    def __init__(self, chapter: str, profile, show: bool = True):
        import platform
        import time

        from . import results

        self.chapter, self.profile = chapter, profile
        self.started = time.time()
        self.sections: list[tuple[str, float]] = [("setup", self.started)]
        self.seconds: dict[str, float] | None = None
        threads = torch.get_num_threads()
        device = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                  else f"CPU, {threads} thread{'s' if threads > 1 else ''}")
        precision = precision_in_use(profile.precision)
        self.facts = {"profile": profile.name, "date": time.strftime("%Y-%m-%d", time.gmtime(self.started)),
                      "commit": results.code_version(),
                      "machine": f"{device}, torch {torch.__version__}, Python {platform.python_version()}",
                      "precision": precision, "environment": environment(precision)}
        self.handle = None
        if show:
            from IPython.display import Markdown, display

            self.handle = display(Markdown(self.text()), display_id=True)

    def section(self, name: str) -> None:
        """The work of section ``name`` starts now (the previous section ends)."""
        import time

        self.sections.append((name, time.time()))

    def finish(self) -> None:
        """Close the last section, update the banner, record the run (also kept as :attr:`record`)."""
        import time

        from . import results

        ends = [t for _, t in self.sections[1:]] + [time.time()]
        self.seconds = {}
        for (name, start), end in zip(self.sections, ends, strict=True):
            self.seconds[name] = round(self.seconds.get(name, 0.0) + end - start, 1)
        self.record = {**self.facts, "seconds": self.seconds, "total_seconds": round(sum(self.seconds.values()), 1)}
        results.record_run(self.chapter, self.profile, self.record)
        keep_training_logs(self.chapter, self.profile)
        if self.handle is not None:
            from IPython.display import Markdown

            self.handle.update(Markdown(self.text()))

    def text(self) -> str:
        p, f = self.profile, self.facts
        size = f"{p.backbone} at {p.image_size} px, batch {p.batch_size}, {p.train_steps} training steps per run"
        env = f["environment"]
        kernels = " with deterministic kernels" if env["deterministic"] else ""
        lines = [f"**The outputs below come from one run of this chapter**: profile `{p.name}` ({size}), "
                 f"{f['date']}, code at `{f['commit']}`, {f['machine']}, numpy {env['numpy']} ({env['device']}); "
                 f"trainings in {PRECISION_NAMES.get(f['precision'], f['precision'])}{kernels}."]
        if self.seconds is None:
            lines.append("Wall time per section: written when the chapter's last cell has run.")
        else:
            parts = ", ".join(f"{name} {s / 60:.1f}" for name, s in self.seconds.items())
            lines.append(f"Wall time {sum(self.seconds.values()) / 60:.1f} min ({parts}; trainings that had "
                         "finished earlier are loaded, not counted).")
        text = " ".join(lines)
        if p.name == "smoke":
            text = ("> **Smoke profile: these numbers are a wiring check, not results.** A tiny network "
                    "trains for a few dozen steps on a tiny set, so every table and verdict below only shows "
                    "that the code runs end to end. The book's reference run is the `cpu` profile.\n\n" + text)
        elif p.name == "gpu-dry":
            text = ("> **Paper-size dry run: these numbers are a wiring check, not results.** The gpu profile's "
                    "networks and image size train for a handful of steps on a tiny set, to show that the "
                    "paper-size configuration runs end to end. The book's reference run is the `cpu` profile.\n\n"
                    + text)
        elif p.name == "cpu":
            text = ("> **The book's reference run, not the papers' scale.** The papers train ResNet-50 "
                    "encoders at 224 px for tens of thousands of steps on hundreds of thousands of photos; "
                    "the cpu profile trains the network below on synthetic faces, on two CPU cores. Read its "
                    "verdicts with chapter 10's testability column.\n\n" + text)
        return text


def keep_training_logs(chapter: str, profile) -> list[str]:
    """Copy the log of every training this process made or loaded in the chapter's run folders
    (``runs/<chapter>/<profile>/<run>``, :data:`facelib.train.RUNS_USED`) to the chapter's
    ``results/<chapter>/<profile>/logs/<run>.jsonl`` — the evidence of its trainings' times that is
    committed (``runs/`` is not) — and remove a log there that is neither one of those nor named by
    ``ablations.json`` (a training the chapter no longer makes). Returns the kept logs' names."""
    from . import results
    from .train import LOG, RUNS_USED, keep_log

    ours = results.runs_folder(chapter, profile.name).resolve()
    kept = list(dict.fromkeys(run.name for run in RUNS_USED if run.parent == ours and (run / LOG).is_file()))
    if not kept:  # a chapter that trains nothing (or ran without its trainings) keeps the logs it has
        return []
    logs = results.results_dir(chapter, profile.name) / "logs"
    for name in kept:
        keep_log(ours / name, logs, name)
    off_path = results.ablation_logs(logs.parent)
    for log in logs.glob("*.jsonl"):
        if log.stem not in kept and log.stem not in off_path:
            log.unlink()
    return kept


class Opened(NamedTuple):
    """What :func:`start` gives a chapter."""

    chapter: str
    profile: object
    banner: RunBanner
    root: object
    model: object


def start(chapter: str, profile: str = "auto", data: bool = True) -> Opened:
    """Open chapter ``chapter``: in Colab, set up what it reads and pick a profile sized for the
    session (:func:`facelib.colab.setup`), elsewhere fetch only the assets it lacks
    (:func:`facelib.colab.fetch_assets`; the profile stays the caller's); make plotly figures show in the book
    (:func:`setup_notebook`); resolve ``profile`` (:func:`facelib.profile.resolve`); show the run
    banner (after fixing torch's thread count to the profile's, :func:`facelib.reproduce.use_threads`); with
    ``data``, generate the profile's synthetic set (once; later calls find it) and
    load the face model. The chapter's ``metrics.json`` for the profile is started afresh
    (:func:`facelib.results.start_afresh`). Returns ``(chapter, profile, banner, root, model)``; ``root`` is ``None``
    without ``data``."""
    from . import colab, results
    from . import profile as profiles
    from .morphable import MorphableModel

    if colab.in_colab():
        colab.setup(chapter)
    elif not colab.assets_ready(chapter):
        colab.fetch_assets(chapter)
    setup_notebook()
    prof = profiles.resolve(profile)
    use_threads(prof.threads)
    results.start_afresh(chapter, prof)  # the chapter's metrics.json will hold this run's, nothing older
    banner = RunBanner(chapter, prof)
    root = None
    if data:
        from .data import synthetic

        root = synthetic.default_root(prof.name)
        synthetic.generate(root, synthetic.config_for(prof), progress=False)
    return Opened(chapter, prof, banner, root, MorphableModel.from_ict())


def glue_claims(prefix: str, claims: dict, digits: str = "+.0f", unit: str = "") -> None:
    """Glue each claim ``name`` of ``claims`` (:class:`facelib.stats.Claim`-like: ``interval`` with
    ``estimate``, ``low``, ``high``; ``verdict``) for the prose: ``{prefix}_{name}`` (the estimate),
    ``{prefix}_{name}_ci`` (``"[low, high]"`` + ``unit``, each bound formatted with ``digits``) and
    ``{prefix}_{name}_verdict``."""
    for name, claim in claims.items():
        iv = claim.interval
        glue(f"{prefix}_{name}", iv.estimate, display=False)
        glue(f"{prefix}_{name}_ci", iv.bracket(digits, unit), display=False)
        glue(f"{prefix}_{name}_verdict", claim.verdict, display=False)
