"""FOCUS's loss terms (facelib.losses.focus), each on known values."""

import contextlib
import json

import pytest
import torch
from toys import interrupting, tiny_synthetic_set

from facelib.data.folder import FaceFolder
from facelib.losses import focus as L


def _region(h=6, w=6):
    r = torch.zeros(1, 1, h, w)
    r[..., 1:5, 1:5] = 1
    return r


def test_neighbour_loss_forgives_a_one_pixel_shift_that_the_pixel_loss_does_not():
    torch.manual_seed(0)
    region = torch.ones(1, 1, 8, 8)
    render = torch.rand(1, 3, 8, 8)
    target = torch.roll(render, shifts=1, dims=-1)  # the render, one pixel to the right
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1  # interior: every pixel's shifted twin is in its neighbourhood
    assert float(L.neighbour_loss(target, render, mask, region, radius=1)) == pytest.approx(0.0, abs=1e-5)
    assert float(L.masked_pixel_loss(target, render, mask, region)) > 0.1
    # radius 0 is the pixel term (up to the normalisation: the rendered area vs the kept area)
    assert float(L.neighbour_loss(target, render, mask, region, radius=0, squared=True)) == \
        pytest.approx(float(L.masked_pixel_loss(target, render, mask, region, squared=True)) * 16 / 64)


def test_neighbour_loss_counts_only_kept_pixels_with_the_squared_distance():
    region = torch.ones(1, 1, 4, 4)
    render = torch.zeros(1, 3, 4, 4)
    target = torch.zeros(1, 3, 4, 4)
    target[:, :, 0, 0] = torch.tensor([0.3, 0.4, 0.0])  # distance 0.5 to every black neighbour
    keep = torch.ones(1, 1, 4, 4)
    assert float(L.neighbour_loss(target, render, keep, region)) == pytest.approx(0.5 / 16)
    assert float(L.neighbour_loss(target, render, keep, region, squared=True)) == pytest.approx(0.25 / 16)
    keep[..., 0, 0] = 0  # the segmentation drops that pixel: nothing left to pay
    assert float(L.neighbour_loss(target, render, keep, region)) == 0.0


def test_area_and_binary_terms():
    region = _region()
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., 1:5, 1:3] = 1  # half of the 16 rendered pixels
    assert float(L.area_loss(mask, region)) == pytest.approx(-0.5)
    assert float(L.binary_loss(mask, region)) == pytest.approx(-0.25)  # every pixel at 0 or 1
    assert float(L.binary_loss(torch.full((1, 1, 6, 6), 0.5), region)) == 0.0


def test_masked_pixel_loss_and_preliminary_mask():
    region = _region()
    target = torch.zeros(1, 3, 6, 6)
    render = torch.zeros(1, 3, 6, 6)
    render[:, 0, 1:3, 1:5] = 0.5  # 8 pixels off by 0.5 in red: squared error 0.25, above xi
    render[:, 0, 3:5, 1:5] = 0.3  # 8 pixels off by 0.3: squared error 0.09, below xi
    mask = torch.ones(1, 1, 6, 6)
    assert float(L.masked_pixel_loss(target, render, mask, region, squared=True)) == pytest.approx((8 * 0.25 + 8 * 0.09) / 16)
    assert float(L.masked_pixel_loss(target, render, mask, region)) == pytest.approx((8 * 0.5 + 8 * 0.3) / 16)
    half = torch.zeros(1, 1, 6, 6)
    half[..., 3:5, 1:5] = 1  # keep only the well-fitted half: the mean is over the kept pixels
    assert float(L.masked_pixel_loss(target, render, half, region)) == pytest.approx(0.3)
    pre = L.preliminary_mask(target, render, region, xi=0.17)
    assert float(pre.sum()) == 8 and float(pre[..., 3:5, 1:5].min()) == 1.0 and float(pre[..., 1:3, 1:5].max()) == 0.0
    assert float(pre[..., 0, :].sum()) == 0  # outside the rendered face: never face


