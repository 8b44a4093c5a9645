"""The contour-guided method's building blocks: Canny edges (facelib.edges) and its loss terms
(facelib.losses.contour), each on known inputs."""

import math

import pytest
import torch
from toys import interrupting, tiny_synthetic_set

from facelib.edges import canny, to_gray
from facelib.errors import FacelibError
from facelib.losses import contour as L


def test_canny_finds_one_thin_line_at_a_step_and_nothing_on_a_flat_image():
    img = torch.zeros(1, 1, 16, 16)
    img[..., 8:] = 1.0  # a vertical step between columns 7 and 8
    e = canny(img, sigma=1.0)
    cols = e[0, 0].sum(0)
    assert set(torch.nonzero(cols).flatten().tolist()) <= {7, 8} and cols.sum() >= 16  # one line, full height
    assert (e[0, 0].sum(1) <= 2).all()  # at most two pixels wide in any row
    assert canny(torch.full((1, 1, 16, 16), 0.4)).sum() == 0
    # a bright square: a closed outline, empty inside
    sq = torch.zeros(1, 1, 24, 24)
    sq[..., 6:18, 6:18] = 1.0
    e = canny(sq)
    assert e[..., 10:14, 10:14].sum() == 0 and e[..., 4:20, 4:20].sum() > 30
    with pytest.raises(FacelibError, match="low <= high"):
        canny(img, low=0.5, high=0.1)
    with pytest.raises(FacelibError, match="grey"):
        canny(torch.zeros(1, 3, 8, 8))
    assert torch.allclose(to_gray(torch.ones(1, 3, 2, 2)), torch.ones(1, 1, 2, 2))


def test_hysteresis_keeps_weak_edges_only_when_connected_to_strong_ones():
    # one vertical edge whose contrast fades from 1.0 (top) to 0.25 (bottom)
    img = torch.zeros(1, 1, 20, 20)
    img[..., 10:] = torch.linspace(1.0, 0.25, 20).view(1, 1, 20, 1)
    low, high = 0.05, 0.2
    bottom = canny(img, low, high)[0, 0, 15:, :].sum()
    faint = torch.zeros(1, 1, 20, 20)
    faint[..., 10:] = 0.25  # the faint edge alone
    assert bottom > 0 and canny(faint, low, high).sum() == 0
    assert canny(faint, low, 0.05).sum() > 0  # it is an edge, only a weak one


def test_masking_and_goal_contours():
    gray = torch.full((1, 1, 2, 2), 0.5)
    cont = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    g, c = L.masked_inputs(gray, cont, mask)
    assert g[0, 0, 0, 0] == 0 and g[0, 0, 1, 1] == 0.5 and c.sum() == 3
    syn = torch.zeros(1, 1, 2, 2)
    assert torch.equal(L.goal_contours(cont, syn, mask), torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]]))


def test_gan_terms():
    zero = torch.zeros(4, 1)
    assert float(L.discriminator_loss(zero, zero)) == pytest.approx(math.log(2))
    assert float(L.discriminator_loss(torch.full((4, 1), 20.0), torch.full((4, 1), -20.0))) < 1e-6
    assert float(L.generator_adversarial_loss(zero)) == pytest.approx(math.log(2))
    assert float(L.generator_adversarial_loss(torch.full((4, 1), 20.0))) < 1e-6
    real = [torch.ones(2, 3, 4, 4), torch.zeros(2, 5)]
    fake = [torch.ones(2, 3, 4, 4) * 1.5, torch.full((2, 5), -2.0)]
    assert float(L.feature_matching_loss(real, real)) == 0.0
    assert float(L.feature_matching_loss(real, fake)) == pytest.approx(0.5 + 2.0)


