"""Plotly titles that fit the book's column: wrapped at word boundaries, the top margin grown to
hold them, and a check that finds any title wider than the room it has.

Plotly.js never wraps a title: a long figure title is cut at the figure's edge and a subplot title
runs into its neighbour's. :func:`fit_titles` wraps each title (figure title and ``make_subplots``
titles) for a figure :data:`BOOK_FIGURE_WIDTH` pixels wide, shrinks a subplot title's font where a
single word is too wide, and grows the top margin and the height so that the plot keeps its size.
:func:`title_overflows` measures the same things and lists what does not fit; the tests run it on
every figure stored in the book.

Text is measured with DejaVu Sans, whose glyphs are as wide as Verdana's, the widest font in
plotly's default list ("Open Sans", verdana, arial, sans-serif): a title that fits in DejaVu Sans
fits in the others.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
from pathlib import Path

#: the narrowest width (px) a figure is drawn at in the built book: 676 px measured in a 1280-px
#: wide window (790 at 1600), less a margin of safety
BOOK_FIGURE_WIDTH = 660
#: the height (px) of plotly's tool bar, which the book's pages show at a figure's top right corner:
#: :func:`fit_titles` keeps a strip this tall above the titles for it, so it covers no title or legend
MODEBAR_HEIGHT = 28
#: the smallest font size (px) a subplot title is shrunk to before it is reported as too wide
MIN_FONT = 10
LINE_HEIGHT = 1.3  # a line of text is this many times its font size tall
#: plotly's defaults where a figure does not set them
DEFAULT_MARGIN = {"l": 80, "r": 80, "t": 100, "b": 80}
DEFAULT_HEIGHT = 525  # the book's renderer draws a figure without a height this tall (chapter.figure_bundle)
DEFAULT_FONT = 12
TITLE_FONT_SCALE = 1.4  # plotly.js: the figure title is 1.4 times the layout's font size
_TAG = re.compile(r"<(?!br\s*/?>)[^>]+>", re.IGNORECASE)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _font_file() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    candidates = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    if spec and spec.origin:
        candidates.insert(0, Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    return next((p for p in candidates if p.is_file()), None)


@functools.lru_cache(maxsize=64)
def _font(size: int):
    from PIL import ImageFont

    path = _font_file()
    return (ImageFont.truetype(str(path), size), 1.0) if path else (ImageFont.load_default(size=size), 1.2)


def text_width(text: str, size: float) -> float:
    """Width in pixels of one line of ``text`` (plotly's tags other than ``<br>`` removed) at font
    ``size`` px; where DejaVu Sans is not installed, Pillow's own font measured 20 % wider."""
    font, scale = _font(max(1, round(size)))
    return font.getlength(_TAG.sub("", text)) * scale


def lines_of(text: str) -> list[str]:
    """The lines of a plotly text (split at ``<br>``)."""
    return _BREAK.split(text)


def wrap(text: str, size: float, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` px where the words allow (a
    word wider than ``width`` stays whole on its own line); existing ``<br>`` are kept."""
    out: list[str] = []
    for line in lines_of(text):
        current = ""
        for word in line.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and text_width(candidate, size) > width:
                out.append(current)
                current = word
            else:
                current = candidate
        out.append(current)
    return out


def _layout_value(layout: dict, path: str, default):
    """``layout``'s value at a dotted ``path``, else the template's, else ``default``."""
    for source in (layout, layout.get("template", {}).get("layout", {})):
        node = source
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None:
            return node
    return default


def _title(layout: dict) -> dict:
    title = layout.get("title") or {}
    return {"text": title} if isinstance(title, str) else title


def _font_size(layout: dict) -> float:
    return _layout_value(layout, "font.size", DEFAULT_FONT)


def _legend_width(fig: dict) -> float:
    """Room (px) a vertical legend at the right takes from the plot area (0 when none is shown)."""
    layout = fig.get("layout", {})
    if layout.get("legend", {}).get("orientation") == "h":
        return 0.0
    named = [t.get("name", "") for t in fig.get("data", []) if t.get("showlegend", True) is not False
             and t.get("type", "scatter") not in ("image", "mesh3d", "heatmap")]
    if layout.get("showlegend") is False or (len(named) < 2 and layout.get("showlegend") is not True):
        return 0.0
    if not named:  # showlegend forced on a figure of images: no entry, no legend
        return 0.0
    size = _layout_value(layout, "legend.font.size", _font_size(layout))
    return max(text_width(str(n), size) for n in named) + 50  # symbol, padding, border


def plot_width(fig: dict, width: float = BOOK_FIGURE_WIDTH) -> float:
    """The plot area's width (px) in a figure ``width`` px wide: less its margins and legend."""
    margin = {**DEFAULT_MARGIN, **fig.get("layout", {}).get("margin", {})}
    return width - margin["l"] - margin["r"] - _legend_width(fig)


def _subplot_titles(fig: dict) -> list[tuple[dict, float]]:
    """``(annotation, its subplot's width in paper units)`` for each subplot title (an annotation
    ``make_subplots`` placed at the centre top of an x axis' domain)."""
    layout = fig.get("layout", {})
    domains = [v["domain"] for k, v in layout.items()
               if re.fullmatch(r"xaxis\d*", k) and isinstance(v, dict) and "domain" in v]
    found = []
    for ann in layout.get("annotations", []):
        if ann.get("xref") != "paper" or ann.get("yanchor") != "bottom" or ann.get("showarrow", True):
            continue
        x = ann.get("x")
        match = [d for d in domains if x is not None and abs((d[0] + d[1]) / 2 - x) < 1e-6]
        if match:
            found.append((ann, match[0][1] - match[0][0]))
    return found


def _room(fig: dict, span: float, width: float) -> float:
    """Pixels a centred title of a subplot ``span`` paper units wide may take: its domain."""
    return span * plot_width(fig, width) - 4


def _title_room(fig: dict, width: float) -> float:
    title = _title(fig.get("layout", {}))
    x = title.get("x", _layout_value(fig.get("layout", {}), "title.x", 0.5))
    if x < 1 / 3:  # plotly anchors such a title at its left end
        return width * (1 - x) - 4
    return width - 4


def title_overflows(fig: dict, width: float = BOOK_FIGURE_WIDTH) -> list[str]:
    """Each title of plotly figure ``fig`` (a dict: ``data``, ``layout``) that is wider than its
    room in a figure ``width`` px wide, as ``'<text>': <px> px in <px> px``; empty when all fit."""
    layout = fig.get("layout", {})
    found = []
    title = _title(layout)
    if title.get("text"):
        size = title.get("font", {}).get("size", _font_size(layout) * TITLE_FONT_SCALE)
        room = _title_room(fig, width)
        widest = max(text_width(line, size) for line in lines_of(title["text"]))
        if widest > room:
            found.append(f"title {title['text']!r}: {widest:.0f} px in {room:.0f} px")
    for ann, span in _subplot_titles(fig):
        size = ann.get("font", {}).get("size", _font_size(layout))
        room = _room(fig, span, width)
        widest = max(text_width(line, size) for line in lines_of(ann.get("text", "")))
        if widest > room:
            found.append(f"subplot title {ann.get('text')!r}: {widest:.0f} px in {room:.0f} px")
    return found


def fit_titles(fig: dict, width: float = BOOK_FIGURE_WIDTH) -> dict:
    """A copy of plotly figure ``fig`` (dict) whose titles fit a figure ``width`` px wide: each
    wrapped at spaces; the subplot titles at one font size, the largest (down to :data:`MIN_FONT`)
    at which every one fits its subplot's width and, below the first row, the gap above it; a strip
    of :data:`MODEBAR_HEIGHT` kept above the titles for plotly's tool bar; the top margin and the
    height grown by what all this needs, so the plot keeps its size. Idempotent."""
    fig = copy.deepcopy(fig)
    layout = fig.setdefault("layout", {})
    margin = {**DEFAULT_MARGIN, **layout.get("margin", {})}
    height = layout.setdefault("height", DEFAULT_HEIGHT)
    plot_height = height - margin["t"] - margin["b"]
    titles = _subplot_titles(fig)
    top_row = max((ann.get("y", 0) for ann, _ in titles), default=0.0)

    def gap_above(ann) -> float | None:  # px between a lower row's title and the row above it
        if ann.get("y", 0) >= top_row - 1e-6:
            return None
        above = [d["domain"][0] for k, d in layout.items() if re.fullmatch(r"yaxis\d*", k)
                 and isinstance(d, dict) and "domain" in d and d["domain"][0] > ann["y"] + 1e-6]
        return (min(above) - ann["y"]) * plot_height - 2 if above else None

    # one font size for every subplot title of the figure: the largest at which all fit
    size = max((ann.get("font", {}).get("size", _font_size(layout)) for ann, _ in titles), default=0)
    texts = [" ".join(lines_of(ann.get("text", ""))) for ann, _ in titles]
    while titles:
        wrapped = [wrap(text, size, _room(fig, span, width)) for text, (_, span) in zip(texts, titles, strict=True)]
        fits = all(max(text_width(line, size) for line in lines) <= _room(fig, span, width)
                   and (gap_above(ann) is None or len(lines) * size * LINE_HEIGHT <= gap_above(ann))
                   for lines, (ann, span) in zip(wrapped, titles, strict=True))
        if fits or size <= MIN_FONT:
            break
        size -= 1
    top_block = 0.0
    for (ann, _), lines in zip(titles, wrapped if titles else [], strict=True):
        ann["text"] = "<br>".join(lines)
        ann.setdefault("font", {})["size"] = size
        if gap_above(ann) is None:
            top_block = max(top_block, len(lines) * size * LINE_HEIGHT)
    title = _title(layout)
    title_block = 0.0
    if title.get("text"):
        tsize = title.get("font", {}).get("size", _font_size(layout) * TITLE_FONT_SCALE)
        lines = wrap(" ".join(lines_of(title["text"])), tsize, _title_room(fig, width))
        title_block = len(lines) * tsize * LINE_HEIGHT + 6
    strip = MODEBAR_HEIGHT if title_block or top_block else 0
    need = round(strip + title_block + top_block + (4 if top_block else 0))
    if need > margin["t"]:
        layout["height"] = height = height + need - margin["t"]
        layout["margin"] = {**layout.get("margin", {}), "t": need}
    if title.get("text"):
        # plotly.js places a title's top as if it had one line: lift it by the lines below the first
        layout["title"] = {**{k: v for k, v in title.items() if k != "pad"}, "text": "<br>".join(lines),
                           "yref": "container", "yanchor": "top",
                           "y": 1 - (MODEBAR_HEIGHT + (len(lines) - 1) * tsize * LINE_HEIGHT) / height}
    return fig
