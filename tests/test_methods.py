"""R-Net and MoFA: the loss terms on known inputs, the skin classifier, the methods' contract
(mean face at start, gradients, prediction), and learning on a tiny synthetic set."""

from __future__ import annotations

import math

import pytest
import torch

from facelib import cli, losses, skin
from facelib import train as T
from facelib.errors import FacelibError
from facelib.methods.base import Method
from facelib.methods.mofa import MOFA_WEIGHTS, MoFA
from facelib.methods.regressor import EncoderConfig
from facelib.methods.rnet import DEEP3D_WEIGHTS, RNet
from facelib.render import Renderer
from facelib.sampling import random_coefficients

TINY = EncoderConfig("resnet_tiny", 64, lr=1e-3)


# --------------------------------------------------------------------------- losses and skin

def test_ycbcr_reference_points():
    img = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 2)
    y = skin.rgb_to_ycbcr(img)[0, 0]
    assert torch.allclose(y[0], torch.tensor([235.0, 128.0, 128.0]), atol=1e-3)
    assert torch.allclose(y[1], torch.tensor([16.0, 128.0, 128.0]), atol=1e-3)


def test_skin_classifier_separates_skin_from_occluder_colours():
    colours = {"light skin": (0.88, 0.67, 0.53), "dark skin": (0.55, 0.37, 0.26), "blue": (0.1, 0.2, 0.9),
               "green": (0.1, 0.8, 0.2), "white": (0.95, 0.95, 0.95)}
    img = torch.tensor(list(colours.values())).T.reshape(1, 3, 1, -1)
    p = dict(zip(colours, skin.skin_probability(img)[0, 0, 0].tolist(), strict=True))
    assert p["light skin"] > 0.8 and p["dark skin"] > 0.5
    assert p["blue"] < 0.05 and p["green"] < 0.05 and p["white"] < 0.3
    assert skin.skin_probability(torch.rand(2, 3, 8, 8)).shape == (2, 1, 8, 8)


def test_identity_gamma_reflectance_and_gaussian_losses_known_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert losses.identity_loss(a, 3 * a).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.identity_loss(a, a.flip(1)).item() == pytest.approx(1.0)  # orthogonal pairs
    grey = torch.arange(9.0).repeat(3)[None]  # same 9 SH values for R, G and B
    assert losses.gamma_loss(grey).item() == 0.0
    red = torch.zeros(1, 27)
    red[0, 0] = 3.0  # R band 0 = 3, G and B = 0: deviations (2, -1, -1) in 1 of 9 bands
    assert losses.gamma_loss(red).item() == pytest.approx(6.0 / 27)
    albedo = torch.full((2, 5, 3), 0.6)
    w = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    assert losses.reflectance_loss(albedo, w).item() == pytest.approx(0.0, abs=1e-12)
    albedo[:, 4] = 0.0  # outside the skin: ignored
    assert losses.reflectance_loss(albedo, w).item() == pytest.approx(0.0, abs=1e-12)
    albedo[:, 0] = 1.0  # one of four skin vertices 0.4 brighter: mean +0.1
    expected = 3 * (0.3**2 + 3 * 0.1**2) / 4
    assert losses.reflectance_loss(albedo, w).item() == pytest.approx(expected, rel=1e-5)
    img = torch.zeros(1, 3, 2, 2)
    ren = img.clone()
    ren[0, 0] = 0.043  # one channel off by σ everywhere: ||r||²/2σ² = 1/2
    region = torch.ones(1, 1, 2, 2)
    assert losses.gaussian_photometric_loss(ren, img, region).item() == pytest.approx(0.5)
    region[0, 0, 0, 0] = 0
    ren[0, :, 0, 0] = 5.0  # outside the region: no effect
    assert losses.gaussian_photometric_loss(ren, img, region).item() == pytest.approx(0.5)