def test_inpainting_terms():
    out, target = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    out[..., 0, 0] = 1.0  # 3 channel units of error
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1  # 4 occluded pixels
    assert float(L.mask_normalised_l1(out, target, mask)) == pytest.approx(3 / 4)
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # Q=2 maps of 1x2
    g = L.gram_matrix(f)
    assert torch.allclose(g, torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    assert float(L.style_loss([f], [f])) == 0.0
    assert float(L.style_loss([f], [torch.zeros_like(f)])) == pytest.approx(float(g.abs().mean()))


def test_regression_terms():
    region = torch.zeros(1, 1, 2, 2)
    region[..., 0, :] = 1
    a, b = torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    b[:, :2, 0, 0] = torch.tensor([0.3, 0.4])  # distance 0.5 at one of the two region pixels
    b[:, :, 1, 1] = 9.0  # outside the region
    assert float(L.pixel_loss(a, b, region)) == pytest.approx(0.25, rel=1e-4)
    x = torch.tensor([[1.0, 0.0]])
    assert float(L.feature_loss(x, x)) == pytest.approx(0.0) and float(L.feature_loss(x, -x)) == pytest.approx(2.0)


# ---------------------------------------------------------------- the method: stages and resumption

def test_contour_schedule():
    from facelib.methods.contour import ContourSchedule

    s = ContourSchedule(1, 2, 2)
    assert [s.stage(t) for t in range(7)] == ["mask", "edges", "edges", "inpaint", "inpaint", "regression",
                                              "regression"]
    cpu = ContourSchedule.for_steps(1500)
    assert (cpu.mask, cpu.edges, cpu.inpaint) == (225, 450, 450)
    with pytest.raises(FacelibError, match="non-negative"):
        ContourSchedule(-1, 1, 1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, ict):
    from facelib.methods.regressor import EncoderConfig
    from facelib.methods.rnet import RNet

    root = tiny_synthetic_set(tmp_path_factory, ict, "contour", seed=5)
    rnet = RNet(ict, EncoderConfig("resnet_tiny", 64), embedder=None)
    rnet.run_signature = "run-r"
    return root, rnet


def _contour(ict, rnet, cls=None):
    from facelib.methods.contour import Contour, ContourSchedule
    from facelib.methods.regressor import EncoderConfig

    return (cls or Contour)(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3), rnet, schedule=ContourSchedule(1, 2, 2),
                            gan_width=8, gan_blocks=1, unet_width=4)


def test_each_stage_trains_its_own_networks_and_the_chain_predicts(ict, tiny):
    from facelib.data.folder import FaceFolder
    from facelib.methods.contour import Contour

    root, rnet = tiny
    data = FaceFolder(root, "train", views=Contour.views, masks=Contour.masks)
    batch = torch.utils.data.default_collate([data[i] for i in range(2)])
    m = _contour(ict, rnet)
    assert all(torch.equal(a, b) for a, b in zip(m.nets["encoder"].state_dict().values(),
                                                 rnet.nets["encoder"].state_dict().values(), strict=True))
    m.train_mode(True)
    stages = []
    for step in range(6):
        out = m.train_step(batch, step)
        keys = sorted(k for k in out if k in m.objectives)
        stages.append(tuple(keys))
        for k in keys:
            assert torch.isfinite(out[k])
            for net in m.nets.values():
                net.zero_grad(set_to_none=True)
            out[k].backward(retain_graph=True)
            touched = {n for n, net in m.nets.items() if any(p.grad is not None and p.grad.abs().sum() > 0
                                                            for p in net.parameters())}
            assert set(m.objectives[k]) <= touched, (k, touched)
            assert "encoder" not in touched or k == "regression"
    assert stages == ([("mask",)] + [("edge_discriminator", "edge_generator")] * 2
                      + [("inpaint_discriminator", "inpaint_generator")] * 2 + [("regression",)])
    pred = m.predict(batch["occluded"])
    assert pred.coefficients.shape == (2, ict.layout.total) and pred.mask.shape == (2, 1, 64, 64)
    chain = m.inpainted(batch["occluded"])
    # outside the predicted mask the inpainted image is the input
    keep = (1 - chain["mask"]).bool().expand(-1, 3, -1, -1)
    assert torch.equal(chain["image"][keep], batch["occluded"][keep])
    assert all(net.training for net in m.nets.values())  # the chain ran in eval mode and left them as they were
    # a given mask (the true occluded face) replaces the predicted one; as a fill it changes only that mask
    given = torch.zeros(2, 1, 64, 64)
    given[:, :, 20:40, 10:50] = 1
    filled = m.fill(batch["occluded"], given)
    outside = (given == 0).expand(-1, 3, -1, -1)
    assert torch.equal(filled[outside], batch["occluded"][outside]) and not torch.equal(filled, batch["occluded"])
    # R-Net on the restored image: the same coefficients as R-Net's own predict on that image
    restored = m.restoring(rnet.predict)(batch["occluded"])
    assert torch.allclose(restored.coefficients, rnet.predict(chain["image"]).coefficients, atol=1e-6)
    # the log's occluded landmark error is the chain's, as predict reads it, not the encoder's on the raw input
    from facelib.methods.regressor import Regressor

    assert chain["mask"].sum() > 0 and not torch.equal(chain["image"], batch["occluded"])  # the chain changes it
    with m.evaluating():
        logged = m.validation_step(batch)
        assert logged == Regressor.validation_step(m, {**batch, "occluded": chain["image"]})
        assert logged["landmark_me_clean"] == Regressor.validation_step(m, batch)["landmark_me_clean"]


