"""ROGUE (facelib.methods.rogue, facelib.losses.rogue): each equation on known values, the
direction of the adversarial game, and training through the one loop with both players resumed."""

import pytest
import torch
from toys import interrupting, tiny_synthetic_set

from facelib import train as T
from facelib.data.folder import FaceFolder
from facelib.errors import FacelibError
from facelib.losses import rogue as L
from facelib.methods.regressor import EncoderConfig
from facelib.methods.rogue import GUIDANCE_WEIGHTS, ROGUE

TINY = EncoderConfig("resnet_tiny", 64, lr=1e-3, seed=0)


def test_guidance_regularizer_is_a_weighted_sum_of_norms():
    c = {"id": torch.tensor([[3.0, 4.0]]), "tex": torch.tensor([[0.0, 2.0]]), "exp": torch.tensor([[1.0, 0.0]])}
    assert float(L.guidance_regularizer(c, w_s=1.0, w_t=0.5, w_e=2.0)) == pytest.approx(5.0 + 0.5 * 2.0 + 2.0 * 1.0)
    # the batch mean, and norms (not squares): doubling a vector doubles its term
    c2 = {k: torch.cat([v, 2 * v]) for k, v in c.items()}
    assert float(L.guidance_regularizer(c2, 1.0, 0.5, 2.0)) == pytest.approx(1.5 * 8.0)


def test_adversarial_consistency_is_the_huber_loss_against_the_labels():
    perfect = L.adversarial_consistency_loss(torch.ones(3, 1), torch.zeros(3, 1), 1.0, 0.0)
    assert float(perfect) == 0.0
    half = L.adversarial_consistency_loss(torch.full((2, 1), 0.5), torch.full((2, 1), 0.5), 1.0, 0.0)
    assert float(half) == pytest.approx(0.5 * 0.5**2)  # Huber inside delta: x²/2
    far = L.adversarial_consistency_loss(torch.full((1, 1), 4.0), torch.full((1, 1), 0.0), 1.0, 0.0)
    assert float(far) == pytest.approx((3.0 - 0.5) / 2)  # beyond delta: |x| - 1/2, averaged with the 0


def test_robust_objective_and_resistive_terms():
    assert float(L.robust_objective(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(5.0), 1.0, 0.5, 0.2)) == \
        pytest.approx(2.0 + 1.5 - 1.0)
    img = torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    assert float(L.resistive_photometric_loss(img, img, mask)) == pytest.approx(1e-3, rel=1e-3)  # sqrt(eps)
    other = img.clone()
    other[..., 2:6, 2:6] += 0.3  # 0.3 on each of 3 channels inside the mask
    assert float(L.resistive_photometric_loss(other, img, mask)) == pytest.approx(0.3 * 3**0.5, rel=1e-3)
    other[..., 0, 0] += 5.0  # outside the rendered face: not counted
    assert float(L.resistive_photometric_loss(other, img, mask)) == pytest.approx(0.3 * 3**0.5, rel=1e-3)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, ict):
    return tiny_synthetic_set(tmp_path_factory, ict, "rogue", seed=3)


def _batch(root, n=4):
    data = FaceFolder(root, "train", views=ROGUE.views)
    return torch.utils.data.default_collate([data[i] for i in range(n)])


