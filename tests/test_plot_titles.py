"""Plotly titles fitted to the book's column (facelib.plot_titles): wrapped, one size per figure,
room made above the plot, and the check that finds a title wider than its room."""

from plotly.subplots import make_subplots

from facelib import plot_titles as pt


def _grid(titles, rows=1, height=300):
    fig = make_subplots(rows=rows, cols=len(titles) // rows, subplot_titles=titles, vertical_spacing=0.1)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0))
    return fig.to_dict()


def test_text_is_measured_wider_for_more_text_and_larger_fonts():
    assert pt.text_width("occluded", 16) > pt.text_width("occluded", 12) > pt.text_width("occ", 12) > 0
    assert pt.text_width("<b>bold</b>", 12) == pt.text_width("bold", 12)  # tags take no room


def test_wrap_breaks_at_spaces_within_the_width_and_keeps_a_long_word_whole():
    lines = pt.wrap("after EM round 3 (end)", 16, 100)
    assert len(lines) > 1 and " ".join(lines) == "after EM round 3 (end)"
    assert all(pt.text_width(line, 16) <= 100 for line in lines)
    assert pt.wrap("supercalifragilistic", 16, 20) == ["supercalifragilistic"]


def test_a_title_too_wide_is_found_and_fitting_wraps_it_growing_the_figure_not_shrinking_the_plot():
    fig = {"data": [{"type": "scatter", "x": [0, 1], "y": [0, 1]}],
           "layout": {"height": 300, "margin": {"l": 40, "r": 10, "t": 40, "b": 40},
                      "title": {"text": "share of the rendered face S keeps, and the phase "
                                        "(0: R on preliminary masks, 1: S on them, 2: S, 3: R)"}}}
    assert pt.title_overflows(fig) and "title" in pt.title_overflows(fig)[0]
    fitted = pt.fit_titles(fig)
    assert pt.title_overflows(fitted) == []
    assert fitted["layout"]["title"]["text"].count("<br>") >= 1
    grown = fitted["layout"]["margin"]["t"] - 40
    assert grown > 0 and fitted["layout"]["height"] == 300 + grown  # the plot area keeps its height
    assert pt.fit_titles(fitted) == fitted  # idempotent
    assert fig["layout"]["height"] == 300  # the input is not changed


def test_subplot_titles_of_a_grid_share_one_size_and_fit_their_columns_and_gaps():
    titles = ["target", "after initialisation", "after EM round 1", "after EM round 2", "after EM round 3 (end)"]
    fig = _grid(titles * 2, rows=2)
    problems = pt.title_overflows(fig)
    assert any("after EM round 3 (end)" in p for p in problems)  # 16 px does not fit a 5-column grid
    fitted = pt.fit_titles(fig)
    assert pt.title_overflows(fitted) == []
    sizes = {a["font"]["size"] for a in fitted["layout"]["annotations"]}
    assert len(sizes) == 1
    size = sizes.pop()
    assert pt.MIN_FONT <= size < 16
    # above the plot: the tool bar's strip, then the first row's titles
    lines = max(a["text"].count("<br>") + 1 for a in fitted["layout"]["annotations"] if a["y"] == 1.0)
    assert fitted["layout"]["margin"]["t"] >= pt.MODEBAR_HEIGHT + lines * size * pt.LINE_HEIGHT
    assert fitted["layout"]["height"] - fitted["layout"]["margin"]["t"] == 300 - 30  # the plot keeps its size


def test_a_legend_at_the_right_takes_room_from_the_subplots():
    fig = _grid(["a panel title of some length", "another panel title"])
    narrow = pt.plot_width(fig)
    fig["data"] = [{"type": "scatter", "name": "a rather long legend entry", "x": [0], "y": [0]},
                   {"type": "scatter", "name": "b", "x": [0], "y": [0]}]
    assert pt.plot_width(fig) < narrow - 100
    fig["layout"]["legend"] = {"orientation": "h"}
    assert pt.plot_width(fig) == narrow


def test_a_grid_is_fitted_once_and_a_forced_legend_without_entries_takes_no_room():
    titles = ["target", "after initialisation", "after EM round 1", "after EM round 2", "after EM round 3 (end)"]
    fitted = pt.fit_titles(_grid(titles * 2, rows=2))
    assert pt.fit_titles(fitted) == fitted  # idempotent on a grid too
    fig = _grid(titles)
    fig["data"] = [{"type": "image", "source": ""}]
    fig["layout"]["showlegend"] = True
    assert pt.plot_width(fig) == pt.BOOK_FIGURE_WIDTH  # margins 0, no legend entry
    assert pt.title_overflows(pt.fit_titles(fig)) == []