def test_the_guiding_contours_come_from_the_generator_the_clean_twin_or_nowhere(ict, tiny):
    """Issue 35's contour mechanism: ``contour_source`` decides C_goal inside the mask — the paper's
    generated contours, the clean twin's own (an oracle, which needs the twin and so cannot predict),
    or none; outside the mask every source keeps the visible contours. The paper's default stays out
    of the run signature."""
    from facelib.data.folder import FaceFolder
    from facelib.methods.contour import Contour

    root, rnet = tiny
    data = FaceFolder(root, "train", views=Contour.views, masks=Contour.masks)
    b = torch.utils.data.default_collate([data[i] for i in range(2)])
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 16:48, 16:48] = 1
    chains = {}
    for source in ("generated", "true", "none"):
        m = _contour(ict, rnet)
        m.contour_source = source
        chains[source] = m.inpainted(b["occluded"], mask, clean=b["clean"])["contours"]
    inside, outside = mask.bool(), ~mask.bool()
    visible = chains["generated"][outside]
    assert all(torch.equal(c[outside], visible) for c in chains.values())
    assert torch.equal(chains["true"][inside], _contour(ict, rnet).contours(b["clean"])[inside])
    assert chains["none"][inside].abs().sum() == 0 and chains["true"][inside].sum() > 0
    oracle = _contour(ict, rnet, lambda *a, **k: Contour(*a, **k, contour_source="true"))
    with pytest.raises(FacelibError, match="pass clean"):
        oracle.inpainted(b["occluded"], mask)
    with pytest.raises(FacelibError, match="needs each image's clean twin"):
        oracle.predict(b["occluded"])
    oracle.train_mode(True)
    seen = []  # every stage that draws C_goal draws the twin's contours, the regression stage included
    draw = oracle._frozen_goal
    oracle._frozen_goal = lambda images, mask, clean=None: seen.append(clean is not None) or draw(images, mask, clean)
    for step in range(6):
        assert torch.isfinite(next(v for k, v in oracle.train_step(b, step).items() if k in oracle.objectives))
    assert seen and all(seen)
    generated = _contour(ict, rnet)
    with pytest.raises(FacelibError, match="build it with contour_source='true'"):
        generated.start_from(oracle, ("masker", "inpaint_generator"))
    generated.start_from(oracle)  # the encoder alone: any chain's
    assert oracle.hyperparameters()["arguments"]["contour_source"] == "true"
    assert "contour_source" not in _contour(ict, rnet).hyperparameters()["arguments"]
    with pytest.raises(FacelibError, match="contour_source must be one of"):
        _contour(ict, rnet, lambda *a, **k: Contour(*a, **k, contour_source="canny"))


