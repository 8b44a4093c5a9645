"""ORN: the SOPI and MOPI losses on known values, on-line occlusion, the two networks' contracts
(teacher labels, heads, ablation configurations), distillation learning on a tiny set, the ORN
evaluation conditions, the colour-invariance numbers, the paper-beside-ours tables and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from toys import tiny_synthetic_set

from facelib import cli, losses, metrics, occlusion
from facelib import train as T
from facelib.errors import FacelibError
from facelib.evaluation import runner as evaluate
from facelib.evaluation.protocols import orn as orn_protocol
from facelib.evaluation.reports import orn as reports
from facelib.methods.base import Method
from facelib.methods.orn import MOPI, MOPI_WEIGHTS, SOPI, VARIANTS
from facelib.methods.regressor import EncoderConfig
from facelib.methods.rnet import RNet
from facelib.render import Renderer
from facelib.sampling import random_coefficients

TINY = EncoderConfig("resnet_tiny", 64, lr=1e-3)


@pytest.fixture(scope="module")
def batch(ict):
    c = random_coefficients(ict, 4, torch.Generator().manual_seed(6))
    out = Renderer(ict, 64)(c, background=torch.full((4, 3, 64, 64), 0.5))
    return {"clean": out.image.clamp(0, 1).detach(), "landmarks68": out.landmarks.detach(),
            "coefficients": c, "index": torch.arange(4)}


def _teacher(ict, seed: int = 3) -> RNet:
    """A tiny R-Net whose head is not zero, so its labels depend on the image."""
    t = RNet(ict, EncoderConfig("resnet_tiny", 64, seed=seed), embedder=None)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        head = t.nets["encoder"].head
        head.weight.copy_(0.05 * torch.randn(head.weight.shape, generator=g))
    t.train_mode(False)
    return t


# --------------------------------------------------------------------------- losses

def test_squared_and_absolute_error_losses_known_values():
    a, b = torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[1.0, 0.0, 3.0, 5.0]])
    assert losses.squared_error_loss(a, b) == pytest.approx((4 + 1) / 4)
    assert losses.absolute_error_loss(a, b) == pytest.approx((2 + 1) / 4)


def test_multi_occlusion_perceptual_loss_is_zero_for_alike_features_and_half_for_orthogonal():
    same = torch.tensor([[[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]]])  # parallel, different lengths
    assert losses.multi_occlusion_perceptual_loss(same) == pytest.approx(0.0, abs=1e-6)
    ortho = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # ‖f1+f2‖² / (‖f1‖+‖f2‖)² = 2/4
    assert losses.multi_occlusion_perceptual_loss(ortho) == pytest.approx(0.5)
    opposite = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])
    assert losses.multi_occlusion_perceptual_loss(opposite) == pytest.approx(1.0)
    f = torch.randn(3, VARIANTS, 8, requires_grad=True)
    losses.multi_occlusion_perceptual_loss(f).backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_label_is_the_candidate_whose_render_looks_most_like_the_clean_face():
    candidates = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    clean = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    feats = torch.tensor([[[0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]],     # group 0: candidate 1 is closest
                          [[1.0, 0.0], [1.0, 1.0], [0.1, 2.0]]])     # group 1: candidate 2 is closest
    label = losses.select_label(candidates, feats, clean)
    assert torch.equal(label, torch.stack([candidates[0, 1], candidates[1, 2]]))
    pred = label[:, None].repeat(1, 3, 1).clone()
    pred[0, 0, 0] += 3.0
    pred[1, 2, 1] -= 4.0
    assert losses.label_loss(label, pred) == pytest.approx((3.0 + 4.0) / 2)
    pred.requires_grad_(True)
    losses.label_loss(label, pred).backward()  # exact matches (zero norms) give zero, not NaN, gradients
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 1].abs().sum() == 0


def test_albedo_colour_change_known_values(ict):
    lay = ict.layout
    clean = torch.zeros(2, lay.total)
    same = clean[None].repeat(3, 1, 1)
    out = metrics.albedo_colour_change(ict, same, clean)
    assert out["change"].abs().max() < 1e-7 and out["spread"].abs().max() < 1e-7
    moved = same.clone()
    moved[1, :, lay.slices()["tex"]] = 1.0  # one colour changes the skin tone
    out = metrics.albedo_colour_change(ict, moved, clean)
    assert out["change"][0].abs().max() < 1e-7 and (out["change"][1] > 0.01).all()
    # spread = mean over colours of the distance to the mean tone: (2·d/3 + d/3 + d/3 ... ) = 4d/9
    d = out["change"][1]
    assert torch.allclose(out["spread"], 4 * d / 9, rtol=1e-5)


# --------------------------------------------------------------------------- on-line occlusion

def test_occlude_batch_is_fixed_by_the_seeds(batch):
    a = occlusion.occlude_batch(batch["clean"], batch["landmarks68"], occlusion.ORN, [1, 2, 3, 4])
    b = occlusion.occlude_batch(batch["clean"], batch["landmarks68"], occlusion.ORN, [1, 2, 3, 4])
    c = occlusion.occlude_batch(batch["clean"], batch["landmarks68"], occlusion.ORN, [5, 6, 7, 8])
    assert torch.equal(a.images, b.images) and a.kinds == b.kinds and not torch.equal(a.images, c.images)
    assert all(k in occlusion.ORN for k in a.kinds) and (a.alpha.flatten(1).amax(1) > 0).all()
    changed = (a.images - batch["clean"]).abs().sum(1, keepdim=True) > 1e-6
    assert not (changed & (a.alpha == 0)).any()  # only the occluder's pixels change
    clean = occlusion.occlude_batch(batch["clean"], batch["landmarks68"], occlusion.ORN, [1, 2, 3, 4], p_clean=1.0)
    assert torch.equal(clean.images, batch["clean"]) and clean.kinds == ["clean"] * 4
    red = occlusion.occlude_batch(batch["clean"], batch["landmarks68"], ("shofi",), [9] * 4, colour=(1.0, 0.0, 0.0))
    full = red.alpha[:, 0] == 1
    assert full.any() and torch.allclose(red.images.permute(0, 2, 3, 1)[full], torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(FacelibError, match="unknown occluders"):
        occlusion.occlude_batch(batch["clean"], batch["landmarks68"], ("scarf",), [1, 2, 3, 4])


# --------------------------------------------------------------------------- SOPI and MOPI

def test_sopi_regresses_the_frozen_teachers_labels_of_the_clean_face(ict, batch):
    teacher = _teacher(ict)
    sopi = SOPI(ict, TINY, teacher, p_clean=0.0)
    torch.manual_seed(0)
    out = sopi.train_step(batch, 0)
    labels = teacher.predict(batch["clean"]).coefficients
    # the trainee starts at the mean face (zero head): Eq. (6) is then the mean square of the labels
    assert out["total"].item() == pytest.approx(labels.square().mean().item(), rel=1e-5)
    out["total"].backward()
    assert all(p.grad is None for p in sopi.fixed["teacher"].parameters())
    assert sopi.nets["encoder"].head.bias.grad.abs().sum() > 0
    recorded = sopi.hyperparameters()["arguments"]
    assert recorded["teacher"]["method"] == "rnet" and recorded["loss"] == "se" and recorded["p_clean"] == 0.0
    l1 = SOPI(ict, TINY, teacher, loss="l1", p_clean=0.0)
    torch.manual_seed(0)
    assert l1.train_step(batch, 0)["total"].item() == pytest.approx(labels.abs().mean().item(), rel=1e-5)
    with pytest.raises(FacelibError, match="unknown SOPI loss"):
        SOPI(ict, TINY, teacher, loss="huber")


def test_sopi_taught_by_the_truth_regresses_the_true_coefficients_and_has_no_teacher(ict, batch):
    """Issue 35's mechanism arm: ``labels="truth"`` is SOPI with a perfect teacher; the paper's
    default stays out of the run signature, so SOPI runs trained before the option still load."""
    truth = SOPI(ict, TINY, None, p_clean=0.0, labels="truth")
    torch.manual_seed(0)
    out = truth.train_step(batch, 0)
    # from the mean face (zero head), Eq. (6) against the true coefficients is their mean square
    assert out["total"].item() == pytest.approx(batch["coefficients"].square().mean().item(), rel=1e-5)
    assert truth.hyperparameters()["arguments"]["labels"] == "truth"
    assert "labels" not in SOPI(ict, TINY, _teacher(ict)).hyperparameters()["arguments"]
    with pytest.raises(FacelibError, match="has no teacher"):
        SOPI(ict, TINY, _teacher(ict), labels="truth")
    with pytest.raises(FacelibError, match="unknown SOPI labels"):
        SOPI(ict, TINY, None, labels="oracle")
    with pytest.raises(FacelibError, match="needs a training set with true coefficients"):
        truth.train_step({k: v for k, v in batch.items() if k != "coefficients"}, 0)


def test_sopi_distils_the_teacher_through_occluders(ict, batch, tmp_path):
    """60 steps on 4 faces: on occluded inputs the trainee's distance to the teacher's clean labels
    falls to a fraction of the mean face's."""

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in batch.items()}

    teacher = _teacher(ict)
    sopi = SOPI(ict, TINY, teacher)
    labels = teacher.predict(batch["clean"]).coefficients
    occluded = occlusion.occlude_batch(batch["clean"], batch["landmarks68"], ("dhofi", "shofi"), [11, 12, 13, 14]).images
    before = losses.squared_error_loss(labels, sopi.predict(occluded).coefficients).item()
    T.train(sopi, Repeat(), tmp_path, T.TrainConfig(steps=60, batch_size=4, log_every=20), progress=False)
    after = losses.squared_error_loss(labels, sopi.predict(occluded).coefficients).item()
    assert after < 0.35 * before, (before, after)