def test_deep3d_photometric_landmark_and_coefficient_terms_known_values():
    # photometric (Deep3D Eq. 3): sqrt(sum_c d^2 + eps) weighted by the attention, normalised by its sum
    target = torch.zeros(1, 3, 1, 2)
    rendered = target.clone()
    rendered[0, :, 0, 0] = torch.tensor([0.3, 0.4, 0.0])  # |d| = 0.5 at pixel 0, 0 at pixel 1
    attention = torch.tensor([[[[1.0, 3.0]]]])
    expected = (1.0 * (0.25 + 1e-6) ** 0.5 + 3.0 * 1e-3) / 4.0
    assert losses.photometric_loss(rendered, target, attention).item() == pytest.approx(expected, rel=1e-6)
    # landmark (Deep3D Eq. 4): weight 20 on nose 28-30 and inner lips 60-67, in 224 px units, mean over 68
    pred = torch.zeros(1, 68, 2)
    pred[0, 30, 0] = 1.0  # 1 px off on a weighted point (nose tip)
    assert losses.landmark_loss(pred, torch.zeros(1, 68, 2), image_size=224).item() == pytest.approx(20 / 68)
    pred = torch.zeros(1, 68, 2)
    pred[0, 10, 1] = 1.0  # 1 px off on an unweighted point, at 112 px: 2 px at 224
    assert losses.landmark_loss(pred, torch.zeros(1, 68, 2), image_size=112).item() == pytest.approx(4 / 68)
    w = losses.deep3d_landmark_weights()
    assert w.sum().item() == 68 + 19 * 11 and set(torch.nonzero(w > 1).flatten().tolist()) == {28, 29, 30, *range(60, 68)}
    # coefficient prior (Deep3D Eq. 6, the reference code's weights 1, 0.8, 1.7e-2)
    c = {"id": torch.tensor([[1.0, 2.0]]), "exp": torch.tensor([[3.0]]), "tex": torch.tensor([[10.0]])}
    assert losses.coefficient_regularizer(c).item() == pytest.approx(5.0 + 0.8 * 9.0 + 1.7e-2 * 100.0)


def test_mofa_term_is_clipped_at_three_sigma():
    img = torch.zeros(1, 3, 1, 2)
    ren = img.clone()
    ren[0, 0, 0, 0] = 10 * 0.043  # a 10 sigma outlier costs as much as a 3 sigma one
    region = torch.ones(1, 1, 1, 2)
    assert losses.gaussian_photometric_loss(ren, img, region, truncate=3.0).item() == pytest.approx(9 / 2 / 2)
    assert losses.gaussian_photometric_loss(ren, img, region, truncate=None).item() == pytest.approx(100 / 2 / 2)
    ren.requires_grad_(True)
    losses.gaussian_photometric_loss(ren, img, region, truncate=3.0).backward()
    assert ren.grad.abs().sum() == 0  # beyond the clip it pulls no more


def test_expression_weights_stay_in_the_declared_range(ict, batch):
    assert ict.expression_range() == (0.0, 1.0)
    raw = torch.zeros(2, ict.layout.total)
    exp = ict.layout.slices()["exp"]
    raw[:, exp] = torch.linspace(-2, 2, exp.stop - exp.start)
    bounded = ict.in_range(raw)
    assert bounded[:, exp].min() == 0.0 and bounded[:, exp].max() == 1.0
    assert torch.equal(bounded[:, :exp.start], raw[:, :exp.start]) and torch.equal(bounded[:, exp.stop:], raw[:, exp.stop:])
    net = RNet(ict, EncoderConfig("resnet_tiny", 64), embedder=None)
    with torch.no_grad():
        net.nets["encoder"].head.bias[exp] = -1.0  # a head that would predict negative blendshapes
    assert net.predict(batch["clean"]).coefficients[:, exp].min() >= 0.0


def test_ict_skin_region_excludes_lips_brows_and_eyes(ict):
    lips = ict.landmarks[60:68]
    brows = ict.landmarks[17:27]
    cheek = ict.landmarks[[2, 14]]
    assert ict.skin[lips].max() < 0.3 and ict.skin[brows].max() < 0.3
    assert ict.skin[cheek].min() > 0.9