def test_the_encoder_and_the_discriminator_pull_the_discriminator_output_opposite_ways(ict, tiny_set):
    batch = _batch(tiny_set)
    m = ROGUE(ict, TINY, embedder=None, guidance={k: 0.0 for k in ("landmark", "photometric", "regularizer")},
              robust={"occlusion": 0.0, "noise": 0.0, "consistency": 1.0})
    m.train_mode(True)
    d = m.nets["discriminator"]

    def d_occluded():
        with torch.no_grad():
            return float(d(m.encode(batch["occluded"])).mean())

    losses = m.train_step(batch, 0)
    assert set(losses) >= {"total", "discriminator", "guide", "robust", "occlusion", "noise", "consistency"}
    # the discriminator's loss reaches only the discriminator
    m.optimizers["encoder"].zero_grad(set_to_none=True)
    losses["discriminator"].backward()
    assert all(p.grad is None for p in m.nets["encoder"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())
    # an encoder step on -beta_C L_C makes occluded coefficients look more like guiding ones to D (label 1)
    before = d_occluded()
    opt = torch.optim.SGD(m.nets["encoder"].parameters(), lr=5.0)
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        m.train_step(batch, 0)["total"].backward()
        opt.step()
    assert d_occluded() > before
    # a discriminator step on L_C makes them look less so
    before = d_occluded()
    opt_d = torch.optim.SGD(d.parameters(), lr=5.0)
    for _ in range(3):
        opt_d.zero_grad(set_to_none=True)
        m.train_step(batch, 0)["discriminator"].backward()
        opt_d.step()
    assert d_occluded() < before


def test_rogue_trains_through_the_loop_and_an_interrupted_run_resumes_identically(ict, tiny_set, tmp_path):
    data = FaceFolder(tiny_set, "train", views=ROGUE.views)
    cfg = T.TrainConfig(steps=5, batch_size=2, log_every=1, checkpoint_every=2)
    straight = ROGUE(ict, TINY, embedder=None)
    T.train(straight, data, tmp_path / "a", cfg, progress=False)
    with pytest.raises(T.TrainingInterrupted):
        T.train(interrupting(ROGUE, 3)(ict, TINY, embedder=None), data, tmp_path / "b", cfg, progress=False)
    # a new process rebuilds the method and resumes from the checkpoint written at the interrupt
    resumed = ROGUE(ict, TINY, embedder=None)
    res = T.train(resumed, data, tmp_path / "b", cfg, progress=False)
    assert res.started_at == 3
    for net in ("encoder", "discriminator"):
        for (k, a), b in zip(straight.nets[net].state_dict().items(), resumed.nets[net].state_dict().values(),
                             strict=True):
            assert torch.equal(a, b), (net, k)
    for name in ("encoder", "discriminator"):
        sa, sb = straight.optimizers[name].state_dict()["state"], resumed.optimizers[name].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
    log = [e for e in res.log if "losses" in e]
    assert {"total", "discriminator", "consistency"} <= set(log[-1]["losses"])
    assert all(torch.isfinite(torch.tensor(v)) for e in log for v in e["losses"].values())


def test_robust_guidance_adds_the_prior_and_landmarks_of_c_o_and_c_n_with_their_alphas(ict, tiny_set):
    """Issue 35's departure: the guidance regulariser and landmark term also on ``C_O`` and ``C_N``,
    each weighted by its α; the paper's default leaves them out (and out of the run signature)."""
    from facelib import losses as FL

    batch = _batch(tiny_set)
    plain = ROGUE(ict, TINY, embedder=None)
    guided = ROGUE(ict, TINY, embedder=None, robust_guidance=("landmark", "regularizer"))
    for net in plain.nets:
        guided.nets[net].load_state_dict(plain.nets[net].state_dict())
    torch.manual_seed(0)
    a = plain.train_step(batch, 0)
    torch.manual_seed(0)
    b = guided.train_step(batch, 0)
    assert guided.robust_guidance == ("regularizer", "landmark")  # the declared order, whatever was passed
    n = len(batch["clean"])
    with torch.no_grad():
        c = guided.encode(torch.cat([batch["clean"], batch["occluded"], batch["noisy"]]))
        expected = 0.0
        for i, tag in ((1, "occluded"), (2, "noisy")):
            ci = c[i * n:(i + 1) * n]
            reg = L.guidance_regularizer(guided.layout.split(ci))
            lm = FL.landmark_loss(guided.renderer(ci, background=guided._input(batch["clean"])).landmarks,
                                 batch["landmarks68"], image_size=guided.image_size)
            assert float(b[f"regularizer_{tag}"]) == pytest.approx(float(reg), rel=1e-4)
            assert float(b[f"landmark_{tag}"]) == pytest.approx(float(lm), rel=1e-4)
            expected += GUIDANCE_WEIGHTS["regularizer"] * float(reg) + GUIDANCE_WEIGHTS["landmark"] * float(lm)
    assert float(b["robust"]) - float(a["robust"]) == pytest.approx(expected, rel=1e-3)
    assert "regularizer_occluded" not in a and "robust_guidance" not in plain.hyperparameters()["arguments"]
    for same in ([], None):  # the default however it is spelt: one run signature
        assert "robust_guidance" not in ROGUE(ict, TINY, embedder=None, robust_guidance=same).hyperparameters()["arguments"]
    assert (ROGUE(ict, TINY, embedder=None, robust_guidance=["landmark", "regularizer"]).hyperparameters()
            == guided.hyperparameters())
    with pytest.raises(FacelibError, match="robust_guidance takes any of"):
        ROGUE(ict, TINY, embedder=None, robust_guidance=("pixel",))


def test_unknown_weights_are_refused(ict):
    from facelib.errors import FacelibError

    with pytest.raises(FacelibError, match="unknown ROGUE weight"):
        ROGUE(ict, TINY, embedder=None, robust={"colour": 1.0})
    with pytest.raises(FacelibError, match="unknown ROGUE weight"):
        ROGUE(ict, TINY, embedder=None, guidance={"identity": 1.0})


def test_table1_groups_faces_by_their_occluder_and_pairs_methods_within_a_group(tiny_set):
    from facelib.evaluation.protocols import rogue as protocol
    from facelib.evaluation.reports import rogue as report

    faces = protocol.group_faces(tiny_set)
    kinds = FaceFolder(tiny_set, "test", views=("clean",)).annotations["occluder"]
    assert faces["noise"] == list(range(len(kinds)))
    for group in ("reachocc", "synchocc"):
        assert all(str(kinds[i]) in protocol.GROUPS[group][1] for i in faces[group])
    # a hand-made metrics dict: face i has perceptual error i (R-Net) and i/2 (ROGUE) on every view
    groups = {"reachocc": [0, 2], "synchocc": [1, 3], "noise": [0, 1, 2, 3]}
    metrics = {name: {"views": {v: {"faces": [0, 1, 2, 3], "per_face": {"perceptual_dlib": [s * i for i in range(4)]}}
                                for v in ("occluded", "noisy")}}
               for name, s in (("R-Net", 1.0), ("ROGUE", 0.5))}
    g = protocol.grouped(metrics, ["R-Net", "ROGUE"], groups)
    assert g["R-Net"]["views"]["synchocc"]["faces"] == [1, 3]
    assert g["R-Net"]["views"]["synchocc"]["perceptual_dlib"]["mean"] == pytest.approx(2.0)
    assert g["ROGUE"]["views"]["reachocc"]["per_face"]["perceptual_dlib"] == [0.0, 1.0]
    text = report.reductions(g, "ROGUE", ["R-Net"])
    assert "-50.0 % [-50.0, -50.0]" in text  # exactly half on every face
    assert "-9.8 %" in text  # the paper's ReaChOcc reduction over R-Net (FaceNet-512: 1.045 -> 0.943)
    assert "0.943 ± 0.187" in report.table1(g, ["R-Net", "ROGUE"])
