"""Sphinx extension of the book: the built HTML needs no network.

* plotly.js, from the installed ``plotly`` package, is copied into ``_static`` and loaded once per
  page (figures are stored by ``facelib.viz``'s ``book_html`` renderer, which loads nothing itself);
* ipywidgets' manager for static pages (``vendor/html-manager``, see its SOURCE.md) is copied into
  ``_static`` too, and ``_config.yml`` points myst-nb's ``nb_ipywidgets_js`` at it: chapter 1's
  explorer draws from its stored state (myst-nb's default loads it and require.js from a CDN);
* wide tables in cell outputs scroll inside the text column instead of overflowing it, their cells
  unbroken; printed output wraps (a chapter tags its widest tables' cells ``full-width``, which
  the theme widens into the margin);
* a script added twice is loaded once: sphinx-thebe adds its configuration each time the
  environment reads documents, and the second ``const THEBE_JS_URL`` stopped every page's scripts
  with "already declared" in the browser's console.

MathJax comes from the ``sphinx-mathjax-offline`` extension (``_config.yml``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

CSS = """/* book/_ext/offline_assets.py: wide output tables scroll inside the text column, a number
   and its interval stay on one line, printed verdicts wrap instead of hiding past the column */
div.cell_output table { display: block; max-width: 100%; overflow-x: auto; font-size: 0.9em; }
div.cell_output td { white-space: nowrap; }
div.cell_output td:first-child { white-space: normal; min-width: 7em; }
div.cell_output div.output.stream pre { white-space: pre-wrap; }
div.cell_output .plotly-graph-div { max-width: 100%; }
"""


def _plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotly (`make setup`)")
    return path


#: the static-page widget manager (the name ``_config.yml``'s ``nb_ipywidgets_js`` loads)
WIDGETS_JS = Path(__file__).parent / "vendor" / "html-manager" / "embed.js"
WIDGETS_JS_NAME = "jupyter-widgets-embed.js"


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_plotly_js(), static / "plotly.min.js")
    shutil.copyfile(WIDGETS_JS, static / WIDGETS_JS_NAME)
    (static / "offline.css").write_text(CSS)


def _once(scripts: list) -> list:
    """``scripts`` (Sphinx's ``_JavaScript`` entries or plain names) without repeats, in order."""
    seen, out = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js)), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            out.append(js)
    return out


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = _once(context["script_files"])


def setup(app):
    _plotly_js()  # fail at the start of a build, not after it
    if not WIDGETS_JS.is_file():
        raise FileNotFoundError(f"{WIDGETS_JS} is missing: it is part of the checkout (git checkout book/_ext)")
    app.add_js_file("plotly.min.js")
    app.add_css_file("offline.css")
    app.connect("build-finished", _copy)
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