def test_cheap_landmarks_equal_rendered_landmarks(ict):
    c = random_coefficients(ict, 3, torch.Generator().manual_seed(2))
    r = Renderer(ict, 64)
    assert torch.allclose(r.landmarks(c), r(c).landmarks, atol=1e-4)


# --------------------------------------------------------------------------- the methods

@pytest.fixture(scope="module")
def batch(ict):
    """Four rendered faces over grey, with their landmarks and masks (no files needed)."""
    c = random_coefficients(ict, 4, torch.Generator().manual_seed(4))
    out = Renderer(ict, 64)(c, background=torch.full((4, 3, 64, 64), 0.5))
    return {"clean": out.image.clamp(0, 1).detach(), "landmarks68": out.landmarks.detach(),
            "face_mask": out.mask.detach(), "coefficients": c, "index": torch.arange(4)}


@pytest.mark.parametrize("attention", ["skin", "face_mask", "none"])
def test_rnet_starts_at_the_mean_face_and_has_every_term(ict, batch, attention):
    m = RNet(ict, TINY, attention=attention)
    assert torch.equal(m.predict(batch["clean"]).coefficients, torch.zeros(4, ict.layout.total))
    m.train_mode(True)
    out = m.train_step(batch, 0)
    assert set(out) == {"total", *DEEP3D_WEIGHTS}
    assert math.isclose(out["total"].item(), sum(DEEP3D_WEIGHTS[k] * out[k].item() for k in DEEP3D_WEIGHTS),
                        rel_tol=1e-5)
    out["total"].backward()
    head = m.nets["encoder"].head.weight.grad
    assert head is not None and torch.isfinite(head).all() and head.abs().sum() > 0
    assert m.masks == (("face_mask",) if attention == "face_mask" else ())


def test_visibility_oracle_sees_only_the_true_visible_face(ict, batch):
    """R-Net's visibility oracle (issue 32): trained on the occluded view, its photometric term
    ignores every pixel outside the true visible face — repainting the occluder changes nothing —
    and its identity term embeds its render only on the visible face, the input elsewhere."""
    torch.manual_seed(0)
    occluded = batch["clean"].clone()
    visible = batch["face_mask"].clone()
    visible[..., :32, :] = 0  # the upper half of the image occluded
    occluded[..., :32, :] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    data = {**batch, "occluded": occluded, "visible_mask": visible}
    oracle = RNet(ict, TINY, attention="visible_mask", view="occluded")
    twin = RNet(ict, TINY, view="occluded", attention="none")
    assert oracle.views == ("occluded",) and oracle.masks == ("visible_mask",)
    repainted = {**data, "occluded": torch.where(visible.bool(), occluded, torch.rand_like(occluded))}
    images = data["occluded"]
    coeffs = oracle.encode(images).detach() + 0.05
    out = oracle.renderer(coeffs, background=images)
    terms = oracle.loss_terms(data, images, coeffs, out)
    out2 = oracle.renderer(coeffs, background=repainted["occluded"])
    assert oracle.loss_terms(repainted, repainted["occluded"], coeffs, out2)["photometric"] == pytest.approx(
        terms["photometric"].item(), rel=1e-6)
    assert twin.loss_terms(repainted, repainted["occluded"], coeffs, out2)["photometric"] != pytest.approx(
        twin.loss_terms(data, images, coeffs, out)["photometric"].item(), rel=1e-3)
    composite = oracle.identity_target_render(data, images, out.image)
    assert torch.equal(composite[..., :32, :], images[..., :32, :])
    assert torch.equal(composite * visible, out.image * visible)
    assert torch.equal(twin.identity_target_render(data, images, out.image), out.image)


