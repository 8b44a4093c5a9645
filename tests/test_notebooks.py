"""Storing a chapter's reference run into book/ and the static PNG twins of its figures."""

import base64
import io
import os
import shutil

import nbformat
import pytest
from PIL import Image

from facelib import notebooks
from facelib.errors import FacelibError

from .conftest import ROOT

HAS_BROWSER = bool(os.environ.get("BROWSER_PATH")) or any(
    shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome"))
needs_browser = pytest.mark.skipif(not HAS_BROWSER, reason="kaleido needs Chrome/Chromium")


def _figure(height=300):
    return {"data": [{"type": "scatter", "x": [0, 1, 2], "y": [2, 0, 1]}],
            "layout": {"width": 400, "height": height, "title": {"text": "three points"}}}


def _notebook(figures=1):
    v4 = nbformat.v4
    outputs = [v4.new_output("stream", name="stdout", text="before\n")]
    for i in range(figures):
        outputs.append(v4.new_output("display_data", data={notebooks.PLOTLY_MIME: _figure(200 + 100 * i),
                                                           "text/html": "<div></div>"}))
    outputs.append(v4.new_output("stream", name="stdout", text="after\n"))
    code = v4.new_code_cell("fig.show()", outputs=outputs)
    return v4.new_notebook(cells=[v4.new_markdown_cell("# A chapter"), code, v4.new_code_cell("x = 1")])


def _png_size(output):
    return Image.open(io.BytesIO(base64.b64decode(output["data"]["image/png"]))).size


@needs_browser
def test_each_figure_gets_a_png_twin_right_after_it_and_redrawing_is_idempotent():
    nb = _notebook(figures=2)
    assert notebooks.add_twins(nb) == 2
    outs = nb.cells[1].outputs
    kinds = ["twin" if notebooks.is_twin(o) else o["output_type"] for o in outs]
    assert kinds == ["stream", "display_data", "twin", "display_data", "twin", "stream"]
    assert _png_size(outs[2]) == (400, 200) and _png_size(outs[4]) == (400, 300)  # the figure's own size
    first = [o["data"]["image/png"] for o in outs if notebooks.is_twin(o)]
    assert notebooks.add_twins(nb) == 2 and len(nb.cells[1].outputs) == 6
    assert [o["data"]["image/png"] for o in nb.cells[1].outputs if notebooks.is_twin(o)] == first
    assert notebooks.remove_twins(nb) == 2
    assert [o["output_type"] for o in nb.cells[1].outputs] == ["stream", "display_data", "display_data", "stream"]


def test_store_copies_outputs_keeps_the_books_sources_and_refuses_another_version(tmp_path):
    executed, target = _notebook(figures=0), _notebook(figures=0)
    executed.cells[2].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1"},
                                                        execution_count=3)]
    executed.cells[2].execution_count = 3
    executed.cells[2].source = "x = 1  # as executed"
    executed.metadata["papermill"] = {"input_path": "/elsewhere/ch.ipynb", "parameters": {"PROFILE": "cpu"}}
    target.cells[1].outputs = []
    nbformat.write(executed, str(tmp_path / "run.ipynb"))
    nbformat.write(target, str(tmp_path / "ch.ipynb"))
    notes = notebooks.store(tmp_path / "run.ipynb", tmp_path / "ch.ipynb", twins=False)
    assert notes == ["cell 2: source differs (the book's is kept)"]
    stored = nbformat.read(str(tmp_path / "ch.ipynb"), as_version=4)
    assert stored.cells[2].source == "x = 1" and stored.cells[2].execution_count == 3
    assert stored.cells[2].outputs[0]["data"]["text/plain"] == "1"
    assert [o["text"] for o in stored.cells[1].outputs] == ["before\n", "after\n"]
    assert stored.metadata["papermill"]["input_path"] == "ch.ipynb"  # no machine path
    assert stored.metadata["papermill"]["parameters"] == {}
    shorter = _notebook(figures=0)
    shorter.cells.pop()
    nbformat.write(shorter, str(tmp_path / "old.ipynb"))
    with pytest.raises(FacelibError, match="2 cells"):
        notebooks.store(tmp_path / "old.ipynb", tmp_path / "ch.ipynb")


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_stored_figure_has_its_static_twin_for_github(nb):
    book = nbformat.read(str(nb), as_version=4)
    for i, cell in enumerate(book.cells):
        outs = cell.get("outputs", [])
        for j, out in enumerate(outs):
            if notebooks.PLOTLY_MIME in out.get("data", {}):
                assert j + 1 < len(outs) and notebooks.is_twin(outs[j + 1]), (
                    f"{nb.name} cell {i}: a figure without its PNG twin; run "
                    f"`python -m facelib static-figures book/{nb.name}`")


