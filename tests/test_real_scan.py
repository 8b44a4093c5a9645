"""The real scan (issue 33): its landmarks, its render, the NoW protocol on it, the fit's weights."""

import numpy as np
import pytest
import torch

from facelib.evaluation import real_scan as rs
from facelib.fitting import DEEP3D, FitWeights
from facelib.methods.base import Prediction
from facelib.methods.refine import Refined, Refinement
from facelib.morphable import MorphableModel


@pytest.fixture(scope="module")
def model():
    return MorphableModel.from_ict()


@pytest.fixture(scope="module")
def scan():
    return rs.load_scan()


def test_the_scan_is_a_face_in_millimetres_with_ibug_landmarks(scan):
    lm = scan.landmarks
    assert lm.shape == (68, 3) and scan.corner_uv.shape == (len(scan.triangles), 3, 2)
    outer_eyes = np.linalg.norm(lm[36] - lm[45])
    assert 80 < outer_eyes < 110  # an adult's outer eye corners, in mm
    # iBUG's left-to-right runs: the jaw, each brow and each eye from image left to right
    across = lm[16] - lm[0]
    for run in (range(0, 17), range(17, 22), range(22, 27), range(36, 40), range(42, 46)):
        assert (np.diff(lm[list(run)] @ across) > 0).all()


def test_the_placed_scan_lies_on_the_mean_face_and_renders_as_a_face(model, scan):
    mean_lm = rs.mean_face(model)[model.landmarks]

    def residual_mm(s):
        return (rs.placed_scan(model, s)[1] - mean_lm).norm(dim=-1).mean().item() * 100.0  # decimetres

    # a similarity takes a person's landmarks onto the mean face's (measured 6.9 mm); in menpo3d's own
    # order the same points land 26 mm off
    assert residual_mm(scan) < 10.0
    raw = np.argsort(rs._IBUG_FROM_MENPO3D)
    assert residual_mm(rs.Scan(scan.vertices, scan.triangles, scan.corner_uv, scan.texture, scan.landmarks[raw])) > 20
    image, landmarks = rs.render_scan(model, scan, 112)
    assert image.shape == (1, 3, 112, 112) and landmarks.shape == (1, 68, 2)
    assert ((landmarks > 5) & (landmarks < 107)).all()
    x, y = landmarks[0, 30].round().long().tolist()
    nose = image[0, :, y, x]
    assert (nose - 0.5).abs().max() > 0.05 and nose[0] > nose[2]  # skin, not the grey background

    def eyes_and_cheeks(img):
        def at(p):
            x, y = p.round().long().tolist()
            return img[0, :, y, x].mean().item()
        lm = landmarks[0]
        eyes = np.mean([at(lm[i]) for i in (37, 38, 40, 41, 43, 44, 46, 47)])
        cheeks = np.mean([at((lm[a] + lm[b]) / 2) for a, b in ((3, 31), (13, 35), (2, 41), (14, 46))])
        return eyes, cheeks

    # the texture lands where the landmarks say: dark eyes, light cheeks (measured 0.23 / 0.64); with
    # the texture upside down (a v axis read the wrong way) the eyes come out lighter than the cheeks
    eyes, cheeks = eyes_and_cheeks(image)
    assert eyes < cheeks - 0.2
    flipped = rs.Scan(scan.vertices, scan.triangles, scan.corner_uv, scan.texture.flip(-2), scan.landmarks)
    eyes, cheeks = eyes_and_cheeks(rs.render_scan(model, flipped, 112)[0])
    assert eyes > cheeks


def test_now_protocol_on_the_scan_separates_the_mean_face_from_a_wrong_one(model, scan):
    points = rs.face_region(scan)
    assert 800 < len(points) < 2000
    mean = np.median(rs.scan_errors(model, torch.zeros(model.layout.total), scan, points))
    assert 0.5 < mean < 2.0, mean
    # a face far from the person (identity +3 sd on its leading components) is measured as such
    far = torch.zeros(model.layout.total)
    far[model.layout.slices()["id"]][:5] = 3.0
    assert np.median(rs.scan_errors(model, far, scan, points)) > mean + 0.3


class _Fixed:
    """A predictor that always says the same face (default: the mean face)."""

    def __init__(self, model, coefficients: torch.Tensor | None = None):
        self.model, self.name = model, "fixed"
        self.coefficients = torch.zeros(model.layout.total) if coefficients is None else coefficients

    def predict(self, images):
        return Prediction(self.coefficients.expand(len(images), -1).clone())


def test_the_refinements_weights_reach_the_fit(model):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    images[1] = 1 - images[0]
    anchor = Refined(_Fixed(model), Refinement(steps=0)).predict(images).coefficients
    landmarks = torch.zeros(2, 68, 2)  # the same target for both images
    landmarks[:] = Refined(_Fixed(model), Refinement(steps=0)).renderer(32).landmarks(anchor)[0] + 1.5
    blind = Refined(_Fixed(model), Refinement(steps=5, weights=FitWeights(photometric=0.0)))
    a, b = blind.predict(images, landmarks=landmarks).coefficients
    assert torch.equal(a, b)  # without the photometric term the pixels cannot matter
    seeing = Refined(_Fixed(model), Refinement(steps=5, weights=DEEP3D))
    a, b = seeing.predict(images, landmarks=landmarks).coefficients
    assert not torch.equal(a, b)
    assert DEEP3D.with_prior(10).prior == pytest.approx(10 * DEEP3D.prior)