def test_mopi_reads_head_j_for_image_j_and_predicts_their_mean(ict, batch):
    mopi = MOPI(ict, TINY, None, losses_used=("perceptual",), variants=3, embedder="dlib", init_from_sopi=False)
    p = ict.layout.total
    with torch.no_grad():
        mopi.nets["encoder"].head.bias.copy_(0.25 * torch.arange(3).repeat_interleave(p).float())
    heads = mopi.heads(batch["clean"])
    assert heads.shape == (4, 3, p) and torch.equal(heads[:, 2], torch.full((4, p), 0.5))
    assert torch.equal(mopi.predict(batch["clean"]).coefficients, torch.full((4, p), 0.25))
    assert mopi.batch_items(16) == 5
    assert MOPI(ict, TINY, None, losses_used="perceptual", init_from_sopi=False).batch_items(16) == 2


def test_mopi_starts_where_sopi_ends(ict, batch):
    sopi = SOPI(ict, TINY, _teacher(ict))
    with torch.no_grad():
        sopi.nets["encoder"].head.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))
    mopi = MOPI(ict, TINY, sopi, variants=3)
    mopi.train_mode(False)
    heads = mopi.heads(batch["clean"])
    assert torch.allclose(heads, sopi.predict(batch["clean"]).coefficients[:, None].expand_as(heads), atol=1e-6)
    recorded = mopi.hyperparameters()["arguments"]
    assert recorded["init_from_sopi"] and recorded["sopi"]["method"] == "sopi" and recorded["variants"] == 3
    mopi.train_mode(True)  # fine-tuning keeps SOPI's BatchNorm statistics
    bns = [m for m in mopi.nets["encoder"].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns) and mopi.nets["encoder"].training
    before = bns[0].running_mean.clone()
    mopi.train_step({k: v[:2] for k, v in batch.items()}, 0)
    assert torch.equal(bns[0].running_mean, before)
    from facelib import methods, profile

    assert methods.build("mopi", ict, profile.resolve("smoke"), sopi=sopi).encoder_config.lr == 1e-5
    with pytest.raises(FacelibError, match="backbone"):
        MOPI(ict, EncoderConfig("resnet18", 64), sopi)