def test_remembered_input_targets_leave_training_bit_identical(ict):
    """R-Net's skin attention and identity target are remembered per training item; batches mixing
    items first met in different batches get exactly the rows a fresh computation gives."""
    c = random_coefficients(ict, 8, torch.Generator().manual_seed(11))
    out = Renderer(ict, 64)(c, background=torch.full((8, 3, 64, 64), 0.5))
    pool = {"clean": out.image.clamp(0, 1).detach(), "landmarks68": out.landmarks.detach(), "index": torch.arange(8)}
    orders = [[0, 1, 2, 3], [4, 5, 6, 7], [2, 5, 0, 7], [6, 3, 4, 1], [0, 1, 2, 3]]
    runs = {}
    for budget in (0, Method.memory_budget):
        m = RNet(ict, TINY)
        m.memory_budget = budget
        m.train_mode(True)
        for step, order in enumerate(orders):
            T.optimisation_step(m, {k: v[order] for k, v in pool.items()}, step)
        runs[budget] = m
    remembered, plain = runs[Method.memory_budget], runs[0]
    assert {k: len(v["rows"]) for k, v in remembered._memory.items()} == {"skin": 8, "input_features": 8}
    assert all(len(v["rows"]) == 0 for v in plain._memory.values())
    a, b = (r.nets["encoder"].state_dict() for r in (remembered, plain))
    assert all(torch.equal(a[k], b[k]) for k in a), "remembering changed what training computes"


def test_remembered_rows_need_every_key_and_respect_the_budget(ict):
    m = MoFA(ict, TINY)
    calls = []

    def compute(rows):
        calls.append(rows)
        return torch.tensor([[float(r)] * 4 for r in rows])
    first = m.remembered("x", [("clean", 0), ("clean", 1)], lambda: compute([0, 1]))
    again = m.remembered("x", [("clean", 1), ("clean", 0)], lambda: compute([9, 9]))
    assert torch.equal(again, first.flip(0)) and len(calls) == 1  # rows from memory, in the asked order
    m.remembered("x", [("clean", 1), ("clean", 2)], lambda: compute([1, 2]))  # one new key: computed
    assert len(calls) == 2 and sorted(m._memory["x"]["rows"]) == [("clean", 0), ("clean", 1), ("clean", 2)]
    m.remembered("x", None, lambda: compute([5]))  # no keys (augmented inputs): always computed
    assert len(calls) == 3
    with m.recomputing():  # as before anything was remembered: computed, kept nowhere
        m.remembered("x", [("clean", 0), ("clean", 1)], lambda: compute([0, 1]))
        assert m._memory["x"]["rows"] == {}
    assert len(calls) == 4 and len(m._memory["x"]["rows"]) == 3  # the memory is back
    small = MoFA(ict, TINY)
    small.memory_budget = 16  # room for one row of four float32
    small.remembered("y", [("clean", 0), ("clean", 1)], lambda: compute([0, 1]))
    assert len(small._memory["y"]["rows"]) == 1 and small._memory["y"]["bytes"] == 16


def test_initial_weights_follow_the_seed_not_the_global_rng(ict):
    torch.manual_seed(123)
    a = MoFA(ict, TINY).nets["encoder"].state_dict()
    torch.manual_seed(456)
    b = MoFA(ict, TINY).nets["encoder"].state_dict()
    c = MoFA(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3, seed=1)).nets["encoder"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].dtype.is_floating_point)
    before = torch.get_rng_state()
    MoFA(ict, TINY)
    assert torch.equal(torch.get_rng_state(), before)  # the global stream is left alone


def test_a_warm_start_copies_the_encoder_and_changes_only_its_own_signature(ict):
    from facelib.methods.rogue import ROGUE

    rnet = RNet(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3, seed=1))  # other weights than seed 0's
    rnet.run_signature = "abc123"
    cold, warm = MoFA(ict, TINY), MoFA(ict, TINY)
    assert "warm_start" not in cold.hyperparameters()  # runs that do not use it keep their signature
    assert warm.start_from(rnet) is warm
    source, copied = rnet.nets["encoder"].state_dict(), warm.nets["encoder"].state_dict()
    assert all(torch.equal(source[k], copied[k]) for k in source)
    assert any(not torch.equal(copied[k], cold.nets["encoder"].state_dict()[k]) for k in copied
               if copied[k].dtype.is_floating_point)
    assert warm.hyperparameters()["warm_start"] == {"method": "rnet", "nets": ["encoder"], "run_signature": "abc123"}
    assert T.run_signature(warm, T.TrainConfig(10, 4), {}) != T.run_signature(cold, T.TrainConfig(10, 4), {})
    with pytest.raises(FacelibError, match="cannot start from rnet"):
        ROGUE(ict, EncoderConfig("resnet18", 64), embedder=None).start_from(rnet)