def test_feature_terms_with_a_known_embedder():
    embed = lambda x: x.flatten(1)  # noqa: E731 - the identity "embedder"
    img = torch.rand(2, 3, 4, 4)
    mask = torch.ones(2, 1, 4, 4)
    assert float(L.preserve_loss(embed(img * mask), embed(img))) == pytest.approx(0.0, abs=1e-6)
    assert float(L.distance_loss(embed(img * mask), embed(img * mask))) == pytest.approx(0.0, abs=1e-6)
    half = torch.cat([torch.ones(2, 1, 4, 2), torch.zeros(2, 1, 4, 2)], -1)
    flat = torch.ones(2, 3, 4, 4)  # masking half of a constant image keeps half of its feature norm
    assert float(L.preserve_loss(embed(flat * half), embed(flat))) == pytest.approx(1 - 0.5**0.5)
    assert float(L.perceptual_loss(embed(img), embed(-img))) == pytest.approx(2.0)  # opposite features
    assert float(L.cosine_distance(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]]))) == pytest.approx(1.0)


def test_regularizer_and_misfit_prior():
    c = {"id": torch.tensor([[1.0, 2.0]]), "exp": torch.tensor([[0.5]]), "tex": torch.tensor([[2.0]]),
         "angle": torch.tensor([[9.0, 9.0, 9.0]])}
    assert float(L.parameter_regularizer(c, scale=1.0)) == pytest.approx(1 + 4 + 0.25 + 4)  # pose not regularised
    assert float(L.parameter_regularizer(c)) == pytest.approx((1 + 4 + 0.25 + 4) / 224)
    truth = torch.zeros(3, 2, 3)
    predicted = truth + torch.tensor([0.1, -0.2, 0.0])  # a constant bias on every face and vertex
    prior = L.misfit_prior(predicted, truth)
    assert torch.allclose(prior, torch.tensor([[0.1, -0.2, 0.0]] * 2))
    assert torch.allclose(L.apply_misfit_prior(predicted, prior), truth)


def test_unet_keeps_the_size_learns_a_mask_and_refuses_odd_sizes():
    from facelib.errors import FacelibError
    from facelib.nets.unet import UNet

    torch.manual_seed(0)
    net = UNet(6, 1, width=8, depth=2)
    x = torch.rand(4, 6, 16, 16)
    assert net(x).shape == (4, 1, 16, 16)
    with pytest.raises(FacelibError, match="divisible by 4"):
        net(torch.rand(1, 6, 18, 18))
    # it can learn a mask that depends on the input: "face" where channel 0 exceeds channel 3
    target = (x[:, :1] > x[:, 3:4]).float()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), target)
        loss.backward()
        opt.step()
    net.eval()
    accuracy = ((net(x) > 0).float() == target).float().mean()
    assert accuracy > 0.9, accuracy


# ---------------------------------------------------------------- the method: EM schedule and training

def test_em_schedule_phases_and_its_profile_size():
    from facelib.errors import FacelibError
    from facelib.methods.focus import EMSchedule

    s = EMSchedule(2, 1, 4, 1)
    assert [s.phase(t) for t in range(11)] == (["reconstruct_init"] * 2 + ["segment_init"]
                                               + ["segment"] + ["reconstruct"] * 3 + ["segment"] + ["reconstruct"] * 3)
    cpu = EMSchedule.for_steps(1500)
    assert (cpu.init_reconstruction, cpu.init_segmentation, cpu.cycle, cpu.segmentation) == (450, 150, 300, 50)
    assert cpu.em_segmentation_steps(1500) == 150  # three whole cycles, 50 S steps each
    assert s.em_segmentation_steps(11) == 2 and s.em_segmentation_steps(10) == 1 and s.em_segmentation_steps(2) == 0
    with pytest.raises(FacelibError, match="invalid EM schedule"):
        EMSchedule(1, 1, 4, 5)
    with pytest.raises(FacelibError, match="invalid EM schedule"):
        EMSchedule(1, 1, 4, 0)
    assert {EMSchedule(1, 1, 4, 4).phase(t) for t in range(2, 12)} == {"segment"}  # a cycle of S alone


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, ict):
    return tiny_synthetic_set(tmp_path_factory, ict, "focus", seed=4)