def test_mopi_starts_from_a_sopi_whose_identity_is_read_from_the_chip(ict, batch):
    """With an identity reader (cpu and gpu profiles) the coefficient head sits at ``encoder.head``:
    MOPI repeats that head for every variant and shares the reader; the heads' gradient norms reach it."""
    reading = EncoderConfig("resnet_tiny", 64, lr=1e-3, identity="dlib")
    sopi = SOPI(ict, reading, _teacher(ict))
    with torch.no_grad():
        sopi.nets["encoder"].head.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))
        sopi.nets["encoder"].reader.head.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(4))
    mopi = MOPI(ict, reading, sopi, variants=3)
    mopi.train_mode(False)
    heads = mopi.heads(batch["clean"])
    assert torch.allclose(heads, sopi.predict(batch["clean"]).coefficients[:, None].expand_as(heads), atol=1e-5)
    mopi.train_mode(True)
    out = mopi.train_step({k: v[:2] for k, v in batch.items()}, 0)
    assert out["grad_perceptual"] > 0 and out["grad_label"] > 0
    with pytest.raises(FacelibError, match="same reader"):
        MOPI(ict, TINY, sopi, variants=3)


def test_mopi_composite_loss_and_its_ablation_configurations(ict, batch):
    teacher = _teacher(ict)
    sopi = SOPI(ict, TINY, teacher)
    with torch.no_grad():  # a SOPI that predicts something other than the mean face
        sopi.nets["encoder"].head.weight.copy_(teacher.nets["encoder"].head.weight)
    two = {k: v[:2] for k, v in batch.items()}
    for used in [("perceptual", "label"), ("label",), ("perceptual",)]:
        mopi = MOPI(ict, TINY, sopi if "label" in used else None,
                    losses_used=used, variants=3, init_from_sopi=False)
        assert mopi.weights == {k: MOPI_WEIGHTS[k] for k in MOPI_WEIGHTS if k in used}
        torch.manual_seed(1)
        out = mopi.train_step(two, 0)  # the first step also logs each term's gradient norm at the heads
        assert set(out) == {"total", *used, *(f"grad_{k}" for k in used)}
        assert all(out[f"grad_{k}"] > 0 for k in used)
        assert out["total"].item() == pytest.approx(sum(MOPI_WEIGHTS[k] * out[k].item() for k in used), rel=1e-5)
        out["total"].backward()
        grad = mopi.nets["encoder"].head.weight.grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        if "label" in used:  # the mean face is far from SOPI's labels: Σ_j ‖v_s − v_m^j‖ > 0
            assert out["label"].item() > 0.1
    with pytest.raises(FacelibError, match="built without a SOPI"):  # for prediction only
        MOPI(ict, TINY, None, losses_used=("label",), init_from_sopi=False).train_step(two, 0)
    with pytest.raises(FacelibError, match="built without a SOPI"):
        MOPI(ict, TINY, None, losses_used=("perceptual",)).train_step(two, 0)
    with pytest.raises(FacelibError, match="built without a teacher"):
        SOPI(ict, TINY, None).train_step(two, 0)
    with pytest.raises(FacelibError, match="subset"):
        MOPI(ict, TINY, None, losses_used=("style",))