def test_rnet_options_and_errors(ict, batch):
    m = RNet(ict, TINY, embedder=None, weights={"landmark": 1.0})
    assert "identity" not in m.weights and m.weights["landmark"] == 1.0
    assert "identity" not in m.train_step(batch, 0)
    with pytest.raises(FacelibError, match="unknown attention"):
        RNet(ict, TINY, attention="hair")
    with pytest.raises(FacelibError, match=r"expects images \(B, 3, H, W\)"):
        m.predict(torch.zeros(3, 64, 64))
    big = torch.nn.functional.interpolate(batch["clean"], size=96)
    assert m.predict(big).coefficients.shape == (4, ict.layout.total)  # resized to the network's input


def test_mofa_has_its_own_terms_and_no_skin_mask(ict, batch):
    m = MoFA(ict, TINY)
    out = m.train_step(batch, 0)
    assert set(out) == {"total", *MOFA_WEIGHTS} and "identity" not in out
    assert m.weights["photometric"] == pytest.approx(0.043 * 1.92)
    # an occluder of a non-skin colour changes MoFA's photometric term, and barely R-Net's
    occluded = dict(batch, clean=batch["clean"].clone())
    occluded["clean"][:, :, 20:44, 16:48] = torch.tensor([0.1, 0.2, 0.9])[:, None, None]
    r = RNet(ict, TINY, embedder=None)
    rise = {name: float(meth.train_step(occluded, 0)["photometric"]) / float(meth.train_step(batch, 0)["photometric"])
            for name, meth in (("mofa", m), ("rnet", r))}
    assert rise["mofa"] > 1.3 and rise["rnet"] < 1.1, rise


STEPS = 50


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("cls", [RNet, MoFA])
def test_training_fits_a_tiny_set(ict, batch, cls, seed, tmp_path):
    """STEPS steps on 4 faces: the landmark error falls well below the mean face's (at 40 steps the
    RNet-0 case ended at 0.501 of its start with one thread and below 0.5 with two: too close)."""

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in batch.items()}

    m = cls(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3, seed=seed), **({"embedder": None} if cls is RNet else {}))
    before = m.validation_step(batch)["landmark_me_clean"]
    res = T.train(m, Repeat(), tmp_path, T.TrainConfig(steps=STEPS, batch_size=4, log_every=10), progress=False)
    after = m.validation_step(batch)["landmark_me_clean"]
    totals = [e["losses"]["total"] for e in res.log]
    assert totals[-1] < 0.5 * totals[0]
    assert after < 0.5 * before, (before, after)


@pytest.mark.skipif(not T.cpu_has_bf16(), reason="this CPU has no bf16 units: bf16 falls back to float32")
def test_bf16_training_casts_the_networks_not_the_renderer_and_is_its_own_run(ict, batch, tmp_path):
    """Under the loop's bf16 autocast the encoder's convolutions run in bf16, the renderer in float32;
    a bf16 run learns as the float32 one does and has its own signature (it never resumes a float32 run)."""

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in batch.items()}

    m = RNet(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3), embedder=None)
    seen = {}
    m.nets["encoder"].stem[0].register_forward_hook(lambda mod, args, out: seen.update(conv=out.dtype))
    with T.autocast("bf16"):
        out = m.renderer(torch.zeros(2, ict.layout.total))
        assert out.image.dtype == torch.float32 and m.renderer.landmarks(torch.zeros(1, ict.layout.total)).dtype \
            == torch.float32
    before = m.validation_step(batch)["landmark_me_clean"]
    cfg = T.TrainConfig(steps=STEPS, batch_size=4, log_every=10, mixed_precision="bf16")
    res = T.train(m, Repeat(), tmp_path / "bf16", cfg, progress=False)
    assert seen["conv"] == torch.bfloat16
    assert m.validation_step(batch)["landmark_me_clean"] < 0.5 * before
    assert res.signature != T.run_signature(m, T.TrainConfig(steps=STEPS, batch_size=4, log_every=10), {"samples": 4})
    assert T.precision_in_use("bf16") == "bf16" and T.precision_in_use("auto", cpu=True) == "no"
    with pytest.raises(FacelibError, match="unknown mixed precision"):
        T.precision_in_use("fp8")