def _focus(ict, cls=None):
    from facelib.methods.focus import FOCUS, EMSchedule
    from facelib.methods.regressor import EncoderConfig

    return (cls or FOCUS)(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3), schedule=EMSchedule(2, 1, 4, 1), unet_width=4)


def test_each_phase_steps_only_its_own_network(ict, tiny_set):
    from facelib.data.folder import FaceFolder

    data = FaceFolder(tiny_set, "train", views=("clean", "occluded"))
    batch = torch.utils.data.default_collate([data[i] for i in range(2)])
    m = _focus(ict)
    m.train_mode(True)
    seen = []
    for step in range(5):
        for net in m.nets.values():
            net.zero_grad(set_to_none=True)
        out = m.train_step(batch, step)
        (key,) = [k for k in ("reconstruction", "segmentation") if k in out]
        out[key].backward()
        grads = {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
                 for name, net in m.nets.items()}
        seen.append((key, grads["encoder"], grads["segmenter"]))
        assert torch.isfinite(out[key])
    assert seen == [("reconstruction", True, False)] * 2 + [("segmentation", False, True)] * 2 \
        + [("reconstruction", True, False)]
    pred = m.predict(batch["occluded"])
    assert pred.coefficients.shape == (2, ict.layout.total) and pred.mask.shape == (2, 1, 64, 64)
    assert set(pred.mask.unique().tolist()) <= {0.0, 1.0}


def test_interrupted_em_resumes_in_the_same_phase_with_identical_weights(ict, tiny_set, tmp_path):
    from facelib import train as T
    from facelib.data.folder import FaceFolder
    from facelib.methods.focus import FOCUS

    data = FaceFolder(tiny_set, "train", views=("clean", "occluded"))
    cfg = T.TrainConfig(steps=7, batch_size=2, log_every=1, checkpoint_every=3)
    straight = _focus(ict)
    T.train(straight, data, tmp_path / "a", cfg, progress=False)
    with pytest.raises(T.TrainingInterrupted):
        T.train(_focus(ict, interrupting(FOCUS, 4)), data, tmp_path / "b", cfg, progress=False)
    resumed = _focus(ict)
    res = T.train(resumed, data, tmp_path / "b", cfg, progress=False)
    assert res.started_at == 4
    phases = [[e["losses"]["phase"] for e in T.read_log(tmp_path / run) if "losses" in e] for run in ("a", "b")]
    assert phases[0] == phases[1] and len(phases[0]) == 7  # the resumed run continued in the same phase
    for net in ("encoder", "segmenter"):
        a, b = straight.nets[net].state_dict(), resumed.nets[net].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
    phases = [e["losses"]["phase"] for e in res.log if "losses" in e]
    assert phases == [0.0, 0.0, 1.0, 2.0, 3.0, 3.0, 3.0]  # the phase of each step, across the interrupt


# ---------------------------------------------------------------- baselines and the misfit prior

class _Truth:
    """A stand-in trained method: predicts each image's true coefficients (optionally changed)."""

    name = "truth"

    def __init__(self, model, root, change=None):
        from facelib.evaluation.runner import ground_truth_predictor

        self.model, self._predict = model, ground_truth_predictor(root, "train", change)

    def predict(self, images):
        return self._predict(images)


def test_misfit_prior_is_the_mean_deviation_and_fixes_a_systematic_error(ict, tiny_set):
    from facelib.methods.focus import MisfitCorrected, misfit_prior

    exact = misfit_prior(_Truth(ict, tiny_set), tiny_set, batch_size=5)
    assert exact.abs().max() < 1e-5  # a method without misfits has none

    def mean_identity(c):
        s = ict.layout.split(c)
        s["id"] = torch.zeros_like(s["id"])
        return ict.layout.join(s)

    biased = _Truth(ict, tiny_set, mean_identity)
    prior = misfit_prior(biased, tiny_set, batch_size=5)
    # by hand: the mean over the split of (mean-identity mesh - true mesh)
    from facelib.data.folder import FaceFolder

    data = FaceFolder(tiny_set, "train", views=("clean",))
    t = torch.stack([data[i]["coefficients"] for i in range(len(data))]).float()
    by_hand = (ict.shape(torch.zeros_like(ict.layout.split(t)["id"]), ict.layout.split(t)["exp"])
               - ict.shape(ict.layout.split(t)["id"], ict.layout.split(t)["exp"])).mean(0)
    assert torch.allclose(prior, by_hand, atol=1e-5)
    # corrected meshes are closer to the truth on average than the biased ones
    batch = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    out = MisfitCorrected(biased, prior).predict(batch["clean"])
    truth_v = ict.shape(ict.layout.split(t)["id"], ict.layout.split(t)["exp"])
    c = ict.layout.split(out.coefficients.float())
    before = (ict.shape(c["id"], c["exp"]) - truth_v).norm(dim=-1).mean()
    after = (out.vertices - truth_v).norm(dim=-1).mean()
    assert after < before