# --------------------------------------------------------------------------- evaluation and tables

@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, ict):
    return tiny_synthetic_set(tmp_path_factory, ict, "orn", seed=2)


def test_occlusion_conditions_show_every_method_the_same_occluders(tiny_set, ict):
    seen = []

    def recorder(images):
        seen.append(images.clone())
        return torch.zeros(len(images), ict.layout.total)

    conds = {"unoccluded": (), "dhofi": ("dhofi",)}
    first = evaluate.occlusion_conditions(recorder, tiny_set, conds, model=ict)
    n = len(seen)
    second = evaluate.occlusion_conditions(recorder, tiny_set, conds, model=ict)
    assert all(torch.equal(a, b) for a, b in zip(seen[:n], seen[n:], strict=True))
    assert not torch.equal(seen[0], seen[1])  # the dhofi images differ from the clean ones
    assert first == second and first["images"] == 3
    assert set(first) == {"unoccluded", "dhofi", "images"}
    assert set(first["dhofi"]) >= {"landmark_me", "landmark_mse_x", "landmark_mse_y", "histogram_dissimilarity"}
    # the truth on clean faces: zero landmark error, the same number as the full runner reports
    truth = evaluate.ground_truth_predictor(tiny_set, "test")
    exact = evaluate.occlusion_conditions(truth, tiny_set, {"unoccluded": ()}, model=ict)
    assert exact["unoccluded"]["landmark_me"]["mean"] == pytest.approx(0.0, abs=1e-3)
    full = evaluate.evaluate(truth, tiny_set, method="truth", chapter="t", profile="smoke", views=("clean",),
                             embedders=(), write=False, model=ict)
    assert exact["unoccluded"]["histogram_dissimilarity"]["mean"] == pytest.approx(
        full["views"]["clean"]["histogram_dissimilarity"]["mean"], rel=1e-6)