def test_a_regression_only_variant_starts_from_a_finished_chain_and_can_add_landmarks(ict, tiny):
    from facelib import train as T
    from facelib.data.folder import FaceFolder
    from facelib.methods.contour import CHAIN_NETS, Contour, ContourSchedule
    from facelib.methods.regressor import EncoderConfig

    root, rnet = tiny
    data = FaceFolder(root, "train", views=Contour.views, masks=Contour.masks)
    batch = torch.utils.data.default_collate([data[i] for i in range(2)])
    finished = _contour(ict, rnet)
    finished.train_mode(True)
    for step in range(5):  # stages 1-3 move the chain's networks
        out = finished.train_step(batch, step)
        for k in (k for k in out if k in finished.objectives):
            for o in finished.objectives[k]:
                finished.optimizers[o].zero_grad()
            out[k].backward(retain_graph=True)
            for o in finished.objectives[k]:
                finished.optimizers[o].step()
    finished.run_signature = "run-c"
    variant = Contour(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3), rnet, schedule=ContourSchedule(0, 0, 0),
                      gan_width=8, gan_blocks=1, unet_width=4, weights={"landmark": 1.6e-3})
    variant.start_from(finished, nets=CHAIN_NETS)
    for net in CHAIN_NETS:
        a, b = finished.nets[net].state_dict(), variant.nets[net].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
    # its encoder is R-Net's, as the finished run's was before its regression stage
    assert all(torch.equal(a, b) for a, b in zip(variant.nets["encoder"].state_dict().values(),
                                                 rnet.nets["encoder"].state_dict().values(), strict=True))
    out = variant.train_step(batch, 0)  # straight into the regression stage
    assert out["stage"] == 3.0 and torch.isfinite(out["landmark"]) and out["landmark"] > 0
    expected = 1.4 * out["pixel"] + 0.25 * out["feature"] + 1.6e-3 * out["landmark"]
    assert torch.allclose(out["regression"].detach(), expected, rtol=1e-5)
    assert "landmark" not in finished.train_step(batch, 5)  # the paper's L_3D when not asked for
    assert "landmark" not in finished.hyperparameters()["weights"]  # so earlier runs keep their signature
    cfg = T.TrainConfig(steps=3, batch_size=2)
    assert T.run_signature(variant, cfg, {}) != T.run_signature(_contour(ict, rnet), cfg, {})
    with pytest.raises(FacelibError, match="unknown contour weight"):
        Contour(ict, EncoderConfig("resnet_tiny", 64), rnet, weights={"landmarks": 1.0})


def test_interrupted_gan_training_resumes_with_identical_players(ict, tiny, tmp_path):
    from facelib import train as T
    from facelib.data.folder import FaceFolder
    from facelib.methods.contour import Contour

    root, rnet = tiny
    data = FaceFolder(root, "train", views=Contour.views, masks=Contour.masks)
    cfg = T.TrainConfig(steps=6, batch_size=2, log_every=1, checkpoint_every=2)
    straight = _contour(ict, rnet)
    T.train(straight, data, tmp_path / "a", cfg, progress=False)
    with pytest.raises(T.TrainingInterrupted):
        T.train(_contour(ict, rnet, interrupting(Contour, 3)),  # during the edge GAN stage
                data, tmp_path / "b", cfg, progress=False)
    resumed = _contour(ict, rnet)
    res = T.train(resumed, data, tmp_path / "b", cfg, progress=False)
    assert res.started_at == 3
    stages = [[e["losses"]["stage"] for e in T.read_log(tmp_path / run) if "losses" in e] for run in ("a", "b")]
    assert stages[0] == stages[1] and len(stages[0]) == 6  # the resumed run continued in the same stage
    for net in straight.nets:
        a, b = straight.nets[net].state_dict(), resumed.nets[net].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
    for name in straight.optimizers:
        sa, sb = straight.optimizers[name].state_dict()["state"], resumed.optimizers[name].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa), name


def test_fills_and_ssim_on_known_images():
    from facelib.fill import blur_fill, mean_fill
    from facelib.metrics import psnr, ssim

    img = torch.zeros(1, 3, 16, 16)
    img[:, 0] = 0.2
    img[:, 1, :, 8:] = 0.6  # a colour step
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:8, 4:8] = 1
    filled = mean_fill(img, mask)
    known = (1 - mask).bool().expand_as(img)
    assert torch.equal(filled[known], img[known])  # known pixels untouched
    mean = (img * (1 - mask)).sum((2, 3)) / (1 - mask).sum()
    assert torch.allclose(filled[0, :, 5, 5], mean[0])
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(blur_fill(flat, mask), flat, atol=1e-6)  # a flat image is refilled exactly
    assert torch.equal(blur_fill(img, mask)[known], img[known])
    # SSIM: 1 for identical images, lower for a perturbed one, only the masked pixels when asked
    assert float(ssim(img, img)) == pytest.approx(1.0, abs=1e-5)
    noisy = img + 0.1 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert float(ssim(noisy, img)) < 0.9
    assert float(psnr(filled, img, mask)) < float(psnr(img, img, mask))


