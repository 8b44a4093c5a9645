"""Figures for the book: plotly meshes, image grids, an ipywidgets explorer, loss curves."""

from __future__ import annotations

import numpy as np
import torch

from .morphable import MorphableModel
from .render import Renderer


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(B, 3, H, W)`` float in [0, 1] → uint8 ``(H, W, 3)`` / ``(B, H, W, 3)``."""
    arr = image.detach().clamp(0, 1).cpu()
    arr = arr.permute(1, 2, 0) if arr.dim() == 3 else arr.permute(0, 2, 3, 1)
    return (arr.numpy() * 255 + 0.5).astype(np.uint8)


def png_data_uri(image: np.ndarray) -> str:
    """``(H, W, 3)`` uint8 → ``data:image/png;base64,…`` (plotly embeds it compressed, not as a
    JSON list of pixel values: notebooks and pages stay small)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def mesh_figure(model: MorphableModel, vertices: torch.Tensor, colors: torch.Tensor | None = None,
                title: str = "", height: int = 420):
    """Plotly ``Mesh3d`` of one mesh ``(V, 3)`` with optional per-vertex colours ``(V, 3)`` in [0, 1]."""
    import plotly.graph_objects as go

    v = vertices.detach().cpu().numpy()
    t = model.triangles.cpu().numpy()
    kw = {}
    if colors is not None:
        c = (colors.detach().clamp(0, 1).cpu().numpy() * 255).astype(int)
        kw["vertexcolor"] = [f"rgb({r},{g},{b})" for r, g, b in c]
    else:
        kw["color"] = "rgb(220,190,170)"
    mesh = go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=t[:, 0], j=t[:, 1], k=t[:, 2],
                     flatshading=False, lighting=dict(ambient=0.5, diffuse=0.7, specular=0.1), **kw)
    fig = go.Figure(mesh)
    fig.update_layout(
        title=title, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        scene=dict(aspectmode="data", xaxis_visible=False, yaxis_visible=False, zaxis_visible=False,
                   camera=dict(eye=dict(x=0.0, y=0.0, z=2.0), up=dict(x=0, y=1, z=0))),
    )
    return fig


def image_grid(images: torch.Tensor, titles: list[str] | None = None, cols: int | None = None,
               landmarks: torch.Tensor | None = None, height: int = 260):
    """Plotly grid of ``(B, 3, H, W)`` images, optionally with ``(B, 68, 2)`` landmarks on top."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if images.shape[1] == 1:  # masks and probability maps: grey
        images = images.expand(-1, 3, -1, -1)
    arr = to_numpy_image(images)
    n = len(arr)
    cols = cols or n
    rows = (n + cols - 1) // cols
    title_px = 34 if titles else 6  # two 12-px lines of a subplot title between rows (plot_titles wraps)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=min(0.3, title_px / (height * rows)) if rows > 1 else 0.0)
    fig.update_annotations(font_size=12)
    for i, img in enumerate(arr):
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Image(source=png_data_uri(img)), row=r, col=c)
        if landmarks is not None:
            lm = landmarks[i].detach().cpu().numpy()
            fig.add_trace(go.Scatter(x=lm[:, 0] - 0.5, y=lm[:, 1] - 0.5, mode="markers",
                                     marker=dict(size=3, color="#00e5ff"), showlegend=False), row=r, col=c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height * rows, margin=dict(l=0, r=0, t=title_px, b=0))
    return fig


def loss_curves(history: list[dict], keys: list[str], title: str = "", log: bool = True):
    """Plotly line chart of logged losses over steps (a key is drawn where it was logged: a method
    with phases logs each network's terms only in its own phases)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for k in keys:
        points = [(h["step"], h[k]) for h in history if k in h]
        fig.add_trace(go.Scatter(x=[s for s, _ in points], y=[v for _, v in points], mode="lines", name=k))
    fig.update_layout(title=title, xaxis_title="step", yaxis_type="log" if log else "linear",
                      height=320, margin=dict(l=40, r=10, t=40, b=40))
    return fig


#: a colour per run name, shared by every chapter's figures (others cycle through plotly's palette)
RUN_COLOURS = {"rnet": "#1f77b4", "mofa": "#ff7f0e", "sopi": "#2ca02c", "sopi_l1": "#17becf", "mopi": "#d62728",
               "mopi_label": "#bcbd22", "mopi_perceptual": "#9467bd"}


def training_figure(runs: dict, loss_panels: dict[str, list[str]] | None = None, loss_key: str = "total",
                    validation: str = "landmark_me", views=("clean", "occluded"),
                    validation_title: str = "validation landmark ME (px at 224)", height: int = 360):
    """Training losses and validation curves of several runs side by side.

    Args:
        runs: run name → a training result with ``losses()`` and ``validation()`` lists of
            ``{"step", <key>: value}`` (:class:`facelib.train.TrainResult`).
        loss_panels: panel title → run names whose ``loss_key`` it plots (default: one panel
            "training loss (total)" with every run).
        validation: the validation key prefix; one line per run and view (``<prefix>_<view>``),
            solid for the first view, dotted for the others.
    Returns:
        a plotly figure: the loss panels (log scale), then the validation panel.
    """
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    loss_panels = loss_panels or {f"training loss ({loss_key})": list(runs)}
    cols = len(loss_panels) + 1
    fig = make_subplots(rows=1, cols=cols, subplot_titles=(*loss_panels, validation_title))
    palette = {name: RUN_COLOURS.get(name, qualitative.Plotly[i % len(qualitative.Plotly)])
               for i, name in enumerate(runs)}
    for col, names in enumerate(loss_panels.values(), start=1):
        for name in names:
            logs = [e for e in runs[name].losses() if loss_key in e]
            fig.add_trace(go.Scatter(x=[e["step"] for e in logs], y=[e[loss_key] for e in logs], name=name,
                                     line=dict(color=palette[name])), row=1, col=col)
        fig.update_yaxes(type="log", row=1, col=col)
    for name, run in runs.items():
        for k, view in enumerate(views):
            key = f"{validation}_{view}"
            val = [e for e in run.validation() if key in e]
            fig.add_trace(go.Scatter(x=[e["step"] for e in val], y=[e[key] for e in val], name=f"{name} val {view}",
                                     line=dict(color=palette[name], dash="solid" if k == 0 else "dot")),
                          row=1, col=cols)
    for col in range(1, cols + 1):
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40))
    return fig