def test_colour_sweep_is_zero_for_a_colour_blind_predictor_and_not_for_a_fooled_one(tiny_set, ict):
    tex = ict.layout.slices()["tex"]

    def blind(images):
        return torch.zeros(len(images), ict.layout.total)

    def fooled(images):  # the skin tone follows the image's mean colour
        c = torch.zeros(len(images), ict.layout.total)
        c[:, tex.start] = 10 * images.mean((1, 2, 3))
        return c

    a = orn_protocol.colour_sweep(blind, tiny_set, model=ict)
    b = orn_protocol.colour_sweep(fooled, tiny_set, model=ict)
    assert a["spread"]["mean"] == pytest.approx(0.0, abs=1e-7) and set(a["change"]) == set(orn_protocol.SWEEP_COLOURS)
    assert b["spread"]["mean"] > 1e-3 and b["change"]["white"]["mean"] > b["change"]["grey"]["mean"]


def test_orn_tables_print_the_paper_beside_ours():
    def s(v):
        return {"mean": v, "std": 0.0, "median": v, "n": 1}

    cond = {c: {"landmark_me": s(me), "landmark_mse_x": s(2.0), "landmark_mse_y": s(1.0),
                "histogram_dissimilarity": s(0.5)} for c, me in
            [("unoccluded", 4.0), ("dsofi", 4.4), ("dhofi", 5.0), ("shofi", 6.0), ("random", 8.0), ("natural", 5.0)]}
    m = {k: {"conditions": cond, "photos": {"unoccluded": cond["unoccluded"], "natural": cond["natural"]}}
         for k in ("rnet", "sopi", "mopi", "mopi_label", "mopi_perceptual")}
    t1 = reports.landmark_table(m)
    assert "| DHOFI | 5.00 (+25 %) |" in t1 and "1.26 (+2 %)" in t1 and reports.NO_RESULT in t1
    assert "(3.25, 1.66)" in t1
    assert "7.98 (+68 %)" in reports.histogram_table(m)
    real = reports.real_table(m)
    assert "| R-Net | 5.00 (+25 %) |" in real and "5.84" in real and "0.77" in real
    assert "7.91" in reports.random_table(m) and "| SOPI | 8.00 (+100 %) | (2.0, 1.0) |" in reports.random_table(m)
    ab = reports.ablation_table(m)
    assert "| ✓ |  | 8.00 (+100 %) | (2.0, 1.0) | 41.00 | (32.84, 23.97) |" in ab


def test_orn_cli_names_the_missing_teacher_and_trains_from_a_finished_one(tmp_path, tiny_set, ict):
    base = ["--profile", "smoke", "--root", str(tiny_set), "--quiet", "--steps", "2"]
    with pytest.raises(FacelibError, match="--method rnet --profile smoke"):
        cli.main(["train", "--method", "sopi", "--teacher", str(tmp_path / "none"), "--run-dir", str(tmp_path / "s")] + base)
    assert cli.main(["train", "--method", "rnet", "--run-dir", str(tmp_path / "r")] + base) == 0
    assert cli.main(["train", "--method", "sopi", "--teacher", str(tmp_path / "r"), "--run-dir", str(tmp_path / "s"),
                   "--set", "loss=l1"] + base) == 0
    log = T.read_log(tmp_path / "s")
    assert "l1" in log[-1].get("losses", log[-2].get("losses", {}))
    assert cli.main(["train", "--method", "mopi", "--teacher", str(tmp_path / "s"), "--run-dir", str(tmp_path / "m"),
                   "--set", "losses_used=label"] + base) == 0
    assert T.load_checkpoint(tmp_path / "m" / T.CHECKPOINT)["finished"]
    assert json.loads(json.dumps(T.read_log(tmp_path / "m")))  # the log is plain JSON