@pytest.mark.skipif(not T.cpu_has_bf16(), reason="this CPU has no bf16 units: bf16 falls back to float32")
def test_parity_bench_trains_each_precision_and_compares_them_by_identity(ict, tmp_path, tmp_path_factory, monkeypatch):
    from toys import tiny_synthetic_set

    from facelib import profile as profiles
    from facelib.bench import bench_parity

    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path))
    root = tiny_synthetic_set(tmp_path_factory, ict, "parity", seed=6, identities=10)
    prof = profiles.override(profiles.resolve("smoke"), train_steps=3)
    rec = bench_parity("rnet", prof, root, model=ict)
    assert {p: r["precision"] for p, r in rec["runs"].items()} == {"no": "no", "bf16": "bf16"}
    assert rec["runs"]["no"]["signature"] != rec["runs"]["bf16"]["signature"]
    assert rec["identities"] >= 1 and set(rec["metrics"]) == {"landmark_me_clean", "landmark_me_occluded",
                                                                "landmark_me_noisy", "shape_v2v_mm_clean"}
    for m in rec["metrics"].values():
        d = m["difference_bf16"]
        assert d["low"] <= d["estimate"] <= d["high"] and m["within_bf16"] == (abs(d["estimate"]) < m["half_width"])


# --------------------------------------------------------------------------- chapter helpers

def test_unlit_render_shows_the_albedo(ict, batch):
    r = Renderer(ict, 64)
    c = batch["coefficients"].clone()
    out = r(c, lit=False)
    lit = r(c)
    inside = out.mask[:, 0] > 0
    colours = out.image.permute(0, 2, 3, 1)[inside]
    albedo = ict.albedo(ict.layout.split(c)["tex"])
    assert colours.min() >= albedo.min() - 1e-5 and colours.max() <= albedo.max() + 1e-5
    assert not torch.allclose(out.image, lit.image)