def test_the_runner_scores_the_vertices_a_prediction_brings(ict, tiny_set):
    from facelib.evaluation.runner import evaluate, ground_truth_predictor

    truth = ground_truth_predictor(tiny_set, "test")

    def bumped(images):
        c = truth(images)
        s = ict.layout.split(c.float())
        v = ict.shape(s["id"], s["exp"]).clone()
        v[:, :50] *= 1.05  # a non-rigid change of part of the mesh
        return {"coefficients": c, "vertices": v}

    plain = evaluate(truth, tiny_set, method="t", chapter="x", profile="smoke", views=("clean",), embedders=(),
                     write=False, progress=False, model=ict)
    moved = evaluate(bumped, tiny_set, method="b", chapter="x", profile="smoke", views=("clean",), embedders=(),
                     write=False, progress=False, model=ict)
    assert plain["views"]["clean"]["shape_v2v_mm"]["mean"] < 1e-6
    assert moved["views"]["clean"]["shape_v2v_mm"]["mean"] > 0.01
    # the coefficients still drive the render metrics
    assert moved["views"]["clean"]["landmark_me"]["mean"] == pytest.approx(plain["views"]["clean"]["landmark_me"]["mean"])


def test_backbone_variants(ict, tiny_set):
    from facelib.data.folder import FaceFolder
    from facelib.errors import FacelibError
    from facelib.methods.focus import FaceAutoencoder
    from facelib.methods.regressor import EncoderConfig

    enc = EncoderConfig("resnet_tiny", 64)
    data = FaceFolder(tiny_set, "train", views=("occluded",), masks=("visible_mask",))
    batch = torch.utils.data.default_collate([data[i] for i in range(3)])
    sup = FaceAutoencoder(ict, enc, mask="truth")
    assert sup.masks == ("visible_mask",)
    hidden = dict(batch, visible_mask=torch.zeros_like(batch["visible_mask"]))
    assert float(sup.train_step(hidden, 0)["pixel"]) == 0.0  # nothing visible: no pixel to fit
    assert float(FaceAutoencoder(ict, enc).train_step(batch, 0)["pixel"]) > 0.0
    cut = FaceAutoencoder(ict, enc, augment="cutout")
    a, covered = cut.augmented(batch["occluded"], batch["landmarks68"], 0)
    assert not torch.equal(a, batch["occluded"]) and torch.equal(a, cut.augmented(batch["occluded"], batch["landmarks68"], 0)[0])
    assert covered.shape == (3, 1, 64, 64) and torch.equal(a[covered.expand_as(a) == 0], batch["occluded"][covered.expand_as(a) == 0])
    mix, covered = FaceAutoencoder(ict, enc, augment="cutmix").augmented(batch["occluded"], batch["landmarks68"], 0)
    assert mix.shape == batch["occluded"].shape and not torch.equal(mix, batch["occluded"]) and covered.sum() > 0
    # supervised + cutout: a box covering everything leaves nothing to fit
    sup_cut = FaceAutoencoder(ict, enc, mask="truth", augment="cutout")
    sup_cut.augmented = lambda images, landmarks, step: (images, torch.ones_like(images[:, :1]))
    assert float(sup_cut.train_step(batch, 0)["pixel"]) == 0.0
    with pytest.raises(FacelibError, match="augment one of"):
        FaceAutoencoder(ict, enc, augment="mixup")


