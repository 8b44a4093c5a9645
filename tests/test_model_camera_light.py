import math

import numpy as np
import pytest
import torch
from scipy.io import savemat

from facelib import camera, lighting
from facelib.coefficients import CoefficientLayout
from facelib.errors import FacelibError
from facelib.morphable import MorphableModel


def test_ict_regions_have_the_documented_sizes(ict):
    assert ict.n_vertices == 6706 and ict.triangles.shape == (13120, 3)  # default: narrow face
    face = MorphableModel.from_ict("face")
    assert face.n_vertices == 9409 and face.triangles.shape == (18460, 3)
    assert torch.allclose(face.neutral[face.landmarks], ict.neutral[ict.landmarks])
    assert ict.layout.sizes == {"id": 100, "exp": 53, "tex": 10, "angle": 3, "gamma": 27, "trans": 3}
    assert ict.landmarks.shape == (68,) and int(ict.landmarks.max()) < ict.n_vertices


def test_ict_is_in_decimetres_and_faces_the_camera(ict):
    lm = ict.neutral[ict.landmarks]
    eye_distance = (lm[45] - lm[36]).norm().item()  # outer eye corners, ~9-10 cm on adults
    assert 0.8 < eye_distance < 1.1
    nose_tip = lm[30]
    assert nose_tip[2] > lm[[0, 16], 2].max()  # nose in front of the jaw ends (+z towards camera)
    normals = ict.vertex_normals(ict.neutral[None])[0]
    assert torch.allclose(normals.norm(dim=-1), torch.ones(ict.n_vertices), atol=1e-5)
    assert normals[ict.landmarks[30], 2] > 0.8  # nose tip normal points at the camera


def test_shape_and_albedo_are_linear_in_their_coefficients(ict, gen):
    a = torch.randn(2, ict.layout.id, generator=gen)
    e = torch.rand(2, ict.layout.exp, generator=gen)
    s = ict.shape(a, e)
    assert s.shape == (2, ict.n_vertices, 3)
    zero = torch.zeros_like
    lin = ict.shape(a, zero(e)) + ict.shape(zero(a), e) - ict.shape(zero(a), zero(e))
    assert torch.allclose(s, lin, atol=1e-5)
    t = torch.randn(2, ict.layout.tex, generator=gen)
    alb = ict.albedo(t)
    assert alb.shape == (2, ict.n_vertices, 3)
    assert torch.allclose(ict.albedo(torch.zeros(1, ict.layout.tex))[0], ict.tex_mean)


def test_albedo_prior_has_darker_brows_and_redder_lips_than_skin(ict):
    from facelib.albedo import region_maps

    maps = region_maps(ict.neutral.numpy(), ict.landmarks.numpy())
    mean = ict.tex_mean.numpy()
    brows, lips, plain = maps["brows"] > 0.9, maps["lips"] > 0.9, (sum(maps[k] for k in ("lips", "brows", "eyes", "beard")) < 0.01)
    assert brows.sum() > 20 and lips.sum() > 20 and plain.sum() > 1000
    assert mean[brows].mean() < mean[plain].mean() - 0.15
    ratio = lambda m: (mean[m, 0] / mean[m, 1]).mean()  # noqa: E731
    assert ratio(lips) > ratio(plain) + 0.2


def test_bfm_loader_reads_the_deep3d_layout(tmp_path):
    rng = np.random.default_rng(0)
    v, f = 70, 40
    mean = rng.normal(size=(v, 3)) + np.array([1.0, 2.0, 3.0])
    savemat(tmp_path / "BFM_model_front.mat", {
        "meanshape": mean.reshape(1, -1), "idBase": rng.normal(size=(3 * v, 80)),
        "exBase": rng.normal(size=(3 * v, 64)), "meantex": np.full((1, 3 * v), 127.5),
        "texBase": rng.normal(size=(3 * v, 80)), "tri": rng.integers(1, v + 1, size=(f, 3)),
        "keypoints": np.arange(1, 69).reshape(1, 68), "skinmask": np.ones((1, v)),
    })
    m = MorphableModel.from_bfm(tmp_path / "BFM_model_front.mat")
    assert m.layout.total == 80 + 64 + 80 + 3 + 27 + 3
    assert torch.allclose(m.neutral.mean(0), torch.zeros(3), atol=1e-5)  # re-centred as in Deep3D
    assert torch.allclose(m.tex_mean, torch.full((v, 3), 0.5))  # 0..255 -> 0..1
    assert int(m.landmarks[0]) == 0 and int(m.triangles.min()) >= 0  # 1-based -> 0-based


def test_bfm_loader_explains_where_the_file_comes_from(tmp_path):
    with pytest.raises(FacelibError, match="faces.dmi.unibas.ch"):
        MorphableModel.from_bfm(tmp_path / "missing.mat")


def test_coefficient_split_join_roundtrip_and_size_check():
    lay = CoefficientLayout(id=4, exp=3, tex=2)
    x = torch.arange(lay.total, dtype=torch.float32)[None]
    parts = lay.split(x)
    assert parts["gamma"].shape == (1, 27) and parts["trans"].tolist() == [[lay.total - 3, lay.total - 2, lay.total - 1]]
    assert torch.equal(lay.join(parts), x)
    assert torch.equal(lay.join({"id": parts["id"]})[:, 4:], torch.zeros(1, lay.total - 4))
    with pytest.raises(FacelibError, match="layout needs"):
        lay.split(torch.zeros(1, lay.total + 1))


def test_euler_rotation_is_a_rotation_and_yaw_turns_the_face_sideways():
    ang = torch.tensor([[0.3, -0.7, 1.1], [0.0, math.pi / 2, 0.0]])
    r = camera.euler_rotation(ang)
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(r), torch.ones(2), atol=1e-6)
    forward = torch.tensor([0.0, 0.0, 1.0])
    assert torch.allclose(r[1] @ forward, torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)


def test_projection_follows_the_deep3d_camera():
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.2, 0.0], [0.0, 0.0, 5.0]]])
    xy, depth = camera.project(pts, 224)
    assert torch.allclose(xy[0, 0], torch.tensor([112.0, 112.0]))
    assert torch.allclose(xy[0, 1], torch.tensor([112 + 1015 * 0.01, 112 - 1015 * 0.02]))  # y up -> image y down
    assert torch.allclose(depth, torch.tensor([[10.0, 10.0, 5.0]]))
    xy_small, _ = camera.project(pts, 112)
    assert torch.allclose(xy_small, xy / 2)


def test_zero_light_is_deep3d_ambient_and_band1_follows_the_normal():
    albedo = torch.ones(1, 2, 3)
    normals = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    flat = lighting.shade(albedo, normals, torch.zeros(1, 27))
    assert torch.allclose(flat, torch.full_like(flat, 0.8 * math.sqrt(math.pi) / 2), atol=1e-6)
    gamma = torch.zeros(1, 27)
    gamma[0, [2, 11, 20]] = 0.2  # the z (front) band-1 coefficient of each channel
    lit = lighting.shade(albedo, normals, gamma)
    assert (lit[0, 0] > flat[0, 0]).all() and (lit[0, 1] < flat[0, 1]).all()