def validation_figure(runs: dict, panels: dict[str, str], reference: dict[str, float] | None = None,
                      height: int = 320):
    """Validation values against training steps: one panel per ``panels`` key (→ title), one line
    per run that logged it; ``reference`` (key → value) draws a dashed line (e.g. the mean face)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels.values()))
    fig.update_annotations(font_size=12)
    for i, (name, run) in enumerate(runs.items()):
        colour = RUN_COLOURS.get(name, qualitative.Plotly[i % len(qualitative.Plotly)])
        for col, key in enumerate(panels, start=1):
            val = [e for e in run.validation() if key in e]
            fig.add_trace(go.Scatter(x=[e["step"] for e in val], y=[e[key] for e in val], name=name,
                                     legendgroup=name, showlegend=col == 1, line=dict(color=colour)), row=1, col=col)
    for col, key in enumerate(panels, start=1):
        if reference and key in reference:
            fig.add_hline(y=reference[key], line_dash="dash", line_color="grey", row=1, col=col,
                          annotation_text="mean face")
        fig.update_xaxes(title_text="training step", row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40))
    return fig


def levers_figure(record: dict, score: str = "identity_v2v_mm", title: str = "identity-only v2v (mm), validation",
                  height: int = 360):
    """The identity levers' learning curves (a :func:`facelib.evaluation.identity.identity_levers`
    record): ``score`` (one of its ``SCORES``) on the clean validation faces the training logged,
    against training steps (left) and against wall time (right, steps × the arm's measured seconds
    per step), one line per trained arm; dashed, the mean face's score on the whole validation split.
    Arms without a curve (the ridge read-out: no training steps) are left out."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    key = f"{score}_clean"

    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"{title} by step", f"{title} by wall time"])
    fig.update_annotations(font_size=12)
    arms = [(label, arm) for label, arm in record["arms"].items() if arm.get("curve")]
    for i, (label, arm) in enumerate(arms):
        points = [e for e in arm["curve"] if key in e]
        style = dict(color=qualitative.Plotly[i % len(qualitative.Plotly)],
                     width=3 if label == record.get("chosen") else 1.5)
        steps, values = [e["step"] for e in points], [e[key] for e in points]
        fig.add_trace(go.Scatter(x=steps, y=values, name=label, legendgroup=label, line=style), row=1, col=1)
        fig.add_trace(go.Scatter(x=[s * arm["seconds_per_step"] for s in steps], y=values, name=label,
                                 legendgroup=label, showlegend=False, line=style), row=1, col=2)
    floor = record["mean_face"][score]["mean"]["estimate"]
    for col in (1, 2):
        fig.add_hline(y=floor, line_dash="dash", line_color="grey", row=1, col=col, annotation_text="mean face")
    fig.update_xaxes(title_text="training step", row=1, col=1)
    fig.update_xaxes(title_text="training wall time (s)", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40), legend=dict(font_size=10))
    return fig