def test_focus_tables_regroup_and_pair_faces(tiny_set):
    from facelib.evaluation.protocols import focus as protocol
    from facelib.evaluation.reports import focus as report

    kinds = FaceFolder(tiny_set, "test", views=("clean",)).annotations["occluder"]
    n = len(kinds)
    metrics = {"A": {"views": {v: {"faces": list(range(n)),
                                   "per_face": {"visible_rmse": [float(i + (10 if v == "occluded" else 0)) for i in range(n)],
                                                "seg_f1": [0.5] * n}} for v in ("clean", "occluded")}}}
    out = protocol.with_overall(metrics, ["A"])
    assert out["A"]["views"]["overall"]["per_face"]["visible_rmse"] == [5.0 + i for i in range(n)]
    assert out["A"]["views"]["overall"]["visible_rmse"]["mean"] == pytest.approx(5.0 + (n - 1) / 2)
    groups = protocol.segmentation_groups(metrics, ["A"], tiny_set)
    for name, allowed in (("glasses", protocol.GLASSES_LIKE), ("scarf", protocol.SCARF_LIKE)):
        assert all(str(kinds[f]) in allowed for f in groups["A"]["views"][name]["faces"])
    assert groups["A"]["views"]["unoccluded"]["faces"] == list(range(n))
    assert "8.38 ± 0.42" in report.paper_table1() and "0.97" in report.paper_table4()


def test_bench_times_every_em_phase_against_the_encoder_over_the_same_images(ict, tiny_set):
    from facelib import profile as profiles
    from facelib.bench import bench_train
    from facelib.methods.focus import EMSchedule

    prof = profiles.override(profiles.resolve("smoke"), batch_size=4, train_steps=20)
    rec = bench_train("focus", prof, tiny_set, repeats=1, device="cpu", model=ict, nondeterministic=True)
    schedule = EMSchedule.for_steps(20)  # 6 R init, 2 S init, cycles of 4: 1 S + 3 R
    assert list(rec["phases"]) == ["reconstruct_init", "segment_init", "segment", "reconstruct"]
    assert [p["steps"] for p in rec["phases"].values()] == [6, 2, 3, 9]
    assert schedule.phase(8) == "segment"
    for phase in rec["phases"].values():
        assert phase["encoder_images"] == 4  # 2 faces × (clean, occluded), all through R
        assert phase["step_s"] > 0 and phase["encoder_fwd_bwd_s"] > 0
        assert phase["ratio"] == pytest.approx(phase["step_s"] / phase["encoder_fwd_bwd_s"], rel=0.01)
    weighted = sum(p["steps"] * p["step_s"] for p in rec["phases"].values()) / 20
    assert rec["step_s"] == pytest.approx(weighted, rel=0.01)
    # a reconstruction step renders, embeds and steps Adam: it costs more than the encoder alone
    assert rec["phases"]["reconstruct"]["ratio"] > 1
    # timed both ways: remembering the input's features, and recomputing them (as before)
    assert all(p["step_s_recomputing"] > 0 for p in rec["phases"].values()) and rec["ratio_recomputing"] > 0
    # and without deterministic kernels (what they cost), interleaved
    assert rec["step_s_no_nondeterministic"] > 0 and all(p["step_s_no_nondeterministic"] > 0 for p in rec["phases"].values())


