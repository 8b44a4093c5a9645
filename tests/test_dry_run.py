"""The paper-size dry run (issue 20): every chapter, in order, with the ``gpu`` profile's networks and
sizes (ResNet-50, 224 px) but a handful of steps on a tiny set (profile ``gpu-dry``), on whatever
device there is — the proof that the gpu profile runs, on a machine without a GPU.

Slow (14-25 min alone on 2 CPU cores; it leaves 7.2 GB of checkpoints under ``runs/``): ``make
dry-run`` runs it alone and prints each chapter's wall time; ``make test-slow`` (and so CI) runs it
with the other slow tests. The executed notebooks land in
``_build/dry-run/book/``, their results in ``results/<chapter>/gpu-dry/`` (not committed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))  # in order: later chapters read earlier runs


@pytest.mark.slow
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_at_paper_sizes(notebook, monkeypatch):
    import papermill

    from facelib import profile

    monkeypatch.setenv("FACELIB_PROFILE", "gpu-dry")
    out = ROOT / "_build" / "dry-run" / "book" / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = None
    try:
        papermill.execute_notebook(str(notebook), str(out), cwd=str(ROOT / "book"), kernel_name="python3",
                                   progress_bar=False, log_output=False)
    except papermill.PapermillExecutionError as err:  # the cell's own error, not papermill's notebook dump
        failed = f"{notebook.name}, cell {err.exec_count}: {err.ename}: {err.evalue}\n(executed notebook: {out})"
    if failed:
        pytest.fail(failed, pytrace=False)
    written = json.loads((ROOT / "results" / notebook.stem / "gpu-dry" / "metrics.json").read_text())
    gpu = profile.resolve("gpu")
    assert written["profile"] == "gpu-dry"
    assert (written["profile_config"]["backbone"], written["profile_config"]["image_size"]) == (gpu.backbone, gpu.image_size)
