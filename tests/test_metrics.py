"""Metrics on hand-made inputs with known answers, and the evaluation runner on the synthetic set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from facelib import metrics as M
from facelib.errors import FacelibError


def _rotation(axis, angle):
    axis = torch.as_tensor(axis, dtype=torch.float64)
    axis = axis / axis.norm()
    k = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


# --------------------------------------------------------------------------- landmarks


def test_landmark_errors_perfect_and_known_shift():
    t = torch.rand(2, 68, 2, dtype=torch.float64) * 200
    zero = M.landmark_errors(t, t)
    assert all(torch.equal(v, torch.zeros(2, dtype=torch.float64)) for v in zero.values())
    e = M.landmark_errors(t + torch.tensor([3.0, 4.0], dtype=torch.float64), t)
    torch.testing.assert_close(e["me"], torch.full((2,), 5.0, dtype=torch.float64))
    torch.testing.assert_close(e["mse_x"], torch.full((2,), 9.0, dtype=torch.float64))
    torch.testing.assert_close(e["mse_y"], torch.full((2,), 16.0, dtype=torch.float64))
    n = M.landmark_errors(t + torch.tensor([3.0, 4.0], dtype=torch.float64), t, normaliser=224)
    torch.testing.assert_close(n["me"], torch.full((2,), 5.0 / 224, dtype=torch.float64))
    torch.testing.assert_close(n["mse_x"], torch.full((2,), 9.0 / 224**2, dtype=torch.float64))
    # one point off by 68 px, the rest exact: ME = 1 px
    p = t.clone()
    p[:, 10, 0] += 68
    torch.testing.assert_close(M.landmark_errors(p, t)["me"], torch.ones(2, dtype=torch.float64))
    with pytest.raises(FacelibError, match="shapes"):
        M.landmark_errors(t[:, :5], t)


# --------------------------------------------------------------------------- images


def test_visible_rmse_counts_only_the_visible_region():
    img = torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, :4] = 1
    assert torch.equal(M.visible_rmse(img, img, mask), torch.zeros(2))
    render = img.clone()
    render[:, :, :4] += 0.1  # inside: every value off by 0.1 → 25.5 in 0-255 units
    render[:, :, 4:] += 0.7  # outside: ignored
    torch.testing.assert_close(M.visible_rmse(img, render, mask), torch.full((2,), 25.5))
    assert torch.isnan(M.visible_rmse(img, render, torch.zeros(2, 1, 8, 8))).all()


def test_histogram_dissimilarity_known_values():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 16, 16, generator=g)
    region = torch.ones(1, 1, 16, 16)
    assert float(M.histogram_dissimilarity(img, img, region)) == 0.0
    # a permutation of the pixels has the same histogram
    perm = img.flatten(2)[..., torch.randperm(256, generator=g)].reshape(img.shape)
    assert float(M.histogram_dissimilarity(img, perm, region)) == pytest.approx(0.0, abs=1e-12)
    # dark vs bright values: disjoint histograms in all three channels → the maximum, 3
    assert float(M.histogram_dissimilarity(img * 0.4, 0.6 + img * 0.4, region)) == pytest.approx(3.0)
    # half the pixels moved from bin 0 to bin 31 in one channel: ½·(½²/(1+½) + ½²/½) = 1/3
    a = torch.zeros(1, 3, 4, 4)
    b = a.clone()
    b[0, 0, :2] = 1.0
    assert float(M.histogram_dissimilarity(a, b, torch.ones(1, 1, 4, 4))) == pytest.approx(1 / 3)
    assert math.isnan(float(M.histogram_dissimilarity(a, b, torch.zeros(1, 1, 4, 4))))


def test_segmentation_scores_known_mask():
    region = torch.ones(1, 1, 4, 4)
    truth = torch.zeros(1, 1, 4, 4)
    truth.view(-1)[:8] = 1  # 8 face pixels, 8 outliers
    pred = torch.zeros(1, 1, 4, 4)
    pred.view(-1)[:4] = 1  # 4 true positives
    pred.view(-1)[8:10] = 1  # 2 false positives → FN 4, TN 6
    s = {k: float(v) for k, v in M.segmentation_scores(pred, truth, region).items()}
    assert s == pytest.approx({"acc": 10 / 16, "ppv": 4 / 6, "tpr": 4 / 8, "f1": 8 / 14})
    perfect = M.segmentation_scores(truth, truth, region)
    assert all(float(v) == 1.0 for v in perfect.values())
    # pixels outside the rendered region do not count: hide the two false positives
    region.view(-1)[8:10] = 0
    s = M.segmentation_scores(pred, truth, region)
    assert float(s["ppv"]) == 1.0 and float(s["acc"]) == pytest.approx(10 / 14)
    # soft masks are thresholded at 0.5
    assert float(M.segmentation_scores(truth * 0.7, truth, region)["f1"]) == 1.0
    # nothing to find and nothing found is perfect; finding something that is not there is not
    empty = torch.zeros(1, 1, 4, 4)
    assert float(M.segmentation_scores(empty, empty, torch.ones(1, 1, 4, 4))["ppv"]) == 1.0
    assert float(M.segmentation_scores(torch.ones(1, 1, 4, 4), empty, torch.ones(1, 1, 4, 4))["tpr"]) == 0.0


def test_summary_statistics():
    s = M.summary([1.0, 2.0, 3.0, 4.0, float("nan")])
    assert s == pytest.approx({"mean": 2.5, "std": math.sqrt(1.25), "median": 2.5, "n": 4})
    assert M.summary([])["n"] == 0


# --------------------------------------------------------------------------- identity


def test_embedding_distance_and_rogue_swap(ict):
    a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    b = torch.tensor([[0.0, 2.0], [5.0, 0.0]])
    torch.testing.assert_close(M.embedding_distance(a, b), torch.tensor([math.sqrt(2), 0.0], dtype=torch.float64))
    layout = ict.layout
    occ = torch.randn(2, layout.total)
    clean = torch.randn(2, layout.total)
    out = layout.split(M.rogue_swap(occ, clean, layout))
    o, c = layout.split(occ), layout.split(clean)
    for name in ("id", "tex"):
        assert torch.equal(out[name], o[name])
    for name in ("exp", "gamma", "angle", "trans"):
        assert torch.equal(out[name], c[name])


def test_perceptual_error_is_zero_for_identical_images_and_grows_with_change(ict):
    from facelib.dlib_resnet import dlib_resnet
    from facelib.render import Renderer

    net = dlib_resnet()
    r = Renderer(ict, 112)
    c = ict.layout.zeros(2)
    img = r(c).image.clamp(0, 1)
    assert torch.allclose(M.perceptual_error(net, img, img), torch.zeros(2, dtype=torch.float64), atol=1e-6)
    other = ict.layout.split(c.clone())
    other["id"][1] = 2.5
    changed = r(ict.layout.join(other)).image.clamp(0, 1)
    e = M.perceptual_error(net, img, changed)
    assert e[0] < 1e-6 < 0.05 < e[1] <= 2


# --------------------------------------------------------------------------- shape


def test_procrustes_recovers_a_known_similarity_and_rigid_motion_costs_zero_mm(ict):
    v = ict.neutral.double()
    rot = _rotation([0.3, 1.0, -0.2], 0.7)
    moved = 1.7 * v @ rot.T + torch.tensor([0.5, -0.2, 3.0], dtype=torch.float64)
    aligned, r, s, t = M.procrustes(v, moved, "similarity")
    torch.testing.assert_close(r, rot)
    assert float(s) == pytest.approx(1.7)
    torch.testing.assert_close(aligned, moved)
    rigid = v @ rot.T + torch.tensor([0.5, -0.2, 3.0], dtype=torch.float64)
    mm = M.millimetres_per_unit(ict.info.units)
    assert mm == 100.0
    assert float(M.vertex_error(rigid[None], v[None], mm, "rigid").max()) < 1e-9
    assert float(M.vertex_error(moved[None], v[None], mm, "similarity").max()) < 1e-9
    # without alignment a 1 mm translation is exactly 1 mm everywhere
    shifted = v + torch.tensor([0.01, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(M.vertex_error(shifted[None], v[None], mm, "none"),
                               torch.ones(1, v.shape[0], dtype=torch.float64))
    # rigid alignment cannot undo a scale: 10 % larger face → errors of mm size
    assert float(M.vertex_error(1.1 * v[None], v[None], mm, "rigid").mean()) > 1.0
    # reflections are never used
    mirrored = v * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.linalg.det(M.procrustes(v, mirrored, "rigid")[1]) > 0


def test_point_to_mesh_is_exact():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 3))
    f = np.array([t for t in rng.integers(0, 30, (60, 3)) if len(set(t)) == 3])
    p = rng.normal(size=(300, 3)) * 1.5
    d, near = M.point_to_mesh(p, v, f)
    rows, cols = np.repeat(np.arange(len(p)), len(f)), np.tile(np.arange(len(f)), len(p))
    brute = np.linalg.norm(M._closest_on_triangles(p[rows], *(v[f[cols, k]] for k in range(3))) - p[rows],
                           axis=-1).reshape(len(p), -1).min(1)
    np.testing.assert_allclose(d, brute, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(near - p, axis=-1), d, atol=1e-12)
    # dense samples of the surface are never closer than the exact distance
    u = rng.random((len(f), 500, 2))
    u[u.sum(-1) > 1] = 1 - u[u.sum(-1) > 1]
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    samples = (a[:, None] + (b - a)[:, None] * u[..., :1] + (c - a)[:, None] * u[..., 1:]).reshape(-1, 3)
    sampled = np.linalg.norm(samples[None] - p[:, None], axis=-1).min(1)
    assert (sampled >= d - 1e-12).all() and np.median(sampled - d) < 0.05
    none, nowhere = M.point_to_mesh(np.zeros((0, 3)), v, f)
    assert none.shape == (0,) and nowhere.shape == (0, 3)


def test_scan_to_mesh_known_answers(ict):
    mm = M.millimetres_per_unit(ict.info.units)
    v = ict.neutral.double()
    tri = ict.triangles.numpy()
    lm = ict.landmarks[list(M.NOW_LANDMARKS)]
    # the scan is the mesh itself, seen after an unknown similarity: 0 mm after alignment
    rot = _rotation([1.0, 0.2, 0.1], 0.4)
    scan = (1.3 * v @ rot.T + torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)).numpy()
    d = M.scan_to_mesh(scan, scan[lm.numpy()], v.numpy(), tri, v[lm].numpy(), mm, iterations=2)
    assert d.shape == (v.shape[0],) and d.max() < 1e-6
    # a flat square mesh and scan points 1 mm (0.01 dm) above its interior: exactly 1 mm
    g = np.stack(np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11)), -1).reshape(-1, 2)
    plane = np.concatenate([g, np.zeros((len(g), 1))], 1)
    quads = [(i * 11 + j, i * 11 + j + 1, (i + 1) * 11 + j) for i in range(10) for j in range(10)]
    quads += [(i * 11 + j + 1, (i + 1) * 11 + j + 1, (i + 1) * 11 + j) for i in range(10) for j in range(10)]
    pts = np.concatenate([np.random.default_rng(1).uniform(0.1, 0.9, (200, 2)), np.full((200, 1), 0.01)], 1)
    d = M.scan_to_mesh(pts, plane[:7], plane, np.array(quads), plane[:7], mm, mode="none", iterations=0)
    np.testing.assert_allclose(d, 1.0, atol=1e-9)
    assert M.summary(d)["median"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- evaluation runner


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, ict):
    from facelib import assets
    from facelib.data import synthetic

    for name in ("mask-textures", "face-photos"):
        assets.fetch(name)
    cfg = synthetic.SyntheticConfig(identities=10, variants=2, image_size=64, seed=11)
    root = tmp_path_factory.mktemp("eval") / "set"
    synthetic.generate(root, cfg, progress=False, model=ict)
    return root


def test_evaluation_runner_oracle_is_perfect_and_damage_is_measured(small_set, ict, tmp_path, monkeypatch):
    from facelib.evaluation import runner as evaluate

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    oracle = evaluate.evaluate(evaluate.ground_truth_predictor(small_set), small_set, method="oracle", chapter="ch",
                               profile="smoke", progress=False, scan_points=300)
    for view, row in oracle["views"].items():
        for name in ("landmark_me", "landmark_mse_x", "shape_v2v_mm", "shape_s2m_mm"):
            assert row[name]["mean"] < 1e-3, (view, name)
        assert row["perceptual_dlib"]["mean"] < 0.02
        assert row["histogram_dissimilarity"]["mean"] < 0.01
        assert row["landmark_me"]["n"] == oracle["config"]["images"]
    assert oracle["views"]["clean"]["visible_rmse"]["mean"] < 1.0  # 8-bit rounding of the PNGs
    assert set(oracle["views"]["occluded"]["by_kind"]) <= set(evaluate_kinds(small_set))
    assert "segmentation" in oracle["skipped"]
    # each face's identity is stored beside its index: the intervals resample identities (issue 32)
    truth_ids = np.load(Path(small_set) / "test" / "annotations.npz")["identity"]
    for row in oracle["views"].values():
        assert row["identities"] == [int(truth_ids[f]) for f in row["faces"]]

    layout = ict.layout.slices()

    def shift_and_flatten(c):  # mean identity, and the face 0.05 dm to the right
        c = c.clone()
        c[:, layout["id"]] = 0
        c[:, layout["trans"].start] += 0.05
        return c

    truth = evaluate.ground_truth_predictor(small_set)

    def with_mask(images):  # a method that also segments: everything is "face"
        return {"coefficients": truth(images), "mask": torch.ones(len(images), 1, 64, 64)}

    damaged = evaluate.evaluate(evaluate.ground_truth_predictor(small_set, change=shift_and_flatten), small_set, method="damaged",
                                chapter="ch", profile="smoke", progress=False, scan_points=300)
    segmenting = evaluate.evaluate(with_mask, small_set, method="segmenting", chapter="ch",
                                   profile="smoke", views=("occluded",), progress=False, scan_points=300)
    for view, row in damaged["views"].items():
        assert row["landmark_me"]["mean"] > 1.0
        assert row["shape_v2v_mm"]["mean"] > 0.5 and row["shape_s2m_mm"]["mean"] > 0.1
        assert row["perceptual_dlib"]["mean"] > oracle["views"][view]["perceptual_dlib"]["mean"]
    seg = segmenting["views"]["occluded"]
    assert seg["seg_tpr"]["mean"] == 1.0 and seg["seg_ppv"]["mean"] < 1.0  # occluders called face
    record = json.loads((tmp_path / "ch" / "smoke" / "metrics.json").read_text())
    assert set(record["metrics"]) == {"oracle", "damaged", "segmenting"}
    assert record["config"]["oracle"]["set_checksum"] and record["profile"] == "smoke"


def evaluate_kinds(root):
    from facelib.data.folder import FaceFolder

    return {str(k) for k in FaceFolder(root, "test").annotations["occluder"]}


def test_evaluation_runner_rejects_sets_without_the_views(small_set):
    from facelib.evaluation import runner as evaluate

    with pytest.raises(FacelibError, match="not in split"):
        evaluate.ground_truth_predictor(small_set)(torch.zeros(1, 3, 64, 64))
    with pytest.raises(FacelibError, match="none of the views"):
        evaluate.evaluate(lambda x: x, small_set, method="m", chapter="c", views=("image",), write=False)


def test_gaussian_blur_impulse_response_and_borders():
    """The one Gaussian filter behind Canny, filling, SSIM and blur noise: an impulse comes back as
    the outer product of the 1-D kernel, a constant image stays constant with replicate and reflect
    borders, and zero padding lets the unnormalised filter spread a weight map."""
    from facelib.filters import gaussian_blur, gaussian_kernel

    k = gaussian_kernel(1.5)
    assert len(k) == 11 and k.sum().item() == pytest.approx(1.0)
    assert k[5].item() == pytest.approx(1 / sum(math.exp(-0.5 * (x / 1.5) ** 2) for x in range(-5, 6)))
    impulse = torch.zeros(1, 2, 21, 21, dtype=torch.float64)
    impulse[:, :, 10, 10] = 1.0
    out = gaussian_blur(impulse, 1.5)
    kd = k.double()
    assert torch.allclose(out[0, 1, 5:16, 5:16], kd[:, None] * kd[None, :], atol=1e-12)
    flat = torch.full((1, 3, 9, 9), 0.3)
    for padding in ("replicate", "reflect"):
        assert torch.allclose(gaussian_blur(flat, 2.0, padding=padding), flat, atol=1e-6)
    ones = torch.ones(1, 1, 9, 9)
    spread = gaussian_blur(ones, 2.0, radius=6, padding="zeros", normalise=False)
    assert spread[0, 0, 4, 4] > spread[0, 0, 0, 0] > 0  # the border sees fewer known pixels
    with pytest.raises(FacelibError, match="sigma > 0"):
        gaussian_blur(flat, 0.0)


def test_controls_ceiling_floor_clean_input_oracle_and_invariance(small_set, ict):
    """Issue 32's references on the small set: the true coefficients with the true segmentation
    (ceiling) score 0 mm and F1 = 1, the mean face calling everything face (floor) does worse, and the
    room between them is positive; a method's clean-input oracle scores its clean-view shape on every
    view and is perfectly invariant; a method that reads the pixels moves between the twins, the
    true coefficients do not."""
    from facelib.evaluation import controls, runner

    def run(predict, name, **kw):
        return {"views": runner.evaluate(predict, small_set, method=name, chapter="ch", profile="smoke", write=False,
                                         progress=False, scan_points=200, **kw)["views"]}

    metrics = {controls.CEILING: run(runner.ground_truth_predictor(small_set, masks=True), "truth"),
               controls.FLOOR: run(runner.mean_face_predictor(ict, everything_face=True), "mean")}
    top = metrics[controls.CEILING]["views"]
    assert top["occluded"]["seg_f1"]["mean"] == 1.0 and top["occluded"]["shape_v2v_mm"]["mean"] < 1e-3
    for name in (*controls.INVARIANCE, "invariance_identity_mm", "invariance_albedo"):  # nothing moves
        assert top["occluded"][name]["mean"] < 1e-6 and top["noisy"][name]["mean"] < 1e-6
    rows = controls.controls_rows(metrics)
    assert {(r["metric"], r["view"]) for r in rows} >= {("shape_v2v_mm", "occluded"), ("seg_f1", "occluded"),
                                                          ("perceptual_dlib", "noisy"), ("landmark_me", "clean")}
    by = {(r["metric"], r["view"]): r for r in rows}
    assert by[("shape_v2v_mm", "clean")]["room"].estimate > 0.5
    assert by[("seg_f1", "occluded")]["room"].estimate > 0  # the floor calls occluders face
    assert "| shape v2v (mm) | occluded |" in controls.controls_markdown(rows)

    truth = runner.ground_truth_predictor(small_set)
    layout = ict.layout.slices()

    def reads_pixels(images):  # the leading identity component set by a hash of the pixels: not invariant
        c = truth(images).clone()
        c[:, layout["id"].start] += 3 * (images.double().sum((1, 2, 3)) * 1e3 % 1).float()
        return c

    def colours_by_pixels(images):  # the leading albedo component moves instead: the identity stays
        c = truth(images).clone()
        c[:, layout["tex"].start] += 3 * (images.double().sum((1, 2, 3)) * 1e3 % 1).float()
        return c

    method = run(reads_pixels, "m")
    oracle = run(runner.clean_input_oracle(reads_pixels, small_set), "m (clean input)")
    colours = run(colours_by_pixels, "c")
    for view in ("occluded", "noisy"):  # who the face is and what colour it is, apart
        assert method["views"][view]["invariance_identity_mm"]["mean"] > 0.01
        assert method["views"][view]["invariance_albedo"]["mean"] < 1e-9
        assert colours["views"][view]["invariance_albedo"]["mean"] > 1e-4
        assert colours["views"][view]["invariance_identity_mm"]["mean"] < 1e-6
    for view in ("occluded", "noisy"):
        assert method["views"][view]["invariance_v2v_mm"]["mean"] > 0.01
        assert oracle["views"][view]["invariance_v2v_mm"]["mean"] < 1e-6
        assert oracle["views"][view]["per_face"]["shape_v2v_mm"] == method["views"]["clean"]["per_face"]["shape_v2v_mm"]
    both = {"m": method, "m (clean input)": oracle}
    assert controls.robustness_rooms(both, "m")["occluded"]["shape_v2v_mm"]["estimate"] == pytest.approx(
        method["views"]["occluded"]["shape_v2v_mm"]["mean"] - method["views"]["clean"]["shape_v2v_mm"]["mean"], abs=1e-4)