ANCHOR_NAMES = {"network": "network's landmarks", "detector": "dlib's landmarks", "truth": "true landmarks (oracle)"}


REFINEMENT_PANELS = (("shape_v2v_mm", "shape v2v (mm)"), ("identity_cosine", "cos(identity, truth)"),
                     ("landmark_me", "landmark ME (px@224)"))


def refinement_figure(curve: dict, height: int = 340):
    """Shape error and identity cosine against test-time refinement steps, one line per landmark
    anchor, the mean face as a dashed line (:func:`facelib.evaluation.shape.refinement_curve`)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    panels = REFINEMENT_PANELS
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    fig.update_annotations(font_size=12)  # the titles fit a book column
    for i, (anchor, points) in enumerate(curve["curves"].items()):
        steps = sorted(points, key=int)
        for col, (key, _) in enumerate(panels, start=1):
            fig.add_trace(go.Scatter(
                x=[int(k) for k in steps], y=[points[k][key]["mean"] for k in steps], mode="lines+markers",
                name=ANCHOR_NAMES.get(anchor, anchor), legendgroup=anchor, showlegend=col == 1,
                line=dict(color=qualitative.Plotly[i], dash="dot" if anchor == "truth" else "solid")), row=1, col=col)
    for col, (key, _) in enumerate(panels, start=1):
        fig.add_hline(y=curve["mean_face"][key]["mean"], line_dash="dash", line_color="grey", row=1, col=col,
                      annotation_text="mean face")
        fig.update_xaxes(title_text="refinement steps", row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40))
    return fig


def coefficient_explorer(model: MorphableModel, image_size: int = 192, n_modes: int = 4):
    """ipywidgets sliders for the first identity/expression/albedo modes, light and pose.

    Returns a widget that re-renders the face (image) on every change. In the book's HTML it draws
    from its stored state without a kernel (``book/_ext/offline_assets.py``): the sliders move, the
    face stays as stored.
    """
    import io

    import ipywidgets as w
    from PIL import Image

    renderer = Renderer(model, image_size, background=0.35)
    lay = model.layout
    sliders: dict[tuple[str, int], w.FloatSlider] = {}

    def add(block, idx, label, lo, hi):
        sliders[(block, idx)] = w.FloatSlider(value=0.0, min=lo, max=hi, step=0.05, description=label,
                                              continuous_update=False, layout=w.Layout(width="320px"))

    for i in range(min(n_modes, lay.id)):
        add("id", i, f"identity {i}", -3, 3)
    exp_names = model.info.expression_names
    lo_exp = 0.0 if model.info.expression_prior == "unit_interval" else -3.0
    for i, name in enumerate(("jawOpen", "mouthSmile_L", "mouthSmile_R", "eyeBlink_L")):
        idx = exp_names.index(name) if name in exp_names else i
        add("exp", idx, exp_names[idx][:14], lo_exp, 1.0 if lo_exp == 0 else 3.0)
    for i in range(min(n_modes, lay.tex)):
        add("tex", i, model.info.texture_names[i][:14], -3, 3)
    add("angle", 1, "yaw", -0.8, 0.8)
    add("angle", 0, "pitch", -0.5, 0.5)
    add("gamma", 3, "light x (R)", -0.6, 0.6)
    add("gamma", 1, "light y (R)", -0.6, 0.6)
    # a fixed square: in an HBox a flex item stretches to the sliders' height (seen in the book's HTML)
    image = w.Image(format="png", layout=w.Layout(width=f"{image_size}px", height=f"{image_size}px",
                                                  object_fit="contain"))

    def update(*_):
        c = lay.zeros(1)
        s = lay.slices()
        for (block, idx), slider in sliders.items():
            c[0, s[block].start + idx] = slider.value
            if block == "gamma":  # apply the same light direction to G and B
                c[0, s[block].start + idx + 9] = slider.value
                c[0, s[block].start + idx + 18] = slider.value
        with torch.no_grad():
            out = renderer(c)
        buf = io.BytesIO()
        Image.fromarray(to_numpy_image(out.image[0])).save(buf, format="png")
        image.value = buf.getvalue()

    for s in sliders.values():
        s.observe(update, names="value")
    update()
    controls = w.VBox(list(sliders.values()))
    return w.HBox([controls, image], layout=w.Layout(align_items="center"))


def by_kind_bars(metrics: dict, methods: list[str], view: str, metric: str, title: str = "",
                 labels: dict[str, str] | None = None):
    """Grouped bars of ``metric``'s mean per occluder (or noise) kind, one colour per method,
    from the ``by_kind`` entries :func:`facelib.evaluation.runner.evaluate` writes."""
    import plotly.graph_objects as go

    kinds = sorted({k for m in methods for k in metrics[m]["views"][view].get("by_kind", {})})
    fig = go.Figure()
    for m in methods:
        per = metrics[m]["views"][view].get("by_kind", {})
        fig.add_trace(go.Bar(name=(labels or {}).get(m, m), x=kinds,
                             y=[per.get(k, {}).get(metric) for k in kinds]))
    fig.update_layout(barmode="group", title=title, yaxis_title=metric, height=360,
                      margin=dict(l=40, r=10, t=40, b=80))
    return fig


def reconstructions(images: torch.Tensor, methods: dict, lit: bool = True, titles: list[str] | None = None,
                    height: int = 170):
    """One row per image of ``images`` ``(B, 3, H, W)``: the input, then each method's reconstruction
    rendered over it (or, with ``lit=False``, its albedo alone). ``methods``: column title → a
    :class:`~facelib.methods.regressor.Regressor` (its ``predict`` and ``renderer``)."""
    cols = [images]
    for m in methods.values():
        with torch.no_grad():
            c = m.predict(images).coefficients.to(m.device)
            out = m.renderer(c, background=images.to(m.device)) if lit else m.renderer(c, lit=False)
        cols.append(out.image.clamp(0, 1).detach().cpu())
    panels = torch.stack(cols, 1).flatten(0, 1)
    head = ["input", *methods]
    labels = []
    for r in range(len(images)):  # column heads on the first row, row titles in the first column
        row = head if r == 0 else [""] * len(head)
        if titles:
            row = [f"{titles[r]}: {row[0]}".rstrip(": ")] + row[1:]
        labels += row
    return image_grid(panels, labels, cols=len(head), height=height)


def _interval_bars(intervals: list, **style) -> dict:
    """Plotly error bars from each point's mean to the ends of its interval (asymmetric)."""
    return dict(type="data", symmetric=False, array=[iv.high - iv.estimate for iv in intervals],
                arrayminus=[iv.estimate - iv.low for iv in intervals], **style)