def test_reconstruction_grid_has_a_row_per_image_and_a_column_per_method(ict, batch):
    from facelib import viz

    sopi = SOPI(ict, TINY, _teacher(ict))
    fig = viz.reconstructions(batch["clean"][:3], {"R-Net": _teacher(ict), "SOPI": sopi}, titles=["a", "b", "c"])
    assert len(fig.data) == 3 * 3
    texts = [a.text for a in fig.layout.annotations]
    assert texts[:3] == ["a: input", "R-Net", "SOPI"] and "b" in texts and "c" in texts


def test_photo_conditions_put_every_natural_occluder_on_every_photo(tiny_set, ict):
    from facelib.data.folder import FaceFolder
    from facelib.data.miniset import AlignedPhotos

    items = [FaceFolder(tiny_set, "test", views=("clean",))[i] for i in range(3)]
    photos = AlignedPhotos(torch.stack([x["clean"] for x in items]), torch.stack([x["landmarks68"] for x in items]),
                           ["a", "b", "c"])
    seen = []

    def zeros(images):
        seen.append(images)
        return torch.zeros(len(images), ict.layout.total)

    out = orn_protocol.photo_conditions(zeros, photos, ict, kinds=("sunglasses", "hand"))
    assert out["unoccluded"]["landmark_me"]["n"] == 3 and out["natural"]["landmark_me"]["n"] == 6
    assert out["occluders"] == ["sunglasses", "hand"] and len(seen) == 3
    assert torch.equal(seen[0], photos.images) and not torch.equal(seen[1], seen[2])
    # the mean face is as wrong on an occluded photo as on the clean one: it ignores the image
    assert out["natural"]["landmark_me"]["mean"] == pytest.approx(out["unoccluded"]["landmark_me"]["mean"], rel=1e-6)


def test_label_choice_reports_the_chosen_best_and_mean_candidate(tiny_set, ict):

    teacher = _teacher(ict)
    sopi = SOPI(ict, TINY, teacher)
    with torch.no_grad():
        sopi.nets["encoder"].head.weight.copy_(teacher.nets["encoder"].head.weight)
    mopi = MOPI(ict, TINY, sopi, variants=3)
    q = orn_protocol.label_choice(mopi, tiny_set, batch_size=2)
    assert q["faces"] == 3 and q["chance"] == pytest.approx(1 / 3) and len(q["per_face"]["chosen"]) == 3
    # known answers: candidates = the true coefficients, all but one shifted sideways by growing amounts
    truth = evaluate.ground_truth_predictor(tiny_set, "test")
    x = ict.layout.slices()["trans"].start

    def candidates(pick):
        def stub(self, clean, landmarks, occluded):
            v_s = truth(clean)[:, None].repeat(1, self.variants, 1)
            v_s[:, :, x] += 0.05 * torch.tensor([0.0, 1.0, 2.0])  # candidate 0 is exact, 2 the worst
            chosen = torch.full((len(clean),), pick)
            return {"v_s": v_s, "chosen": chosen, "label": v_s[:, pick]}
        return stub

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MOPI, "label_candidates", candidates(0))
        right = orn_protocol.label_choice(mopi, tiny_set)
        mp.setattr(MOPI, "label_candidates", candidates(2))
        wrong = orn_protocol.label_choice(mopi, tiny_set)
    assert right["p_best"] == 1.0 and right["chosen"]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert right["best"]["mean"] == right["chosen"]["mean"] and right["mean"]["mean"] > 1.0
    assert wrong["p_best"] == 0.0 and wrong["chosen"]["mean"] > right["mean"]["mean"] > wrong["best"]["mean"]
    again = orn_protocol.label_choice(mopi, tiny_set, batch_size=3)  # occluders seeded per face, not per batch
    assert again["p_best"] == q["p_best"]
    assert all(again[k]["mean"] == pytest.approx(q[k]["mean"], rel=1e-5) for k in ("chosen", "best", "mean"))
    with pytest.raises(FacelibError, match="no SOPI labels"):
        orn_protocol.label_choice(MOPI(ict, TINY, sopi, losses_used="perceptual"), tiny_set)