def test_albedo_bleeding_known_answers(ict):
    from facelib import metrics

    lay = ict.layout
    clean_c = lay.zeros(2)
    occ_c = clean_c.clone()
    # move the texture along a direction: the albedo shift is exactly that direction's mean colour
    k = 3  # "brightness": +0.05 on every channel of every vertex per unit
    occ_c[:, lay.slices()["tex"].start + k] = torch.tensor([1.0, -1.0])
    clean = torch.zeros(2, 3, 8, 8)
    occluded = clean.clone()
    occluded[0, :, :4] = 1.0  # a white occluder on image 0: the skin got brighter -> toward = +1
    occluded[1, :, :4] = 1.0  # image 1 got darker albedo while its occluder is white -> toward = -1
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, :4] = 1
    out = metrics.albedo_bleeding(ict, occ_c, clean_c, occluded, clean, mask)
    assert torch.allclose(out["toward"], torch.tensor([1.0, -1.0], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(out["shift"], torch.full((2,), 0.05 * 3**0.5), atol=1e-5)
    none = metrics.albedo_bleeding(ict, occ_c, clean_c, occluded, clean, torch.zeros_like(mask))
    assert torch.isnan(none["toward"]).all()


def test_metric_tables_mark_the_best_and_the_change(tmp_path, monkeypatch):
    from facelib import profile as profiles
    from facelib import results
    from facelib.evaluation import tables

    s = lambda m: {"mean": m, "std": 0.1, "median": m, "n": 3}  # noqa: E731
    M = {"a": {"views": {"clean": {"landmark_me": s(2.0), "seg_f1": s(0.5)}, "occluded": {"landmark_me": s(3.0)}}},
         "b": {"views": {"clean": {"landmark_me": s(4.0), "seg_f1": s(0.9)}, "occluded": {"landmark_me": s(4.0)}}}}
    table = tables.metrics_table(M, ["a", "b"], "clean", ["landmark_me", "seg_f1", "shape_v2v_mm"])
    lines = table.splitlines()
    assert lines[2] == "| a | **2.00** | 0.500 | – |" and lines[3] == "| b | 4.00 | **0.900** | – |"
    change = tables.degradation_table(M, ["a"], ["landmark_me"], views=("occluded",))
    assert "| a | occluded | 3.00 (+50 %) |" in change
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    P = profiles.resolve("smoke")
    results.add_to_metrics("x", P, "a", "extra", {"v": 1})
    results.add_to_metrics("x", P, "b", "extra", {"v": 2})
    assert results.read_metrics("x", "smoke")["metrics"] == {"a": {"extra": {"v": 1}}, "b": {"extra": {"v": 2}}}
    # an evaluation written under a name that already holds other numbers keeps them (chapter 9's
    # "contour-guided" has inpainting scores and reconstruction metrics)
    from facelib.evaluation.runner import merge_into_results

    merge_into_results("x", P, "a", {"views": {"clean": {"landmark_me": s(1.0)}}, "skipped": {}, "config": {"k": 1}})
    merge_into_results("x", P, "a", {"views": {"occluded": {"landmark_me": s(2.0)}}, "skipped": {}, "config": {}})
    stored = results.read_metrics("x", "smoke")
    assert stored["metrics"]["a"] == {"extra": {"v": 1}, "views": {"occluded": {"landmark_me": s(2.0)}}, "skipped": {}}
    assert stored["metrics"]["b"] == {"extra": {"v": 2}}


def test_training_cli_trains_resumes_and_evaluates(tmp_path, ict, monkeypatch, capsys):
    from facelib import profile, runs
    from facelib.data import synthetic

    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))  # MoFA's stand-in is trained there first

    root = tmp_path / "set"
    synthetic.generate(root, synthetic.SyntheticConfig(identities=4, variants=4, image_size=64, seed=1),
                       progress=False, model=ict)
    # the chapter's two set-level diagnostics on a predictor that knows the truth
    from facelib.evaluation import runner as evaluate

    truth = evaluate.ground_truth_predictor(root, "test")
    shape = evaluate.shape_breakdown(truth, root, model=ict)
    assert shape["both"] < 1e-6 and shape["identity_cosine"] == pytest.approx(1.0) and shape["images"] == 4
    assert shape["mean_identity"] > 0.5
    bleed = evaluate.albedo_bleeding(truth, root, model=ict)
    assert bleed["shift"]["mean"] == pytest.approx(0.0, abs=1e-7) and bleed["images"] == 4
    frame = evaluate.framing(truth, root, model=ict)
    assert frame["centre_offset"]["mean"] < 1e-3 and frame["off_frame"] == 0.0 and frame["images"] == 4
    assert 0.1 < frame["coverage"]["mean"] < 0.9  # a face fills part of the picture, not all of it

    def moved(c):  # the face translated far to the side: nothing of it is left in the picture
        c[:, -3] += 50.0
        return c

    gone = evaluate.framing(evaluate.ground_truth_predictor(root, "test", moved), root, model=ict)
    assert gone["off_frame"] == 1.0 and gone["coverage"]["mean"] == 0.0 and gone["centre_offset"]["mean"] > 224

    args = ["--method", "mofa", "--profile", "smoke", "--root", str(root), "--run-dir", str(tmp_path / "run"),
            "--quiet"]
    assert cli.main(["train"] + args + ["--steps", "3"]) == 0
    assert "training it first" in capsys.readouterr().out and runs.stand_in_finished(profile.resolve("smoke"))
    assert T.load_checkpoint(tmp_path / "run" / T.CHECKPOINT)["finished"]
    assert cli.main(["train"] + args + ["--steps", "3", "--evaluate", "4"]) == 0  # finished: loads, then evaluates
    import json

    views = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(views) == {"clean", "occluded", "noisy"} and views["clean"]["landmark_me"]["n"] == 4
    with pytest.raises(FacelibError, match="another run"):
        cli.main(["train"] + args + ["--steps", "5"])
    # a warm start from that finished run: its encoder is the starting point, its signature recorded
    warm = ["--method", "mofa", "--profile", "smoke", "--root", str(root), "--quiet", "--steps", "1",
            "--warm-start", f"mofa={tmp_path / 'run'}"]
    with pytest.raises(FacelibError, match="--warm-start makes a variant"):
        cli.main(["train"] + warm)
    assert cli.main(["train"] + warm + ["--run-dir", str(tmp_path / "warm")]) == 0
    first = T.load_checkpoint(tmp_path / "run" / T.CHECKPOINT)
    second = T.load_checkpoint(tmp_path / "warm" / T.CHECKPOINT)
    assert second["signature"] != first["signature"]  # the copy itself: the warm-start test above