def interval_panels(panels: dict[str, dict[str, dict]], methods: list[str], title: str = "", height: int | None = None):
    """Means with their 95 % intervals, one panel per ``panels`` key (a metric), methods down the
    shared y axis in the order given, one colour per series (a condition): ``panels[panel][series]
    [method]`` is a :class:`facelib.stats.Interval`. For ranking methods by several metrics at once."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=list(panels),
                        horizontal_spacing=0.03)
    fig.update_annotations(font_size=12)
    series = list(dict.fromkeys(s for p in panels.values() for s in p))
    for col, panel in enumerate(panels.values(), start=1):
        for k, name in enumerate(series):
            ivs = panel.get(name, {})
            shown = [m for m in methods if m in ivs]
            fig.add_trace(go.Scatter(
                x=[ivs[m].estimate for m in shown], y=shown, mode="markers", name=name, legendgroup=name,
                showlegend=col == 1, marker=dict(color=qualitative.Plotly[k % 10], size=8),
                error_x=_interval_bars([ivs[m] for m in shown])), row=1, col=col)
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=methods)
    fig.update_layout(title=dict(text=title, font_size=14), height=height or 120 + 34 * len(methods),
                      margin=dict(l=40, r=10, t=70, b=40), legend=dict(orientation="h", y=-0.08))
    return fig


def condition_lines(values: dict[str, dict], conditions: list[str], title: str = "", yaxis: str = "",
                    height: int = 380):
    """One line per method across ``conditions`` (x), each point a mean with its 95 % interval:
    ``values[method][condition]`` is a :class:`facelib.stats.Interval` (missing points are skipped)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    fig = go.Figure()
    for k, (method, ivs) in enumerate(values.items()):
        shown = [c for c in conditions if c in ivs]
        fig.add_trace(go.Scatter(
            x=shown, y=[ivs[c].estimate for c in shown], mode="lines+markers", name=method,
            line=dict(color=qualitative.Plotly[k % 10]),
            error_y=_interval_bars([ivs[c] for c in shown], thickness=1)))
    fig.update_layout(title=dict(text=title, font_size=14), yaxis_title=yaxis, height=height,
                      margin=dict(l=50, r=10, t=50, b=90))
    return fig
