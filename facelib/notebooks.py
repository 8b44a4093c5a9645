"""The book's stored notebooks: store an executed reference run into ``book/`` and give every
interactive figure a static twin.

GitHub and other static notebook viewers show no plotly figure (its output is JSON plus a script
that they strip), so each stored figure is followed by a second output, a PNG of the same figure,
marked with :data:`TWIN_KEY` in its metadata. The HTML book draws the interactive figure and drops
the twins (``make html`` calls :func:`remove_twins` on its staging copy); Jupyter shows both.

The PNGs come from kaleido, which drives a Chrome or Chromium. Debian's ``chromium`` package is
enough; name another browser with ``BROWSER_PATH``.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

from .errors import FacelibError

PLOTLY_MIME = "application/vnd.plotly.v1+json"
TWIN_KEY = "facelib_static_twin"
CHROME_HELP = ("kaleido needs Chrome or Chromium to draw the static figures: install Debian's `chromium` "
               "(`apt install chromium`) or set BROWSER_PATH to a Chrome binary")


def _read(path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _write(nb, path) -> None:
    import nbformat

    nbformat.write(nb, str(path))


def is_twin(output: dict) -> bool:
    """True for a static twin this module added."""
    return bool(output.get("metadata", {}).get(TWIN_KEY))


def remove_twins(nb) -> int:
    """Drop every static twin from notebook ``nb`` in place; returns how many were dropped."""
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            kept = [o for o in cell.outputs if not is_twin(o)]
            dropped += len(cell.outputs) - len(kept)
            cell.outputs = kept
    return dropped


def _browser() -> None:
    """Point kaleido at a browser it can start (BROWSER_PATH, else Debian's chromium) or say how:
    without one, kaleido would try to download Chrome, which waits forever on a machine offline."""
    if os.environ.get("BROWSER_PATH"):
        return
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            os.environ["BROWSER_PATH"] = found
            return
    raise FacelibError(f"{CHROME_HELP} (none of chromium, chromium-browser, google-chrome, chrome is on PATH)")


def figure_pngs(figures: list[dict], scale: float = 1.0) -> list[bytes]:
    """PNG bytes of each plotly figure (as stored in a notebook: a dict with ``data``/``layout``),
    drawn by one kaleido browser session."""
    try:
        import kaleido
    except ImportError as err:
        raise FacelibError("static figures need kaleido: pip install 'facelib[book]'") from err
    _browser()
    try:
        kaleido.start_sync_server(silence_warnings=True)
        try:
            return [kaleido.calc_fig_sync(fig, opts={"format": "png", "scale": scale}) for fig in figures]
        finally:
            kaleido.stop_sync_server(silence_warnings=True)
    except (RuntimeError, OSError, ValueError) as err:
        if "BROWSER_PATH" in os.environ and Path(os.environ["BROWSER_PATH"]).exists():
            raise
        raise FacelibError(f"{CHROME_HELP} ({type(err).__name__}: {err})") from err


def fit_figures(nb) -> int:
    """Redraw every plotly output of ``nb`` in place from its own JSON through the book's renderer
    (:func:`facelib.chapter.figure_bundle`: titles fitted to the book's column, the HTML drawn with
    the page's plotly.js); the data are untouched. Returns how many outputs changed. Idempotent."""
    from .chapter import figure_bundle

    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            if PLOTLY_MIME not in data:
                continue
            stored = {k: v for k, v in data[PLOTLY_MIME].items() if k in ("data", "layout", "frames")}
            bundle = figure_bundle(stored)
            fresh = {PLOTLY_MIME: bundle[PLOTLY_MIME], **({"text/html": bundle["text/html"]} if "text/html" in data else {})}
            if any(data.get(k) != v for k, v in fresh.items()):
                data.update(fresh)
                changed += 1
    return changed


def add_twins(nb, scale: float = 1.0) -> int:
    """Give every plotly output of ``nb`` a PNG twin right after it (existing twins are redrawn),
    after fitting its titles (:func:`fit_figures`); returns the number of twins. Idempotent."""
    import nbformat

    remove_twins(nb)
    fit_figures(nb)
    places = [(cell, i) for cell in nb.cells if cell.cell_type == "code"
              for i, o in enumerate(cell.outputs) if PLOTLY_MIME in o.get("data", {})]
    pngs = figure_pngs([cell.outputs[i]["data"][PLOTLY_MIME] for cell, i in places], scale)
    for (cell, i), png in reversed(list(zip(places, pngs, strict=True))):
        twin = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()},
                                      metadata={TWIN_KEY: True})
        cell.outputs.insert(i + 1, twin)
    return len(places)


GLUE_ROLE = re.compile(r"\{glue(?::\w*)?\}`([^`:]+)(?::[^`]*)?`")


def unresolved_glue(nb) -> list[str]:
    """The names the prose of ``nb`` reads through a ``{glue}`` role (``{glue:text}`name:fmt```
    and the like) that no output of ``nb`` glued, sorted: myst-nb renders each as a warning and an
    empty number in the book."""
    glued = {out.get("metadata", {}).get("scrapbook", {}).get("name")
             for cell in nb.cells for out in cell.get("outputs", [])}
    read = {name for cell in nb.cells if cell.cell_type == "markdown"
            for name in GLUE_ROLE.findall(cell.source)}
    return sorted(read - glued)


def store(executed, target, twins: bool = True) -> list[str]:
    """Copy an executed notebook's outputs, execution counts and metadata into the book's notebook
    ``target`` (its sources kept), add static twins, and write it. Cells are matched by position;
    returns a note for each cell whose source differs (the book's source is kept: explain it) and for
    each number the prose reads that the run did not glue (:func:`unresolved_glue`)."""
    ex, tg = _read(executed), _read(target)
    if len(ex.cells) != len(tg.cells):
        raise FacelibError(f"{executed} has {len(ex.cells)} cells and {target} {len(tg.cells)}: store a run "
                           f"of this version of the chapter")
    notes = []
    for i, (a, b) in enumerate(zip(ex.cells, tg.cells, strict=True)):
        if a.cell_type != b.cell_type:
            raise FacelibError(f"cell {i} is {a.cell_type} in {executed} but {b.cell_type} in {target}")
        if a.source != b.source:
            notes.append(f"cell {i}: source differs (the book's is kept)")
        if b.cell_type == "code":
            b.outputs, b.execution_count = a.outputs, a.execution_count
        b.metadata = a.metadata
    tg.metadata = ex.metadata
    notes += [f"the prose reads {name}, which the run did not glue" for name in unresolved_glue(tg)]
    papermill = tg.metadata.get("papermill", {})
    where = str(target) if not Path(target).is_absolute() else Path(target).name  # no machine paths
    papermill.update(input_path=where, output_path=where)
    if isinstance(papermill.get("parameters"), dict):
        papermill["parameters"].clear()
    if twins:
        add_twins(tg)
    _write(tg, target)
    return notes


def static_figures_main(paths: list[Path], remove: bool = False) -> dict[str, int]:
    """Add (or with ``remove``, drop) the static twins of each notebook in ``paths``, in place."""
    counts = {}
    for path in paths:
        nb = _read(path)
        counts[str(path)] = remove_twins(nb) if remove else add_twins(nb)
        _write(nb, path)
    return counts