def test_the_fits_levers_reach_its_terms_a_weightless_jaw_and_a_stronger_expression_prior(model):
    from facelib.fitting import fit
    from facelib.render import Renderer

    renderer = Renderer(model, 32)
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    target = renderer.landmarks(torch.zeros(1, model.layout.total)) + 2.0
    moved = target.clone()
    moved[:, list(rs.JAW)] += 6.0  # dlib's jaw on the silhouette, far from the model's jaw vertices
    arms = rs.fit_arms()
    init = torch.zeros(1, model.layout.total)

    def coeffs(tgt, kwargs):
        return fit(renderer, image, tgt, init, steps=6, **{**kwargs, "w_photo": 0.0}).coeffs

    no_jaw = arms["jaw dropped"]
    assert torch.equal(coeffs(target, no_jaw), coeffs(moved, no_jaw))  # the jaw's points carry no weight
    default = arms["prior ×30 (the default)"]
    assert not torch.equal(coeffs(target, default), coeffs(moved, default))
    exp = model.layout.split(coeffs(moved, default))["exp"].abs().sum()
    assert model.layout.split(coeffs(moved, arms["expression prior ×100"]))["exp"].abs().sum() < exp


def test_the_real_scan_command_wants_a_run_or_a_profile_for_the_fit_alone():
    from facelib import cli
    from facelib.errors import FacelibError

    args = cli.parser().parse_args(["real-scan"])
    with pytest.raises(FacelibError, match="--fits-only PROFILE"):
        args.run(args)
    args = cli.parser().parse_args(["real-scan", "--fits-only", "smoke", "--diagnose"])
    with pytest.raises(FacelibError, match="needs --run"):
        args.run(args)


def test_the_scan_scored_as_a_readers_photo(model, scan, monkeypatch):
    """Chapter 5's scan rows: the network's row scores the network's own prediction; the refinement
    and the first fit target dlib's points on the render, the oracle fit the scan's true landmarks,
    all three with the book's real-geometry weights; dlib's points lie near the truth."""
    from facelib import fitting

    seen = []
    real_fit = fitting.fit

    def spy(renderer, image, landmarks, init, **kwargs):
        seen.append((landmarks.clone(), kwargs.get("w_reg")))
        return real_fit(renderer, image, landmarks, init, **kwargs)

    monkeypatch.setattr(rs, "fit", spy)
    monkeypatch.setattr("facelib.methods.refine.fit", spy)
    far = torch.zeros(model.layout.total)
    far[model.layout.slices()["id"]][:5] = 3.0
    out = rs.evaluate_scan(model, {"fixed": _Fixed(model), "far": _Fixed(model, far)}, image_size=112,
                           fit_steps=3, refine_steps=2)
    rows, points = out["rows"], rs.face_region(scan)
    assert list(rows) == ["mean face", "fixed", "fixed + refinement", "far", "far + refinement",
                          "fit from the mean face", "fit from the mean face, true landmarks (oracle)"]
    assert rows["fixed"] == rows["mean face"] == rs.scan_scores(model, torch.zeros(model.layout.total), scan, points)
    assert rows["far"] == rs.scan_scores(model, far, scan, points) and rows["far"]["median_mm"] > rows["mean face"]["median_mm"] + 0.3
    assert all(0.3 < r["median_mm"] < 4.0 and 0.3 < r["identity_only_median_mm"] < 4.0 for r in rows.values())
    image, truth = rs.render_scan(model, scan, 112)
    detected = rs.dlib_points(image)
    targets = [t for t, _ in seen]
    assert len(seen) == 4 and {w for _, w in seen} == {fitting.REAL_GEOMETRY.prior}
    assert all(torch.allclose(t, detected) for t in targets[:3]) and torch.allclose(targets[3], truth)
    assert out["dlib_vs_truth_px"] == pytest.approx(float((detected - truth).norm(dim=-1).mean()), abs=1e-3)
    assert 0 < out["dlib_vs_truth_px"] < 5 and out["points"] == len(points)
    table = rs.markdown(out).splitlines()
    assert len(table) == 2 + len(rows) and table[3].startswith("| fixed |")
    assert f"| {rows['far']['median_mm']:.3f} | {rows['far']['identity_only_median_mm']:.3f} |" in table[5]

def test_every_subcommands_run_option_leaves_its_handler_callable():
    """``--run`` stored at ``dest="run"`` replaced the subcommand's handler (``set_defaults(run=...)``):
    ``python -m facelib real-scan --run DIR`` failed with "'str' object is not callable"."""
    from facelib import cli

    p = cli.parser()
    for argv in (["real-scan", "--run", "runs/x/cpu/rnet"], ["real-faces", "--run", "R-Net=runs/x/cpu/rnet"],
                 ["reconstruct", "photo.jpg", "--run", "runs/x/cpu/rnet", "-o", "face.obj"]):
        args = p.parse_args(argv)
        assert callable(args.run), argv