def test_cli_trains_into_the_chapters_folder_and_a_variant_needs_its_own():
    """`python -m facelib train --method sopi` must write where chapter 6 (and MOPI's default
    teacher) read, and a --set variant must not overwrite or be refused by the default run."""
    from pathlib import Path

    from facelib import methods, profile, results, runs

    cpu = profile.resolve("cpu")
    for name in methods.names():
        assert cli.run_folder(name, cpu, None, {}) == results.run_dir(methods.chapter_of(name), "cpu", name)
        assert cli.run_folder(name, cpu, None, {}).parts[-3:] == (methods.chapter_of(name), "cpu", name)
    # every prerequisite is read from the folder the command line writes its method to
    for name in methods.names():
        for p in methods.method_class(name).prerequisites:
            chapter = p.chapter or methods.chapter_of(p.method)  # the teacher's own declaration
            assert runs.chapter_run_dir(chapter, "cpu", p.method) == cli.run_folder(p.method, cpu, None, {})
    assert cli.run_folder("sopi", cpu, Path("elsewhere"), {"loss": "l1"}) == Path("elsewhere")
    with pytest.raises(FacelibError, match="06_orn/cpu/sopi_variant"):
        cli.run_folder("sopi", cpu, None, {"loss": "l1"})


def test_a_training_call_forgets_rows_remembered_from_another_set(ict, tmp_path):
    """Rows are keyed by item index: two sets share indices, so each training call starts empty."""
    from facelib.methods.base import Method as Base

    class Faces(torch.utils.data.Dataset):
        def __init__(self, seed):
            c = random_coefficients(ict, 4, torch.Generator().manual_seed(seed))
            out = Renderer(ict, 64)(c, background=torch.full((4, 3, 64, 64), 0.5))
            self.items = [{"clean": out.image[i].clamp(0, 1).detach(), "landmarks68": out.landmarks[i].detach(),
                           "index": i} for i in range(4)]

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return self.items[i]

    cfg = T.TrainConfig(steps=2, batch_size=4, log_every=1)
    m = RNet(ict, TINY)
    T.train(m, Faces(1), tmp_path / "a", cfg, progress=False)
    first = m._memory["skin"]["rows"][("clean", 0)].clone()
    T.train(m, Faces(2), tmp_path / "b", cfg, progress=False)
    second = m._memory["skin"]["rows"][("clean", 0)]
    assert not torch.equal(first, second)  # recomputed from the second set's face 0
    m.forget()
    assert m._memory == {} and Base.memory_budget > 0