def test_an_oracle_focus_trains_s_alone_against_the_render_of_the_true_coefficients(ict, tiny_set):
    """Issue 35's FOCUS mechanism experiment: with ``oracle=True`` S sees the render of the true
    coefficients (R's weights do not matter), the schedule may not train R, and S's masks need the
    true coefficients."""
    from facelib.data.folder import FaceFolder
    from facelib.errors import FacelibError
    from facelib.methods.focus import FOCUS, EMSchedule
    from facelib.methods.regressor import EncoderConfig

    enc = EncoderConfig("resnet_tiny", 64, lr=1e-3)
    with pytest.raises(FacelibError, match="segmentation_only"):
        FOCUS(ict, enc, schedule=EMSchedule(2, 1, 4, 1), oracle=True)
    alone = EMSchedule.segmentation_only(2)
    assert [alone.phase(t) for t in range(7)] == ["segment_init"] * 2 + ["segment"] * 5
    assert EMSchedule(450, 150, 300, 50).rounds() == {"after initialisation": 600, "after EM round 1": 900,
                                                      "after EM round 2": 1200}
    data = FaceFolder(tiny_set, "train", views=("clean", "occluded"))
    batch = torch.utils.data.default_collate([data[i] for i in range(2)])

    moved = {**batch, "coefficients": batch["coefficients"] + 0.5}

    def losses(oracle: bool, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """S's loss at ``step``, then with R's weights moved, then with the true coefficients moved."""
        m = FOCUS(ict, enc, schedule=alone if oracle else EMSchedule(0, 2, 4, 3), unet_width=4, oracle=oracle)
        m.train_mode(True)
        first = m.train_step(batch, step)["segmentation"].detach()
        with torch.no_grad():
            for p in m.nets["encoder"].parameters():
                p.add_(0.5)
        return first, m.train_step(batch, step)["segmentation"].detach(), m.train_step(moved, step)["segmentation"].detach()

    for step in (0, 3):  # the initialisation on the preliminary masks, then S's own loss
        first, r_moved, truth_moved = losses(oracle=True, step=step)
        assert torch.equal(first, r_moved) and not torch.equal(first, truth_moved)  # S sees the truth's render
        first, r_moved, truth_moved = losses(oracle=False, step=step)
        assert not torch.equal(first, r_moved) and torch.equal(r_moved, truth_moved)  # S sees R's render
    m = FOCUS(ict, enc, schedule=alone, unet_width=4, oracle=True)
    with pytest.raises(FacelibError, match="pass coeffs"):
        m.segment(batch["occluded"])
    with pytest.raises(FacelibError, match="no trained R"):
        m.predict(batch["occluded"])
    assert m.segment(batch["occluded"], batch["coefficients"]).shape == (2, 1, 64, 64)
    assert "oracle" not in _focus(ict).hyperparameters()["arguments"]  # runs trained before it still load
    assert m.hyperparameters()["arguments"]["oracle"] is True


def test_the_focus_oracle_experiment_scores_each_snapshot_of_both_preserve_weights(tmp_path, ict):
    """``python -m facelib mechanism focus`` at smoke: both arms, S scored after its initialisation and
    every ``every`` steps, beside the skin detector on the same pixels; the runs' logs copied."""
    from facelib import stats
    from facelib.data import synthetic
    from facelib.evaluation import mechanisms as M
    from facelib.experiments import focus_oracle

    rec = focus_oracle("smoke", segment_steps=4, every=2, folder=tmp_path / "runs", out=tmp_path / "focus.json",
                         logs=tmp_path / "logs")
    init = rec["schedule"]["init_segmentation"]
    assert list(rec["arms"]) == list(M.FOCUS_PRESERVE)
    verdicts = {stats.HOLDS, stats.FAILS, stats.UNDECIDED}
    for label, arm in rec["arms"].items():
        assert [e["step"] for e in arm["curve"]] == [init, init + 2, init + 4]
        assert (tmp_path / "logs" / f"focus-oracle-preserve-{M.FOCUS_PRESERVE[label]:g}.jsonl").is_file()
        for e in arm["curve"]:
            for view in M.FOCUS_VIEWS:
                cell = e[view]
                assert 0 <= cell["f1"]["estimate"] <= 1 and cell["f1_above_skin"] in verdicts
                skin = rec["skin_detector"][view]["estimate"]
                assert cell["f1_minus_skin"]["estimate"] == pytest.approx(cell["f1"]["estimate"] - skin)
    class EverythingFace:  # scored on the right pixels against the right truth: recall 1 in both views,
        model = ict       # precision 1 on clean faces (the truth is the whole rendered face), below on occluded

        def evaluating(self):
            return contextlib.nullcontext()

        def segment(self, images, coeffs):
            return torch.ones_like(images[:, :1])

    smoke_root = synthetic.default_root("smoke")
    ones = M.focus_summary(M.oracle_segmentation(EverythingFace(), smoke_root))
    assert ones["clean"]["tpr"]["estimate"] == 1 and ones["clean"]["ppv"]["estimate"] == 1
    assert ones["occluded"]["tpr"]["estimate"] == 1 and ones["occluded"]["ppv"]["estimate"] < 0.99
    a, b = (arm["curve"][-1]["occluded"]["f1"]["estimate"] for arm in rec["arms"].values())
    assert rec["paper_minus_code"]["occluded"]["f1"]["estimate"] == pytest.approx(b - a)
    assert json.loads((tmp_path / "focus.json").read_text()) == rec
    assert M.focus_markdown(rec).count("\n") == 2 + 3 * len(M.FOCUS_PRESERVE)


def test_arms_on_validation_pair_each_arm_with_the_reference_on_validation_faces(tmp_path_factory, ict):
    """A departure's arms are scored on the validation split: the true coefficients are better than the
    mean face on shape and landmarks (holds, identities resampled), the reference against itself is 0."""
    from facelib.evaluation import mechanisms as M
    from facelib.evaluation.runner import ground_truth_predictor, mean_face_predictor

    root = tiny_synthetic_set(tmp_path_factory, ict, "arms", seed=5, identities=50, variants=2)
    arms = {"mean face": mean_face_predictor(ict), "truth": ground_truth_predictor(root, split="val")}
    rec = M.arms_on_validation(arms, root, "mean face", metrics=("shape_v2v_mm", "landmark_me"))
    assert rec["split"] == "val" and rec["identities"] == 5 and rec["faces"] == 10
    for view in ("clean", "occluded"):
        for m in ("shape_v2v_mm", "landmark_me"):
            truth, mean = rec["arms"]["truth"][view][m], rec["arms"]["mean face"][view][m]
            assert truth["minus_reference"]["estimate"] < 0 and truth["better"] == "holds"
            assert mean["minus_reference"]["estimate"] == 0 and mean["better"] != "holds"
    table = M.arms_markdown(rec, metrics=("shape_v2v_mm", "landmark_me"))
    assert "| truth |" in table and "better: holds" in table
    with pytest.raises(Exception, match="reference arm"):
        M.arms_on_validation(arms, root, "neither")


def test_the_committed_focus_oracle_record_agrees_with_itself():
    """``results/mechanisms/focus-cpu.json``: each snapshot's F1 above the skin detector's is S's F1
    less the detector's, each verdict follows from its interval, and both arms start from the same
    initialisation (the preserve weight acts only in S's own loss)."""
    from facelib import stats
    from facelib.evaluation import mechanisms as M
    from facelib.results import project_root

    rec = json.loads((project_root() / "results" / "mechanisms" / "focus-cpu.json").read_text())
    assert (rec["faces"], rec["identities"]) == (400, 50) and list(rec["arms"]) == list(M.FOCUS_PRESERVE)
    firsts = [arm["curve"][0] for arm in rec["arms"].values()]
    assert firsts[0]["segment_steps"] == 0 and firsts[0]["occluded"] == firsts[1]["occluded"]
    for arm in rec["arms"].values():
        for e in arm["curve"]:
            for view in M.FOCUS_VIEWS:
                c = e[view]
                assert c["f1_minus_skin"]["estimate"] == pytest.approx(
                    c["f1"]["estimate"] - rec["skin_detector"][view]["estimate"])
                assert c["f1_above_skin"] == stats.verdict(stats.Interval(**c["f1_minus_skin"]), 0.0, "above")
                assert c["recall_kept"] == stats.verdict(stats.Interval(**c["tpr"]), M.FOCUS_RECALL, "above")


def test_the_skin_detector_control_keeps_the_method_s_coefficients_and_swaps_its_mask(ict, tiny_set):
    """``mechanisms.SkinDetected``: FOCUS's R with Deep3D's skin detector in place of S."""
    from facelib.data.folder import FaceFolder
    from facelib.evaluation import mechanisms as M
    from facelib.methods.rnet import RNet

    data = FaceFolder(tiny_set, "val", views=("occluded",))
    images = torch.stack([data[i]["occluded"] for i in range(2)])
    m = _focus(ict)
    pred, own = M.SkinDetected(m).predict(images), m.predict(images)
    assert torch.equal(pred.coefficients, own.coefficients) and torch.equal(pred.mask, RNet.segment(images))
    assert not torch.equal(pred.mask, own.mask)