def test_inpainting_quality_pairs_fills_on_the_occluded_faces(ict, tiny):
    from facelib.data.folder import FaceFolder
    from facelib.evaluation import tables
    from facelib.evaluation.protocols.contour import inpainting_quality, occluded_face_mask
    from facelib.fill import mean_fill

    root, _ = tiny
    clean_of = {}
    data = FaceFolder(root, "test", views=("clean", "occluded"), masks=("face_mask", "occluder_mask"))
    for i in range(len(data)):
        item = data[i]
        clean_of[item["occluded"].numpy().tobytes()] = item["clean"]
    oracle = lambda images, mask: torch.stack([clean_of[im.numpy().tobytes()] for im in images])  # noqa: E731
    q = inpainting_quality({"oracle": oracle, "mean": mean_fill}, root)
    faces = q["oracle"]["views"]["inpainted"]["faces"]
    assert faces == q["mean"]["views"]["inpainted"]["faces"] and len(faces) >= 1
    assert all(occluded_face_mask({k: data[f][k][None] for k in ("face_mask", "occluder_mask")}).sum() > 0 for f in faces)
    assert min(q["oracle"]["views"]["inpainted"]["per_face"]["psnr"]) >= 100  # exact restoration (capped error)
    assert max(q["mean"]["views"]["inpainted"]["per_face"]["psnr"]) < 60
    d = tables.difference_against(q, "oracle", "mean", "inpainted", "ssim")
    assert d.estimate > 0


def test_contour_claims_are_computed_from_paired_faces():
    from facelib import stats
    from facelib.evaluation.protocols.contour import claims

    def row(values, view="occluded", metric="landmark_me"):
        return {"views": {view: {"faces": list(range(len(values))), "per_face": {metric: values}}}}

    n = 40
    rng = torch.Generator().manual_seed(0)
    base = (10 + torch.rand(n, generator=rng)).tolist()
    better = [v * 0.8 for v in base]  # 20 % lower on every face
    metrics = {"R-Net": row(base), "contour-guided": row(better), "R-Net on the inpainted image": row(base)}
    for m in metrics.values():
        m["views"]["occluded"]["per_face"]["perceptual_dlib"] = m["views"]["occluded"]["per_face"]["landmark_me"]
    quality = {"contour-guided": row([20.0 + 0.1 * i for i in range(n)], "inpainted", "psnr"),
               "mean fill": row([15.0 + 0.1 * i for i in range(n)], "inpainted", "psnr")}
    out = claims(metrics, quality)
    assert out["psnr_above_mean_fill"].verdict == stats.HOLDS
    assert out["psnr_above_mean_fill"].interval.estimate == pytest.approx(5.0)
    assert out["me_below_rnet"].verdict == stats.HOLDS and out["me_below_rnet"].interval.estimate == pytest.approx(-20.0)
    assert out["perc_below_rnet"].verdict == stats.HOLDS
    assert out["rnet_inpainted_me_below_rnet"].verdict != stats.HOLDS  # identical values: no change
    assert set(claims({"R-Net": metrics["R-Net"]}, {})) == set()  # missing rows: no claim


def test_the_stages_remember_their_fixed_inputs_without_changing_training(ict, tiny):
    """Stage 2's Canny contours of the clean twin, stage 3's C_goal of the frozen stage 2, the
    regression stage's inpainted image: remembered per training item, the same weights as without."""
    from facelib import train as T
    from facelib.data.folder import FaceFolder
    from facelib.methods.base import Method
    from facelib.methods.contour import Contour

    root, rnet = tiny
    data = FaceFolder(root, "train", views=Contour.views, masks=Contour.masks)
    orders = [[0, 1], [2, 3], [1, 2], [3, 0], [0, 1]]  # later batches mix items met in different ones
    runs = {}
    for budget in (0, Method.memory_budget):
        m = _contour(ict, rnet)  # stages 1, 2, 3 (5 steps), then regression
        m.memory_budget = budget
        m.train_mode(True)
        for step, order in enumerate([[0, 1]] * 5 + orders):
            T.optimisation_step(m, torch.utils.data.default_collate([data[i] for i in order]), step)
        runs[budget] = m
    kept = runs[Method.memory_budget]._memory
    assert len(kept["inpainted"]["rows"]) == 4 and len(kept["input_features"]["rows"]) == 4
    assert len(kept["clean_contours"]["rows"]) == 2 and len(kept["goal_contours"]["rows"]) == 2
    for net in runs[0].nets:
        a, b = runs[0].nets[net].state_dict(), runs[Method.memory_budget].nets[net].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
