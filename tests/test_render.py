import pytest
import torch

from facelib.coefficients import CoefficientLayout
from facelib.diagnostics import render_gradient_check
from facelib.morphable import ModelInfo, MorphableModel
from facelib.rasterize import rasterize
from facelib.render import Renderer, pytorch3d_available
from facelib.sampling import random_coefficients


def small_model(n: int = 6, dtype=torch.float64) -> MorphableModel:
    """A bumpy (n × n)-vertex sheet facing +z, 2(n−1)² triangles, with 68 'landmarks'."""
    g = torch.Generator().manual_seed(1)
    u = torch.linspace(-0.5, 0.5, n, dtype=torch.float64)
    y, x = torch.meshgrid(u, u, indexing="ij")
    z = 0.15 * torch.exp(-(x**2 + y**2) / 0.1) + 0.02 * torch.rand(n, n, generator=g, dtype=torch.float64)
    verts = torch.stack([x, -y, z], -1).reshape(-1, 3)
    tris = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            tris += [[a, c, b], [b, c, d]]  # counter-clockwise seen from +z (y up)
    v = verts.shape[0]
    info = ModelInfo("sheet", "dm", "gaussian", ("e",), ("t",))
    return MorphableModel(verts, torch.zeros(3 * v, 1), torch.zeros(3 * v, 1), torch.full((v, 3), 0.6),
                          torch.zeros(3 * v, 1), torch.tensor(tris), torch.arange(68) % v, torch.ones(v), info)


def brute_force_face_id(xy, depth, tris, h, w):
    """Reference z-buffer: every pixel against every triangle (front faces only)."""
    b = xy.shape[0]
    out = torch.full((b, h, w), -1, dtype=torch.long)
    py, px = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    for bi in range(b):
        best = torch.full((h, w), float("inf"))
        for f, (i, j, k) in enumerate(tris.tolist()):
            (ax, ay), (bx, by), (cx, cy) = xy[bi, i].tolist(), xy[bi, j].tolist(), xy[bi, k].tolist()
            area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
            if area >= 0:
                continue
            w0 = ((cx - bx) * (py - by) - (cy - by) * (px - bx)) / area
            w1 = ((ax - cx) * (py - cy) - (ay - cy) * (px - cx)) / area
            w2 = 1 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            z = 1 / (w0 / depth[bi, i] + w1 / depth[bi, j] + w2 / depth[bi, k])
            closer = inside & (z < best)
            best = torch.where(closer, z, best)
            out[bi][closer] = f
    return out


def test_windowed_rasterizer_matches_brute_force_z_buffer(gen):
    # Triangles of very different sizes exercise every window group (1 px .. whole image).
    b, v, h, w = 2, 40, 48, 40
    xy = torch.rand(b, v, 2, generator=gen) * torch.tensor([w + 8.0, h + 8.0]) - 4
    depth = 5 + torch.rand(b, v, generator=gen)
    tris = torch.randint(0, v, (120, 3), generator=gen)
    tris = tris[(tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])]
    got = rasterize(xy, depth, tris, h, w).face_id
    want = brute_force_face_id(xy, depth, tris, h, w)
    agree = (got == want).float().mean().item()
    assert agree > 0.999, agree  # ties on shared edges may resolve either way
    assert (want >= 0).any() and (got >= 0).float().mean() > 0.2


@pytest.mark.parametrize("what", ["vertices", "albedo", "sh"])
def test_renderer_gradients_match_finite_differences(what):
    rows = render_gradient_check(small_model(), 24, what, n_directions=3)
    for row in rows:
        assert row["relative_error"] < 1e-2, row
        assert abs(row["numeric"]) > 1e-4  # the direction really changes the image


def test_ict_renderer_gradients_match_finite_differences(ict):
    rows = render_gradient_check(ict, 32, "vertices", n_directions=2)
    assert all(r["relative_error"] < 1e-2 for r in rows), rows
    assert ict.neutral.dtype == torch.float32  # the check leaves the model as it found it


def test_render_outputs_are_consistent(ict, gen):
    r = Renderer(ict, 112, background=0.5)
    coeffs = random_coefficients(ict, 3, gen)
    out = r(coeffs)
    assert out.image.shape == (3, 3, 112, 112) and out.mask.shape == (3, 1, 112, 112)
    assert 0.3 < out.mask.mean() < 0.9
    covered = out.mask.bool()
    assert (out.depth[covered] > 8).all() and (out.depth[~covered] == 0).all()
    assert torch.all(out.image.permute(1, 0, 2, 3)[:, ~covered[:, 0]] == 0.5)
    # each landmark projects onto a covered pixel (the face is frontal enough in the prior)
    lm = out.landmarks.round().long().clamp(0, 111)
    hits = out.mask[torch.arange(3)[:, None], 0, lm[..., 1], lm[..., 0]]
    assert hits.mean() > 0.9


def test_batch_elements_are_rendered_independently(ict, gen):
    r = Renderer(ict, 64)
    coeffs = random_coefficients(ict, 3, gen)
    together = r(coeffs).image
    alone = torch.cat([r(coeffs[i:i + 1]).image for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_untrained_head_output_renders_the_mean_face(ict):
    from facelib.nets.resnet import resnet

    net = resnet("resnet_tiny", ict.layout.total).eval()
    pred = net(torch.rand(2, 3, 64, 64))
    assert torch.equal(pred, torch.zeros_like(pred))
    out = Renderer(ict, 64)(pred)
    assert out.mask.sum() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_render_matches_cpu(ict, gen):
    coeffs = random_coefficients(ict, 2, gen)
    cpu = Renderer(ict, 112)(coeffs).image
    gpu = Renderer(ict.to("cuda"), 112).to("cuda")(coeffs.cuda()).image.cpu()
    ict.to("cpu")
    assert (cpu - gpu).abs().mean() < 1e-3


@pytest.mark.pytorch3d
@pytest.mark.skipif(not pytorch3d_available(), reason="pytorch3d does not import here")
def test_pytorch3d_backend_agrees_with_torch_backend(ict, gen):
    coeffs = random_coefficients(ict, 2, gen)
    a = Renderer(ict, 112, backend="torch")(coeffs)
    b = Renderer(ict, 112, backend="pytorch3d")(coeffs)
    inter = (a.mask * b.mask).sum()
    union = ((a.mask + b.mask) > 0).float().sum()
    assert inter / union > 0.99
    assert (a.image - b.image).abs().mean() < 5e-3


def test_layout_total_is_never_hard_coded(ict):
    assert CoefficientLayout(id=80, exp=64, tex=80).total == 257
    assert ict.layout.total == 100 + 53 + 10 + 3 + 27 + 3
