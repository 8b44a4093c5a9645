"""Evaluation metrics of the four papers (DESIGN 7): one function per metric, each citing where it
is defined. Every function returns one value per image (or per point) so that callers can report
mean ± std, medians, or per-occluder breakdowns; :func:`summary` does the aggregation.

Conventions: images are ``(B, 3, H, W)`` float RGB in ``[0, 1]``; masks ``(B, 1, H, W)`` in
``{0, 1}`` (floats or bools); landmarks ``(B, 68, 2)`` continuous pixels; vertices ``(B, V, 3)`` in
the model's units (:func:`millimetres_per_unit` converts).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .camera import rotate_directions
from .errors import FacelibError
from .filters import gaussian_blur
from .lighting import shade

# --------------------------------------------------------------------------- aggregation


def summary(values) -> dict[str, float]:
    """``{"mean", "std", "median", "n"}`` of finite values (NaN entries are dropped and not
    counted); ``std`` is the population standard deviation (NoW's ``np.std``)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    v = v[torch.isfinite(v)]
    if v.numel() == 0:
        return {"mean": math.nan, "std": math.nan, "median": math.nan, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(unbiased=False)),
            "median": float(np.median(v.numpy())), "n": int(v.numel())}


def _mask(m: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(m).to(like.dtype)
    if m.dim() == 3:
        m = m[:, None]
    if m.shape[-2:] != like.shape[-2:]:
        raise FacelibError(f"mask {tuple(m.shape)} does not match image {tuple(like.shape)}")
    return m


# --------------------------------------------------------------------------- images


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, optionally inside ``mask`` ``(B, 1, H, W)``."""
    err = (a - b).square()
    if mask is None:
        mse = err.mean((1, 2, 3))
    else:
        mse = (err * mask).sum((1, 2, 3)) / (mask.sum((1, 2, 3)) * a.shape[1]).clamp_min(1.0)
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))


def ssim(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None, sigma: float = 1.5,
         peak: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image: the SSIM map of luminance, contrast and
    structure in an 11×11 Gaussian window (σ = 1.5, constants ``(0.01 peak)²``, ``(0.03 peak)²``),
    averaged over channels and over the pixels of ``mask`` ``(B, 1, H, W)`` (all pixels without)."""
    def blur(t):
        return gaussian_blur(t, sigma, radius=5, padding="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    m = m.mean(1, keepdim=True)
    if mask is None:
        return m.mean((1, 2, 3))
    mask = _mask(mask, m)
    return (m * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3)).clamp_min(1.0)


def visible_rmse(image: torch.Tensor, render: torch.Tensor, visible: torch.Tensor,
                 scale: float = 255.0) -> torch.Tensor:
    """Root-mean-square error between input and reconstruction inside the visible face region,
    per image, in 0-255 intensity units (FOCUS, Li et al. CVPR 2023, Sec. 4.2 "Image fitting
    accuracy", Table 1: RMSE "inside visible face regions, with provided GT segmentation masks").

    ``image``, ``render``: ``(B, 3, H, W)`` in [0, 1]. ``visible``: ``(B, 1, H, W)`` (or
    ``(B, H, W)``) ground-truth visible-face mask (face and not occluded), intersected by callers
    with the rendered region. Returns ``(B,)``; images with an empty mask give NaN.
    """
    m = _mask(visible, image)
    sq = ((image - render) * scale).square() * m
    n = m.sum((1, 2, 3)) * image.shape[1]
    return torch.where(n > 0, (sq.sum((1, 2, 3)) / n.clamp_min(1)).sqrt(), torch.full_like(n, math.nan))


def histogram_dissimilarity(image: torch.Tensor, render: torch.Tensor, region: torch.Tensor,
                            bins: int = 32) -> torch.Tensor:
    """Colour-histogram dissimilarity between a face image and its reconstruction (ORN, Tiwari
    et al. WACV 2022, Sec. 4.2, Tables 2, 4, 6 — the paper names the metric but not its formula).

    Our definition: for each RGB channel, a ``bins``-bin histogram of the values in ``[0, 1]`` over
    the pixels of ``region`` (the rendered face, restricted by callers to where the reference is
    valid), normalised to sum 1; the symmetric chi-squared distance
    ``½ Σ_b (p_b − q_b)² / (p_b + q_b)`` per channel (0 = same distribution, 1 = disjoint), summed
    over the three channels, so the value lies in ``[0, 3]``. Chi-squared is the usual histogram
    comparison (OpenCV ``HISTCMP_CHISQR_ALT`` up to a factor 2); the symmetric, normalised form
    makes it independent of the region's size and bounded. Compare against the *clean* image when
    one exists (the synthetic benchmark has it), so that a method is not rewarded for painting the
    occluder into the face. Absolute values are therefore not comparable with ORN's tables.

    ``image``, ``render``: ``(B, 3, H, W)``; ``region``: ``(B, 1, H, W)`` (or ``(B, H, W)``).
    Returns ``(B,)`` float64, NaN where the region is empty.
    """
    m = _mask(region, image)[:, 0] > 0.5
    out = torch.full((image.shape[0],), math.nan, dtype=torch.float64)
    for i in range(image.shape[0]):
        if not m[i].any():
            continue
        total = 0.0
        for c in range(3):
            p = torch.histc(image[i, c][m[i]].double().clamp(0, 1), bins, 0, 1)
            q = torch.histc(render[i, c][m[i]].double().clamp(0, 1), bins, 0, 1)
            p, q = p / p.sum(), q / q.sum()
            s = p + q
            total += float(0.5 * ((p - q).square()[s > 0] / s[s > 0]).sum())
        out[i] = total
    return out


def segmentation_scores(predicted: torch.Tensor, truth: torch.Tensor, region: torch.Tensor,
                        threshold: float = 0.5) -> dict[str, torch.Tensor]:
    """Accuracy, precision (PPV), recall (TPR) and F1 of a face/outlier segmentation, per image,
    counted only inside the rendered face region (FOCUS, Sec. 4.3, Tables 4 and 5).

    The positive class is *face* (mask value 1), as in FOCUS, whose mask "describes whether a pixel
    depicts the face (1) or outliers (0)". ``predicted`` may be soft (thresholded at
    ``threshold``). A ratio whose denominator is 0 (e.g. no positive pixel at all) is 1 when the
    prediction is also empty there and 0 otherwise, so perfect predictions always score 1.

    ``predicted``, ``truth``, ``region``: ``(B, 1, H, W)`` (or ``(B, H, W)``), floats or bools.
    Returns ``{"acc", "ppv", "tpr", "f1"}``, each ``(B,)`` float64.
    """
    r = _mask(region, predicted.float()) > 0.5
    p = (_mask(predicted, predicted.float()) > threshold) & r
    t = (_mask(truth, predicted.float()) > 0.5) & r
    dims = (1, 2, 3)
    tp = (p & t).sum(dims).double()
    fp = (p & ~t).sum(dims).double()
    fn = (~p & t).sum(dims).double()
    tn = (~p & ~t & r).sum(dims).double()

    def ratio(num, den, empty_ok):
        return torch.where(den > 0, num / den.clamp_min(1), empty_ok.double())

    n = r.sum(dims).double()
    return {
        "acc": ratio(tp + tn, n, torch.ones_like(n, dtype=torch.bool)),
        "ppv": ratio(tp, tp + fp, fn == 0),
        "tpr": ratio(tp, tp + fn, fp == 0),
        "f1": ratio(2 * tp, 2 * tp + fp + fn, torch.ones_like(n, dtype=torch.bool)),
    }


# --------------------------------------------------------------------------- landmarks


def landmark_errors(pred, target, normaliser: float = 1.0) -> dict[str, torch.Tensor]:
    """ORN's landmark errors per image (Tiwari et al. WACV 2022, Sec. 4.2.1, Tables 1, 3, 5):
    ``me`` — mean Euclidean distance between corresponding landmarks; ``mse_x``, ``mse_y`` — mean
    squared difference of the x and of the y coordinates, reported separately.

    ``normaliser`` divides the coordinates first: ORN uses 224 on AFLW2000-3D ("landmark
    coordinate divided by 224"; our crops may be smaller, so pass the image size). ``pred``,
    ``target``: ``(..., N, 2)``; numpy or torch.
    """
    p = torch.as_tensor(pred, dtype=torch.float64) / normaliser
    t = torch.as_tensor(target, dtype=torch.float64) / normaliser
    if p.shape != t.shape or p.shape[-1] != 2:
        raise FacelibError(f"landmarks must have equal (..., N, 2) shapes, got {tuple(p.shape)} and {tuple(t.shape)}")
    d = p - t
    return {"me": d.norm(dim=-1).mean(-1), "mse_x": d[..., 0].square().mean(-1),
            "mse_y": d[..., 1].square().mean(-1)}


def landmark_nme(pred, target, normalisation: str = "outer_eye_corners"):
    """Mean point-to-point landmark error normalised by the inter-ocular distance, per image.

    ``pred``, ``target``: ``(..., 68, 2)``. ``normalisation``: ``"outer_eye_corners"`` (points 36
    and 45, the 300-W convention of Sagonas et al. 2016, used for dlib's predictor) or
    ``"eye_centres"`` (inter-pupil). Returns ``(...)``; accepts numpy or torch.
    """
    p, t = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    if normalisation == "outer_eye_corners":
        d = (t[..., 36, :] - t[..., 45, :]).norm(dim=-1)
    elif normalisation == "eye_centres":
        d = (t[..., 36:42, :].mean(-2) - t[..., 42:48, :].mean(-2)).norm(dim=-1)
    else:
        raise ValueError(f"unknown normalisation {normalisation!r}")
    return (p - t).norm(dim=-1).mean(-1) / d


# --------------------------------------------------------------------------- identity


def embedding_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L2 distance between L2-normalised embeddings ``(B, D)``, per row: in ``[0, 2]``,
    ``= √(2 − 2 cos)``."""
    return (F.normalize(a.double(), dim=-1) - F.normalize(b.double(), dim=-1)).norm(dim=-1)


def rogue_swap(occluded: torch.Tensor, clean: torch.Tensor, layout) -> torch.Tensor:
    """Coefficients ROGUE renders for its perceptual error (Algorithm 1, "Update
    C_OE ← C_GE, C_OI ← C_GI, C_OP ← C_GP"): shape (id) and texture from the occluded/noisy image,
    expression, illumination (gamma) and pose (angle, translation) from the clean image.
    ``occluded``, ``clean``: ``(B, total)`` coefficient vectors of ``layout``; returns ``(B, total)``."""
    o, c = layout.split(occluded), layout.split(clean)
    return layout.join({"id": o["id"], "tex": o["tex"], "exp": c["exp"], "gamma": c["gamma"],
                        "angle": c["angle"], "trans": c["trans"]})


def perceptual_error(embedder, clean: torch.Tensor, render: torch.Tensor, landmarks=None,
                     clean_embedding: torch.Tensor | None = None) -> torch.Tensor:
    """ROGUE's perceptual error (Tiwari et al. BMVC 2022, Sec. 5.1, Algorithm 1, Table 1):
    ``ν(I_G, I_O')`` — the L2 distance between the normalised embeddings of the clean image
    ``I_G`` and the render ``I_O'`` of :func:`rogue_swap`'s coefficients over ``I_G``; per image.

    Both images share one frame, so one set of ``landmarks`` (the clean image's; ``None`` for
    crops aligned by :mod:`facelib.align`) aligns both. ``embedder``: a
    :class:`facelib.recognition.Embedder` (the paper uses FaceNet-512 and ArcFace). Pass
    ``clean_embedding`` (``embedder.embed(clean, landmarks)``, ``(B, D)``) when scoring several
    renders of one clean batch.

    ``clean``, ``render``: ``(B, 3, H, W)`` in [0, 1]; ``landmarks``: ``(B, 68, 2)`` pixels or
    ``None``. Returns ``(B,)`` float64 distances in [0, 2].
    """
    with torch.no_grad():
        if clean_embedding is None:
            clean_embedding = embedder.embed(clean, landmarks)
        return embedding_distance(clean_embedding, embedder.embed(render, landmarks))


# --------------------------------------------------------------------------- 3D shape

_MM = {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0}


def albedo_bleeding(model, coeffs_occluded: torch.Tensor, coeffs_clean: torch.Tensor, occluded: torch.Tensor,
                    clean: torch.Tensor, occluder_in_face: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far an occluder's colour leaks into the estimated skin: the "ghost-like" faces of ORN
    (Sec. 4, Fig. 3) and ROGUE (Fig. 1, 5). Not a metric of either paper; they show it in figures.

    ``ΔA`` = mean over the model's skin vertices of ``albedo(occluded prediction) − albedo(clean
    prediction)`` (RGB); ``ΔI`` = mean over occluder pixels inside the face of ``occluded − clean``
    image (RGB: the colour the occluder brought). Per image:

    * ``shift`` = ``|ΔA|`` — how much the skin colour changed (albedo units, 0-1 scale);
    * ``toward`` = ``cos(ΔA, ΔI)`` — 1 when the skin moved straight toward the occluder's colour,
      0 when unrelated (NaN when no occluder pixel lies in the face);
    * ``shift_lit``, ``toward_lit`` — the same for the lit skin colour (:func:`lit_skin_colour`),
      which also counts colour that leaked into the estimated light.

    Args:
        model: the :class:`~facelib.morphable.MorphableModel` (albedo and skin weights).
        coeffs_occluded, coeffs_clean: ``(B, total)`` predictions for the two views.
        occluded, clean: ``(B, 3, H, W)`` images; occluder_in_face: ``(B, 1, H, W)`` mask.
    """
    m = occluder_in_face.to(occluded)
    area = m.sum((1, 2, 3))
    d_image = ((occluded - clean) * m).sum((2, 3)) / area.clamp_min(1.0)[:, None]
    out = {}
    for suffix, colour in (("", skin_albedo), ("_lit", lit_skin_colour)):
        d = colour(model, coeffs_occluded) - colour(model, coeffs_clean)  # (B, 3)
        toward = F.cosine_similarity(d.double(), d_image.double(), dim=-1, eps=1e-12)
        out[f"shift{suffix}"] = d.norm(dim=-1)
        out[f"toward{suffix}"] = torch.where(area > 0, toward, torch.full_like(toward, float("nan")))
    return out


def skin_albedo(model, coeffs: torch.Tensor) -> torch.Tensor:
    """``(B, 3)`` mean RGB albedo over the model's skin vertices (weighted by ``model.skin``) of
    the texture coefficients in ``coeffs`` ``(B, total)``: the estimated skin tone."""
    w = model.skin[None, :, None].to(coeffs)
    albedo = model.albedo(model.layout.split(coeffs)["tex"])
    return (albedo * w).sum(1) / w.sum(1)


def lit_skin_colour(model, coeffs: torch.Tensor) -> torch.Tensor:
    """``(B, 3)`` mean RGB of the *shaded* skin (albedo × SH irradiance of the predicted light,
    normals of the predicted shape in camera space), weighted by ``model.skin``: the skin colour a
    viewer sees. An occluder's colour can leak into the light (``γ``) instead of the albedo; this
    counts both."""
    c = model.layout.split(coeffs)
    normals = rotate_directions(model.vertex_normals(model.shape(c["id"], c["exp"])), c["angle"])
    colours = shade(model.albedo(c["tex"]), normals, c["gamma"])
    w = model.skin[None, :, None].to(coeffs)
    return (colours * w).sum(1) / w.sum(1)


def albedo_colour_change(model, coeffs_by_colour: torch.Tensor, coeffs_clean: torch.Tensor) -> dict[str, torch.Tensor]:
    """ORN's colour-invariance experiment as numbers (Tiwari et al. 2022, ORN, Sec. 4.1.1, Fig. 3:
    the same occluder in different colours over the same face; a robust model keeps the skin tone).

    With ``A_c`` the :func:`skin_albedo` predicted under occluder colour ``c`` and ``A_0`` the one
    predicted from the unoccluded image:

    * ``change`` ``(C, B)`` = ``|A_c − A_0|`` — how far each colour moved the skin tone;
    * ``spread`` ``(B,)`` = mean over colours of ``|A_c − mean_c A_c|`` — how much the skin tone
      depends on the occluder's colour (0 = invariant);
    * ``change_lit``, ``spread_lit``: the same for the lit skin colour (:func:`lit_skin_colour`),
      which also counts colour that leaked into the estimated light;
    * ``albedo`` ``(C, B, 3)`` = ``A_c``, and ``clean`` ``(B, 3)`` = ``A_0`` (for figures).

    Args:
        model: the :class:`~facelib.morphable.MorphableModel`.
        coeffs_by_colour: ``(C, B, total)`` predictions for ``C`` colours of ``B`` faces.
        coeffs_clean: ``(B, total)`` predictions for the unoccluded faces.
    """
    c, b, p = coeffs_by_colour.shape
    albedo = skin_albedo(model, coeffs_by_colour.reshape(c * b, p)).reshape(c, b, 3)
    clean = skin_albedo(model, coeffs_clean)
    lit = lit_skin_colour(model, coeffs_by_colour.reshape(c * b, p)).reshape(c, b, 3)
    lit_clean = lit_skin_colour(model, coeffs_clean)
    return {"change": (albedo - clean[None]).norm(dim=-1),
            "spread": (albedo - albedo.mean(0, keepdim=True)).norm(dim=-1).mean(0),
            "change_lit": (lit - lit_clean[None]).norm(dim=-1),
            "spread_lit": (lit - lit.mean(0, keepdim=True)).norm(dim=-1).mean(0),
            "albedo": albedo, "clean": clean}


def shape_breakdown(model, predicted: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Where a shape error comes from (a diagnostic, not a paper's metric): the mean
    similarity-aligned vertex error (:func:`vertex_error`, mm) of the predicted identity and
    expression (``both``), of the predicted identity with the true expression (``identity``), of
    the true identity with the predicted expression (``expression``) and of the mean identity with
    the true expression (``mean_identity``) — plus ``identity_cosine``, the mean cosine between
    predicted and true identity coefficients (0: the identity was not learned). ``both`` and
    ``identity_cosine`` are the means of :func:`shape_scores`.

    Args:
        model: the :class:`~facelib.morphable.MorphableModel`; predicted, truth: ``(B, total)``.
    """
    lay = model.layout
    p, t = lay.split(predicted.detach().float().cpu()), lay.split(truth.detach().float().cpu())
    true_v = model.shape(t["id"], t["exp"]).double()
    mm = millimetres_per_unit(model.info.units)

    def err(idc, expc) -> float:
        return float(vertex_error(model.shape(idc, expc).double(), true_v, mm).mean())

    scores = shape_scores(model, predicted, truth)
    return {"both": float(scores["shape_v2v_mm"].mean()), "identity": err(p["id"], t["exp"]),
            "expression": err(t["id"], p["exp"]), "mean_identity": err(torch.zeros_like(t["id"]), t["exp"]),
            "identity_cosine": float(scores["identity_cosine"].mean())}


def shape_scores(model, predicted: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per face: ``shape_v2v_mm``, the similarity-aligned vertex error (mm) of the predicted
    identity + expression, ``identity_v2v_mm`` (:func:`identity_v2v`) and ``identity_cosine``, the cosine between predicted and true identity
    coefficients (0: identity not learned; 1: exact up to scale). ``predicted``, ``truth``:
    ``(B, total)``; both values are ``(B,)`` (``shape_v2v_mm`` float64)."""
    lay = model.layout
    p, t = lay.split(predicted.detach().float().cpu()), lay.split(truth.detach().float().cpu())
    v2v = vertex_error(model.shape(p["id"], p["exp"]).double(), model.shape(t["id"], t["exp"]).double(),
                       millimetres_per_unit(model.info.units)).mean(1)
    return {"shape_v2v_mm": v2v, "identity_v2v_mm": identity_v2v(model, predicted, truth),
            "identity_cosine": F.cosine_similarity(p["id"], t["id"], dim=-1, eps=1e-12)}


def identity_v2v(model, predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per face ``(B,)`` float64: the identity-only vertex error (mm), the similarity-aligned
    :func:`vertex_error` of the predicted identity worn with the true expression against the true
    mesh — who the person is, apart from what the face is doing (issue 34; a diagnostic, not a
    paper's metric). ``predicted``, ``truth``: ``(B, total)`` coefficients."""
    lay = model.layout
    p, t = lay.split(predicted.detach().float().cpu()), lay.split(truth.detach().float().cpu())
    return vertex_error(model.shape(p["id"], t["exp"]).double(), model.shape(t["id"], t["exp"]).double(),
                        millimetres_per_unit(model.info.units)).mean(1)


def identity_albedo_change(model, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How far two predictions of one face part in who it is and in its colour (ROGUE's
    ‖C_O − C_G‖ in identity and texture, read in the model's units rather than the coefficients'),
    per face ``(B,)`` float64 each: the mean vertex distance (mm) between the identities of ``a`` and
    ``b`` worn with no expression, after similarity alignment (:func:`vertex_error`), and the mean
    absolute per-vertex albedo difference (RGB in [0, 1]). ``a``, ``b``: ``(B, total)`` coefficients."""
    lay = model.layout
    p, q = lay.split(a.detach().float().cpu()), lay.split(b.detach().float().cpu())
    neutral = torch.zeros_like(p["exp"])
    identity = vertex_error(model.shape(p["id"], neutral).double(), model.shape(q["id"], neutral).double(),
                            millimetres_per_unit(model.info.units)).mean(1)
    albedo = (model.albedo(p["tex"]) - model.albedo(q["tex"])).abs().double().flatten(1).mean(1)
    return identity, albedo


def millimetres_per_unit(units: str) -> float:
    """Factor from a model's length unit (``MorphableModel.units``) to millimetres."""
    try:
        return _MM[units]
    except KeyError:
        raise FacelibError(f"unknown length unit {units!r}; known: {', '.join(_MM)}") from None


def procrustes(source: torch.Tensor, target: torch.Tensor, mode: str = "similarity",
               weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares alignment of ``source`` onto ``target`` (``(B, N, 3)`` or ``(N, 3)``,
    corresponding points; Umeyama 1991): ``mode`` ``"rigid"`` (rotation + translation),
    ``"similarity"`` (+ uniform scale) or ``"none"``. Returns ``(aligned source, R, s, t)`` with
    ``aligned = s · source @ Rᵀ + t``; reflections are excluded."""
    single = source.dim() == 2
    src = (source[None] if single else source).double()
    dst = (target[None] if single else target).double()
    b, n, _ = src.shape
    w = torch.ones(b, n, dtype=torch.float64) if weights is None else torch.as_tensor(weights).double().expand(b, n)
    w = w / w.sum(-1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64).expand(b, 3, 3)
    if mode == "none":
        r, s, t = eye, torch.ones(b, dtype=torch.float64), torch.zeros(b, 3, dtype=torch.float64)
    elif mode in ("rigid", "similarity"):
        mu_s = (w[..., None] * src).sum(1)
        mu_d = (w[..., None] * dst).sum(1)
        a, c = src - mu_s[:, None], dst - mu_d[:, None]
        cov = (w[..., None] * c).transpose(1, 2) @ a  # Σ w dᵢ sᵢᵀ
        u, sig, vt = torch.linalg.svd(cov)
        d = torch.sign(torch.linalg.det(u @ vt))
        fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
        r = u @ fix @ vt
        if mode == "similarity":
            var = (w * a.square().sum(-1)).sum(-1)
            s = (sig * torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1)).sum(-1) / var.clamp_min(1e-18)
        else:
            s = torch.ones(b, dtype=torch.float64)
        t = mu_d - s[:, None] * (mu_s[:, None] @ r.transpose(1, 2))[:, 0]
    else:
        raise FacelibError(f"alignment mode must be 'rigid', 'similarity' or 'none', not {mode!r}")
    aligned = s[:, None, None] * src @ r.transpose(1, 2) + t[:, None]
    if single:
        return aligned[0], r[0], s[0], t[0]
    return aligned, r, s, t


def vertex_error(pred: torch.Tensor, truth: torch.Tensor, mm_per_unit: float,
                 mode: str = "similarity", vertices=None) -> torch.Tensor:
    """Per-vertex Euclidean error in millimetres between a reconstruction and the ground-truth mesh
    of the same topology, after aligning the prediction to the truth (``mode`` as in
    :func:`procrustes`) on ``vertices`` (indices; default all). Synthetic-benchmark analogue of the
    NoW error (Sanyal et al. CVPR 2019), with exact correspondence. ``pred``, ``truth``:
    ``(B, V, 3)`` (or ``(V, 3)``) in the model's units; returns ``(B, V')`` (or ``(V',)``) float64,
    ``V'`` the number of ``vertices``."""
    p, t = pred.double(), truth.double()
    if vertices is not None:
        p, t = p[..., vertices, :], t[..., vertices, :]
    aligned = procrustes(p, t, mode)[0]
    return (aligned - t).norm(dim=-1) * mm_per_unit


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closest points on triangles ``(a, b, c)`` to points ``p`` (all ``(N, 3)``), by the Voronoi
    regions of a triangle (Ericson, Real-Time Collision Detection, Sec. 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = va + vb + vc
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(denom != 0, vb / denom, 0.0)
        w = np.where(denom != 0, vc / denom, 0.0)
    out = a + ab * v[:, None] + ac * w[:, None]  # inside the face
    with np.errstate(divide="ignore", invalid="ignore"):
        # edges (checked before vertices, which take precedence)
        bc_t = np.where((d4 - d3) + (d5 - d6) != 0, (d4 - d3) / ((d4 - d3) + (d5 - d6)), 0.0)
        on_bc = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
        out = np.where(on_bc[:, None], b + (c - b) * bc_t[:, None], out)
        ac_t = np.where(d2 - d6 != 0, d2 / (d2 - d6), 0.0)
        on_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        out = np.where(on_ac[:, None], a + ac * ac_t[:, None], out)
        ab_t = np.where(d1 - d3 != 0, d1 / (d1 - d3), 0.0)
        on_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        out = np.where(on_ab[:, None], a + ab * ab_t[:, None], out)
    out = np.where(((d6 >= 0) & (d5 <= d6))[:, None], c, out)
    out = np.where(((d3 >= 0) & (d4 <= d3))[:, None], b, out)
    out = np.where(((d1 <= 0) & (d2 <= 0))[:, None], a, out)
    return out


class SurfaceDistance:
    """Exact distances from points to the surface of one triangle mesh ``vertices`` ``(V, 3)``,
    ``triangles`` ``(F, 3)``; the mesh's search structures are built once, for every call.

    Exact with pruning. A point's distance is at most its distance ``u`` to the triangles around
    its nearest mesh vertex (computed exactly). A triangle lies inside the ball of its own radius
    ``r`` around its centroid, so only triangles whose centroid is within ``u + r`` of the point can
    hold a closer surface point. Triangles are grouped by radius and each group has its own k-d tree
    (scipy), queried at ``u`` + the group's largest radius: a few large triangles do not widen
    every query. Where several triangles give the same distance, any of them gives the closest point.
    """

    #: radius quantiles that bound the groups of triangles
    GROUPS = (0.5, 0.9, 0.99)

    def __init__(self, vertices, triangles):
        from scipy.spatial import cKDTree

        v = np.asarray(vertices, dtype=np.float64)
        f = np.asarray(triangles, dtype=np.int64)
        self.corners = v[f]  # (F, 3, 3)
        self.centroids = self.corners.mean(1)
        self.radii = np.linalg.norm(self.corners - self.centroids[:, None], axis=-1).max(1)
        self.used = np.unique(f)  # vertices of some triangle
        self.vertex_tree = cKDTree(v[self.used]) if len(f) else None
        incidence = np.argsort(f.ravel(), kind="stable")  # triangle corners sorted by vertex
        self.triangle_of = incidence // 3
        self.first = np.searchsorted(f.ravel()[incidence], np.arange(len(v) + 1))
        label = np.searchsorted(np.quantile(self.radii, self.GROUPS), self.radii) if len(f) else np.zeros(0, int)
        self.groups = []
        for g in np.unique(label):
            members = np.flatnonzero(label == g)
            self.groups.append((members, self.radii[members].max(), cKDTree(self.centroids[members])))

    def __call__(self, points) -> tuple[np.ndarray, np.ndarray]:
        """The distance of each point ``(N, 3)`` to the surface ``(N,)`` and the closest surface
        points ``(N, 3)``."""
        p = np.asarray(points, dtype=np.float64)
        n = len(p)
        if not n or self.vertex_tree is None:
            return np.full(n, np.inf), np.zeros_like(p)
        vertex = self.used[self.vertex_tree.query(p)[1]]
        start, count = self.first[vertex], self.first[vertex + 1] - self.first[vertex]
        rows = np.repeat(np.arange(n), count)
        cols = self.triangle_of[np.repeat(start, count) + np.arange(int(count.sum()))
                                - np.repeat(np.cumsum(count) - count, count)]
        bound = self._distances(p, rows, cols)[0]
        pieces = [(rows, cols)]
        for members, largest, tree in self.groups:
            found = tree.query_ball_point(p, bound + largest + 1e-12)
            sizes = np.fromiter(map(len, found), np.int64, n)
            r = np.repeat(np.arange(n), sizes)
            c = members[np.fromiter(itertools.chain.from_iterable(found), np.int64, int(sizes.sum()))]
            reach = np.linalg.norm(p[r] - self.centroids[c], axis=-1) <= bound[r] + self.radii[c] + 1e-12
            pieces.append((r[reach], c[reach]))
        rows, cols = (np.concatenate(x) for x in zip(*pieces, strict=True))
        best, closest, dist = self._distances(p, rows, cols)
        nearest = np.zeros_like(p)
        hit = np.flatnonzero(dist == best[rows])
        nearest[rows[hit]] = closest[hit]
        return best, nearest

    def _distances(self, p, rows, cols):
        """Per (point, triangle) pair its closest point and distance, and each point's smallest."""
        k = self.corners[cols]
        closest = _closest_on_triangles(p[rows], k[:, 0], k[:, 1], k[:, 2])
        dist = np.linalg.norm(closest - p[rows], axis=-1)
        best = np.full(len(p), np.inf)
        np.minimum.at(best, rows, dist)
        return best, closest, dist


def point_to_mesh(points, vertices, triangles) -> tuple[np.ndarray, np.ndarray]:
    """Exact distance from each point ``(N, 3)`` to the surface of a triangle mesh, and the closest
    surface points ``(N, 3)`` (:class:`SurfaceDistance`; build one to measure many point sets
    against the same mesh)."""
    return SurfaceDistance(vertices, triangles)(points)


# NoW's seven landmarks in iBUG numbering: outer/inner eye corners, nose tip, mouth corners.
NOW_LANDMARKS = (36, 39, 42, 45, 30, 48, 54)


def scan_to_mesh(scan, scan_landmarks, vertices, triangles, mesh_landmarks, mm_per_unit: float,
                 mode: str = "similarity", iterations: int = 10) -> np.ndarray:
    """NoW-style scan-to-mesh error in millimetres (Sanyal et al. CVPR 2019; NoW challenge
    protocol, used by ROGUE Table 2 and FOCUS Tables 2, 3, 5): align the predicted mesh to the scan
    with the seven landmarks (``mode``: NoW uses a similarity), refine the alignment by
    ``iterations`` rounds of ICP against the closest surface points, then return the distance of
    every scan point ``(N,)`` to the predicted surface. Report with :func:`summary`
    (NoW: median, mean, std over all scan points of all images). The distances come out in the
    scan's units (the alignment brings the mesh to the scan's scale) times ``mm_per_unit``:
    millimetres per unit of the *scan* (1 for a scan in mm, the model's factor for a model mesh)."""
    scan = np.asarray(scan, np.float64)
    # the mesh stays where it is (its search structures are built once) and the alignment
    # ``s · R · x + t`` that places it on the scan is kept: the scan is taken into the mesh's frame
    # to search, distances are scaled back by ``s``
    surface = SurfaceDistance(vertices, triangles)
    _, r, s, t = (x.numpy() for x in procrustes(torch.as_tensor(np.asarray(mesh_landmarks, np.float64)),
                                                  torch.as_tensor(np.asarray(scan_landmarks, np.float64)), mode))

    def in_mesh_frame():
        return (scan - t) @ r / s  # row vectors: R⁻¹ (x − t) / s

    for _ in range(iterations):
        _, near = surface(in_mesh_frame())
        # move the mesh so that its closest points land on the scan: fit closest → scan
        _, r2, s2, t2 = (x.numpy() for x in procrustes(torch.as_tensor(s * near @ r.T + t), torch.as_tensor(scan), mode))
        r, s, t = r2 @ r, s2 * s, s2 * t @ r2.T + t2
    dist, _ = surface(in_mesh_frame())
    return dist * s * mm_per_unit