def test_unresolved_glue_names_each_number_the_prose_reads_that_no_output_glued():
    v4 = nbformat.v4
    glued = v4.new_output("display_data", data={"text/plain": "3.2"},
                          metadata={"scrapbook": {"name": "ch_err", "mime_prefix": ""}})
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("Error {glue:text}`ch_err:.2f` px, {glue:}`ch_gone` and {glue:md}`ch_also`."),
        v4.new_code_cell("glue('ch_err', 3.2)", outputs=[glued])])
    assert notebooks.unresolved_glue(nb) == ["ch_also", "ch_gone"]
    nb.cells[0].source = "Error {glue:text}`ch_err:.2f` px."
    assert notebooks.unresolved_glue(nb) == []


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_number_a_stored_chapters_prose_reads_was_glued_by_its_run(nb):
    book = nbformat.read(str(nb), as_version=4)
    assert notebooks.unresolved_glue(book) == [], (
        f"{nb.name}: its prose reads numbers its stored run did not glue; re-run the chapter "
        f"(`make book`) or mend the prose")


def test_static_figures_without_a_browser_name_the_fix_instead_of_waiting(monkeypatch):
    """kaleido without a browser tries to download Chrome, which waits forever offline: the book's
    tools say what to install instead."""
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr(notebooks.shutil, "which", lambda name: None)
    with pytest.raises(FacelibError, match="apt install chromium"):
        notebooks.figure_pngs([{"data": [], "layout": {}}])


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_stored_figures_titles_fit_the_books_column(nb):
    """Plotly never wraps a title: one wider than its room is cut at the figure's edge or runs
    into the next subplot's (issue 36). Measured for the narrowest column the book draws."""
    from facelib.plot_titles import BOOK_FIGURE_WIDTH, title_overflows

    book = nbformat.read(str(nb), as_version=4)
    found = [f"cell {i}: {problem}" for i, cell in enumerate(book.cells) for out in cell.get("outputs", [])
             if notebooks.PLOTLY_MIME in out.get("data", {})
             for problem in title_overflows(out["data"][notebooks.PLOTLY_MIME], BOOK_FIGURE_WIDTH)]
    assert not found, (f"{nb.name}: titles wider than their room at {BOOK_FIGURE_WIDTH} px; run "
                       f"`python -m facelib static-figures book/{nb.name}`:\n" + "\n".join(found))


def test_fitting_stored_figures_redraws_their_html_and_keeps_their_data():
    nb = _notebook(figures=1)
    out = nb.cells[1].outputs[1]
    out["data"][notebooks.PLOTLY_MIME]["layout"]["title"]["text"] = "a title " * 20
    data_before = out["data"][notebooks.PLOTLY_MIME]["data"]
    assert notebooks.fit_figures(nb) == 1 and notebooks.fit_figures(nb) == 0  # idempotent
    fitted = out["data"][notebooks.PLOTLY_MIME]
    assert fitted["data"] == data_before and "<br>" in fitted["layout"]["title"]["text"]
    html = out["data"]["text/html"]
    assert "Plotly.newPlot" in html and "\\u003cbr\\u003e" in html  # the JSON in the page escapes "<"


def _claim_rows(nb) -> list[tuple[str, str, str]]:
    """``(chapter, change, verdict)`` of each row of each claims table (a Markdown output whose header
    has "claim", a change and "verdict") in a notebook's outputs."""
    rows = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/markdown", ""))
            lines = [line for line in text.splitlines() if line.startswith("|")]
            if not lines:
                continue
            head = [h.strip() for h in lines[0].strip("|").split("|")]
            if "claim" not in head or "verdict" not in head:
                continue
            change = next(i for i, h in enumerate(head) if h.startswith("change"))
            for line in lines[2:]:
                cells = [c.strip() for c in line.strip("|").split("|")]
                rows.append((cells[0], cells[change], cells[head.index("verdict")]))
    return rows


def _repeats(rows):
    return sorted({r for r in rows if rows.count(r) > 1})


def _stored_claim_tables():
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        yield pytest.param(nb, id=nb.name)


@pytest.mark.parametrize("nb", list(_stored_claim_tables()))
def test_no_stored_claims_table_shows_one_comparison_twice(nb):
    """Chapter 10's table showed ROGUE's noisy-face claim twice ("on the noise faces", "on noisy
    faces": one comparison glued under two names)."""
    repeats = _repeats(_claim_rows(nbformat.read(str(nb), as_version=4)))
    assert not repeats, f"{nb.name} shows these claims twice: {repeats}"


def test_the_claims_table_chapter_10_builds_shows_each_comparison_once():
    from facelib.evaluation import claims
    from facelib.evaluation.protocols.benchmark import PAPER_CHAPTERS

    rows, _ = claims.claims_table("cpu", PAPER_CHAPTERS)
    assert len(rows) > 50
    change, verdict = claims.COLUMNS.index("change [95 % interval]"), claims.COLUMNS.index("verdict")
    keys = [(r[0], r[change], r[verdict]) for r in rows]
    assert _repeats(keys) == []
    assert _repeats(keys + keys[:1]) == [keys[0]]  # the check finds a repeat