def test_sopi_and_mopi_remember_the_clean_faces_labels_and_features_without_changing_training(ict):
    c = random_coefficients(ict, 6, torch.Generator().manual_seed(8))
    out = Renderer(ict, 64)(c, background=torch.full((6, 3, 64, 64), 0.5))
    pool = {"clean": out.image.clamp(0, 1).detach(), "landmarks68": out.landmarks.detach(), "index": torch.arange(6)}
    teacher = _teacher(ict)
    for build, orders, kept in (
            (lambda: SOPI(ict, TINY, teacher, p_clean=0.5), [[0, 1, 2], [3, 4, 5], [4, 0, 2], [1, 5, 3]],
             {"teacher_labels": 6}),
            (lambda: MOPI(ict, TINY, SOPI(ict, TINY, teacher), variants=3), [[0, 1], [2, 3], [1, 2], [3, 0]],
             {"input_features": 4})):
        runs = {}
        for budget in (0, Method.memory_budget):
            torch.manual_seed(0)  # the occluders are drawn from the global stream
            m = build()
            m.memory_budget = budget
            m.train_mode(True)
            for step, order in enumerate(orders):
                T.optimisation_step(m, {k: v[order] for k, v in pool.items()}, step)
            runs[budget] = m
        assert {k: len(v["rows"]) for k, v in runs[Method.memory_budget]._memory.items()} == kept
        a, b = (r.nets["encoder"].state_dict() for r in runs.values())
        assert all(torch.equal(a[k], b[k]) for k in a), type(runs[0]).__name__


def test_orn_claims_state_the_papers_comparisons_with_r_net_on_the_same_faces():
    """ORN's Tables 2-6 as computed verdicts from chapter 6's committed conditions: each is the
    method's mean against R-Net's on the same faces (per cent), its verdict read off its interval,
    and each is declared for chapter 10's controls (STORED_CLAIMS)."""
    import numpy as np

    from facelib import stats
    from facelib.evaluation import claims as C
    from facelib.results import project_root

    m = json.loads((project_root() / "results" / "06_orn" / "cpu" / "metrics.json").read_text())["metrics"]
    out = orn_protocol.claims(m)
    expected = {"sopi_hist_below_rnet_dsofi": ("sopi", "dsofi", "histogram_dissimilarity"),
                "sopi_hist_below_rnet_dhofi": ("sopi", "dhofi", "histogram_dissimilarity"),
                "sopi_below_rnet_natural": ("sopi", "natural", "landmark_me"),
                "sopi_hist_below_rnet_natural": ("sopi", "natural", "histogram_dissimilarity"),
                "mopi_below_rnet_random": ("mopi", "random", "landmark_me"),
                "mopi_hist_below_rnet_random": ("mopi", "random", "histogram_dissimilarity")}
    for key, (method, cond, metric) in expected.items():
        a = np.mean(m[method]["conditions"][cond]["per_face"][metric])
        b = np.mean(m["rnet"]["conditions"][cond]["per_face"][metric])
        claim = out[key]
        assert claim.interval.estimate == pytest.approx(100 * (a / b - 1), rel=1e-6), key
        iv = claim.interval  # below 0: holds when the whole interval is below, fails when it is above
        assert claim.verdict == (stats.HOLDS if iv.high < 0 else stats.FAILS if iv.low > 0 else stats.UNDECIDED)
        assert ("06_orn", key) in C.STORED_CLAIMS
    assert "mopi_below_rnet_random" not in orn_protocol.claims({k: v for k, v in m.items() if k != "rnet"})


def test_perceptual_only_reading_follows_where_the_run_put_the_face():
    def framing(off, offset):
        return {"off_frame": off, "centre_offset": {"mean": offset}}

    label = framing(0.0, 1.7)
    assert "out of the picture" in reports.perceptual_only_reading(framing(0.9, 80.0), label)
    slid = reports.perceptual_only_reading(framing(0.0, 30.5), label)  # the cpu run on the stand-in base
    assert "slides off" in slid and "18 times" in slid
    assert "stays about where" in reports.perceptual_only_reading(framing(0.0, 4.0), label)  # under 5 px: not a slide
    assert "stays about where" in reports.perceptual_only_reading(framing(0.2, 4.0), framing(0.0, 2.0))
