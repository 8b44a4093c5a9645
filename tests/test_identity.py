"""Issue 34's pieces: supervised pretraining (the stand-in), the identity read-out, identity-only v2v."""

from __future__ import annotations

import math

import pytest
import torch

from facelib import metrics as M
from facelib import train as T
from facelib.errors import FacelibError
from facelib.evaluation.identity import run_name
from facelib.losses.supervised import coefficient_loss, vertex_loss
from facelib.methods.pretrain import PRETRAIN_WEIGHTS, Pretrain
from facelib.methods.readout import IdentityReadout, ridge
from facelib.methods.regressor import EncoderConfig
from facelib.methods.rnet import RNet
from facelib.render import Renderer
from facelib.sampling import random_coefficients

TINY = EncoderConfig("resnet_tiny", 64, lr=1e-3)


@pytest.fixture(scope="module")
def batch(ict):
    c = random_coefficients(ict, 4, torch.Generator().manual_seed(4))
    out = Renderer(ict, 64)(c, background=torch.full((4, 3, 64, 64), 0.5))
    return {"clean": out.image.clamp(0, 1).detach(), "landmarks68": out.landmarks.detach(), "coefficients": c,
            "index": torch.arange(4)}


def test_vertex_loss_is_the_mean_distance_in_mm():
    a = torch.zeros(2, 5, 3)
    b = a.clone()
    b[..., 0] = 3.0
    b[..., 1] = 4.0  # every vertex 5 units away
    assert math.isclose(float(vertex_loss(a, b, mm_per_unit=10.0)), 50.0, rel_tol=1e-6)
    assert float(vertex_loss(a, a)) == 0.0
    assert math.isclose(float(coefficient_loss(torch.ones(2, 3), torch.zeros(2, 3))), 1.0)


def test_identity_v2v_scores_identity_apart_from_expression(ict):
    c = random_coefficients(ict, 3, torch.Generator().manual_seed(1))
    lay = ict.layout
    other_exp = lay.join({**lay.split(c), "exp": lay.split(c)["exp"].roll(1, 0)})
    mean_id = lay.join({**lay.split(c), "id": torch.zeros(3, lay.id)})
    assert float(M.identity_v2v(ict, other_exp, c).max()) < 1e-4  # right person, wrong expression: 0
    assert float(M.shape_scores(ict, other_exp, c)["shape_v2v_mm"].min()) > 0.1
    ident = M.identity_v2v(ict, mean_id, c)
    assert torch.allclose(ident, M.shape_scores(ict, mean_id, c)["shape_v2v_mm"])  # same expression: same error
    assert float(ident.min()) > 0.5


def test_pretraining_has_its_terms_starts_at_the_mean_and_renders_nothing(ict, batch, monkeypatch):
    m = Pretrain(ict, TINY)
    assert torch.equal(m.predict(batch["clean"]).coefficients, torch.zeros(4, ict.layout.total))
    monkeypatch.setattr(Renderer, "render_mesh", lambda *a, **k: pytest.fail("a pretraining step rasterized"))
    m.train_mode(True)
    out = m.train_step(batch, 0)
    assert set(out) == {"total", *PRETRAIN_WEIGHTS}
    assert math.isclose(out["total"].item(), sum(PRETRAIN_WEIGHTS[k] * out[k].item() for k in PRETRAIN_WEIGHTS),
                        rel_tol=1e-5)
    # at the mean face each vertex term is the size of its own block's offset, apart from the other's
    t = ict.layout.split(batch["coefficients"])
    mm = M.millimetres_per_unit(ict.info.units)
    zero_id, zero_exp = torch.zeros_like(t["id"]), torch.zeros_like(t["exp"])
    ident = mm * (ict.shape(t["id"], zero_exp) - ict.shape(zero_id, zero_exp)).norm(dim=-1).mean()
    expr = mm * (ict.shape(zero_id, t["exp"]) - ict.shape(zero_id, zero_exp)).norm(dim=-1).mean()
    assert math.isclose(out["identity_vertices"].item(), float(ident), rel_tol=1e-4)
    assert math.isclose(out["expression_vertices"].item(), float(expr), rel_tol=1e-4)


def test_pretraining_options_and_errors(ict, batch):
    m = Pretrain(ict, TINY, identity_components=5)
    with torch.no_grad():
        m.nets["encoder"].head.bias.fill_(0.3)
    ident = ict.layout.split(m.predict(batch["clean"]).coefficients)["id"]
    assert (ident[:, :5] != 0).all() and (ident[:, 5:] == 0).all()
    for bad in (0, ict.layout.id + 1):
        with pytest.raises(FacelibError, match="identity_components"):
            Pretrain(ict, TINY, identity_components=bad)
    with pytest.raises(FacelibError, match="unknown pretraining terms"):
        Pretrain(ict, TINY, weights={"photometric": 1.0})
    with pytest.raises(FacelibError, match="true coefficients"):
        Pretrain(ict, TINY).train_step({k: v for k, v in batch.items() if k != "coefficients"}, 0)


def test_pretraining_learns_identity_on_a_tiny_set_and_rnet_starts_from_it(ict, batch, tmp_path):
    """60 steps on 4 faces: identity-only v2v falls to under half the mean face's; R-Net warm-started
    from the run predicts exactly what it predicts."""

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in batch.items()}

    m = Pretrain(ict, TINY)
    zero = ict.layout.zeros(4)
    before = float(M.identity_v2v(ict, zero, batch["coefficients"]).mean())
    T.train(m, Repeat(), tmp_path, T.TrainConfig(steps=60, batch_size=4, log_every=10), progress=False)
    pred = m.predict(batch["clean"]).coefficients
    after = float(M.identity_v2v(ict, pred, batch["coefficients"]).mean())
    assert after < 0.5 * before, (before, after)
    r = RNet(ict, TINY, embedder=None).start_from(m)
    assert torch.equal(r.predict(batch["clean"]).coefficients, pred)


def test_ridge_recovers_a_linear_map_and_the_readout_replaces_only_identity(ict):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g)
    w = torch.randn(6, ict.layout.id, generator=g)
    y = x @ w + 2.0
    sol = ridge(x, y, 1e-8)
    assert torch.allclose(sol[:-1].float(), w, atol=1e-4) and torch.allclose(sol[-1].float(), torch.full((ict.layout.id,), 2.0), atol=1e-4)
    heavy = ridge(x, y, 1e6)  # a large penalty shrinks the weights toward 0, the bias to the mean
    assert heavy[:-1].abs().max() < 0.05 and torch.allclose(heavy[-1].float(), y.mean(0), atol=0.1)

    class Base:
        model = ict
        name = "base"

    ro = IdentityReadout(Base(), torch.nn.Identity(), sol)
    coeffs = random_coefficients(ict, 4, g)
    out = ro.with_identity(coeffs, x[:4])
    lay = ict.layout
    assert torch.allclose(lay.split(out)["id"], y[:4], atol=1e-3)
    assert all(torch.equal(lay.split(out)[k], lay.split(coeffs)[k]) for k in ("exp", "tex", "angle", "gamma", "trans"))
    with pytest.raises(FacelibError, match="one descriptor per training face"):
        IdentityReadout.fit(Base(), None, x[:3], y[:4], 1.0)


def test_lever_run_names_are_folder_safe():
    assert run_name("supervised, 64 px input, 1.5× the steps") == "supervised-64-px-input-1-5-the-steps"


def test_face_encoder_starts_at_the_mean_face_with_the_pretrained_descriptor():
    from facelib.dlib_resnet import dlib_resnet
    from facelib.nets.resnet import FaceEncoder, resnet

    enc = resnet("dlib_face", 7)
    assert isinstance(enc, FaceEncoder)
    x = torch.rand(2, 3, 150, 150, generator=torch.Generator().manual_seed(0))
    assert torch.equal(enc(x), torch.zeros(2, 7))
    ref = dlib_resnet("face-api")
    with torch.no_grad():
        desc = enc.features(x)[:, 256:]
        assert torch.allclose(desc, ref(ref.normalise(x)), atol=1e-5)  # the pretrained weights, not random ones
    assert all(p.requires_grad for p in enc.parameters())  # every layer trains
    with pytest.raises(FacelibError, match="dlib_face"):
        resnet("resnet19", 7)


def test_the_identity_trunk_learns_from_chips_and_reads_at_a_base_networks_landmarks(ict, batch, tmp_path):
    from facelib.methods.readout import IdentityTrunk

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in batch.items()}

    trunk = IdentityTrunk(ict, lr=1e-3)
    before = trunk.validation_step(batch)["identity_v2v_mm_clean"]
    T.train(trunk, Repeat(), tmp_path, T.TrainConfig(steps=30, batch_size=4, log_every=10), progress=False)
    after = trunk.validation_step(batch)["identity_v2v_mm_clean"]
    assert after < 0.7 * before, (before, after)
    with pytest.raises(FacelibError, match="readout"):
        trunk.predict(batch["clean"])
    base = Pretrain(ict, TINY)
    pred = trunk.readout(base).predict(batch["clean"]).coefficients
    lay = ict.layout
    assert torch.equal(lay.split(pred)["exp"], torch.zeros(4, lay.exp))  # the base's (mean) expression
    assert lay.split(pred)["id"].abs().sum() > 0  # the trunk's identity


def test_an_encoder_that_reads_identity_from_the_chip_keeps_the_contract(ict, batch):
    from facelib.methods.base import describe
    from facelib.nets.identity import IdentityReading

    plain = RNet(ict, TINY, embedder=None)
    reading = RNet(ict, EncoderConfig("resnet_tiny", 64, lr=1e-3, identity="dlib"), embedder=None)
    assert isinstance(reading.nets["encoder"], IdentityReading)
    assert torch.equal(reading.predict(batch["clean"]).coefficients, torch.zeros(4, ict.layout.total))  # the mean face
    assert "identity" not in describe(TINY) and describe(reading.encoder_config)["identity"] == "dlib"
    with torch.no_grad():
        reading.nets["encoder"].reader.head.bias.fill_(0.5)
        reading.nets["encoder"].encoder.head.bias.fill_(0.1)
    pred = ict.layout.split(reading.predict(batch["clean"]).coefficients)
    assert torch.allclose(pred["id"], torch.full((4, ict.layout.id), 0.5))  # identity from the reader
    assert torch.allclose(pred["tex"], torch.full((4, ict.layout.tex), 0.1))  # the rest from the encoder
    reading.train_mode(True)
    out = reading.train_step(batch, 0)
    out["total"].backward()
    assert reading.nets["encoder"].reader.head.weight.grad.abs().sum() > 0  # R-Net's terms reach the reader
    with pytest.raises(FacelibError, match="reading identity with dlib"):
        plain.start_from(reading)
    twin = RNet(ict, EncoderConfig("resnet_tiny", 64, identity="dlib"), embedder=None).start_from(reading)
    assert torch.equal(twin.predict(batch["clean"]).coefficients, reading.predict(batch["clean"]).coefficients)


def test_the_levers_table_marks_the_chosen_arm_and_shows_each_change():
    from facelib.evaluation.identity import SCORES, against, levers_markdown

    mean = {"identities": [0, 0, 1, 1, 2, 2], "per_face": {k: [2.0, 2.2, 1.8, 2.0, 2.1, 1.9] for k in SCORES}}
    better = {"identities": mean["identities"], "per_face": {k: [v * 0.5 for v in mean["per_face"][k]] for k in SCORES}}
    record = {"mean_face": against(mean, mean), "chosen": "b",
              "arms": {"a": {"steps": 10, "training_seconds": 12.0, "scores": against(mean, mean)},
                       "b": {"steps": 10, "training_seconds": 30.0, "scores": against(better, mean)}}}
    table = levers_markdown(record)
    assert "| b **(chosen)** | 10 | 30 s | 1.000 (-50.0 % [-50.0, -50.0])" in table
    assert "| a | 10 | 12 s | 2.000 (+0.0 %" in table and table.count("\n") == 4



def test_the_committed_levers_chose_by_their_rule_and_chapter_5_states_that_choice(monkeypatch, tmp_path):
    """The committed cpu record obeys its own rule (the encoder arm with the lowest identity-only v2v
    on the validation split), the cpu profile starts from that arm, and chapter 5's numbers are its;
    a missing record names the command that measures it."""
    from facelib import profile
    from facelib.evaluation.identity import ENCODER_ARMS, committed_levers, levers_glue

    record = committed_levers("cpu")
    encoders = {k: record["arms"][k]["scores"]["identity_v2v_mm"]["mean"]["estimate"] for k in ENCODER_ARMS}
    assert record["chosen"] == min(encoders, key=encoders.get)
    options, overrides, _ = ENCODER_ARMS[record["chosen"]]
    cpu = profile.resolve("cpu")
    assert (cpu.backbone, cpu.reader) == (overrides["backbone"], options["reader"])
    glue = levers_glue(record)
    assert glue["chosen_idv2v"] == encoders[record["chosen"]] and glue["chosen_idv2v_verdict"] == "holds"
    assert glue["chosen_idv2v_change"] == pytest.approx(100 * (glue["chosen_idv2v"] / glue["mean_idv2v"] - 1), abs=0.5)
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    with pytest.raises(FacelibError, match="python -m facelib.evaluation.identity --profile cpu"):
        committed_levers("cpu")

def test_pretraining_scales_the_sets_landmarks_to_its_input(ict, batch):
    """A 32 px network on the 64 px faces: the landmark term compares points in the same pixels (the
    64 px arm of the first lever run compared 32-px projections with 64-px targets)."""
    small = Pretrain(ict, EncoderConfig("resnet_tiny", 32))
    big = Pretrain(ict, TINY)
    lm_small = small.loss_terms(batch, batch["coefficients"])["landmark"]
    lm_big = big.loss_terms(batch, batch["coefficients"])["landmark"]
    assert float(lm_small) < 1e-6 and float(lm_big) < 1e-6  # the true coefficients land on the points


def test_a_frozen_reader_keeps_its_weights_while_the_encoder_trains(ict, batch):
    """Issue 34's lever: R-Net from the stand-in with the reader's weights fixed — no optimiser holds
    them, a step leaves them as they were and still moves the encoder (the chip's landmarks)."""
    from facelib.methods.base import describe
    from facelib.train import optimisation_step

    with pytest.raises(FacelibError, match="reader='dlib'"):
        EncoderConfig("resnet_tiny", 64, identity_frozen=True)
    config = EncoderConfig("resnet_tiny", 64, lr=1e-3, identity="dlib", identity_frozen=True)
    assert describe(config)["identity_frozen"] is True
    assert "identity_frozen" not in describe(EncoderConfig("resnet_tiny", 64, identity="dlib"))
    source = RNet(ict, EncoderConfig("resnet_tiny", 64, identity="dlib"), embedder=None)
    with torch.no_grad():
        source.nets["encoder"].reader.head.bias.fill_(0.5)
    frozen = RNet(ict, config, embedder=None).start_from(source)  # a trained reader may start a frozen one
    reader = frozen.nets["encoder"].reader
    held = {id(p) for group in frozen.optimizers["encoder"].param_groups for p in group["params"]}
    assert held and not held & {id(p) for p in reader.parameters()}
    before = {k: v.clone() for k, v in frozen.nets["encoder"].state_dict().items()}
    frozen.train_mode(True)
    optimisation_step(frozen, batch, 0)
    after = frozen.nets["encoder"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("reader."))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("encoder."))


def test_a_checkpoint_whose_optimiser_was_grouped_otherwise_is_refused_clearly(ict):
    """The reader's parameter groups were rebuilt once (stop 43): a run written by another grouping
    names the fix instead of torch's ValueError."""
    reading = RNet(ict, EncoderConfig("resnet_tiny", 64, identity="dlib"), embedder=None)
    assert len(reading.optimizers["encoder"].param_groups) == 2  # encoder and reader trunk; reader head
    state = reading.state_dict()
    groups = state["optimizers"]["encoder"]["param_groups"]
    groups.insert(1, {**groups[0], "params": groups[0]["params"][-1:]})
    groups[0]["params"] = groups[0]["params"][:-1]
    with pytest.raises(FacelibError, match="grouped its parameters otherwise.*fresh run folder"):
        reading.load_state_dict(state)


def test_the_methods_the_papers_start_pretrained_start_from_the_profile_s_stand_in(ict, batch, tmp_path, monkeypatch):
    """Issue 34's wiring: R-Net, MoFA, SOPI (issue 35's rule), ROGUE and FOCUS's networks start from
    chapter 5's finished ``pretrain`` run (recorded in their run signature); MOPI starts from SOPI,
    its reader frozen as SOPI's; the stand-in itself starts from nothing; a missing stand-in names
    the command that trains it; measurements made before the stand-in keep their profile
    (``before_stand_in``)."""
    from facelib import methods, profile, runs
    from facelib.evaluation.identity import committed_budget

    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path))
    smoke, cpu = profile.resolve("smoke"), profile.resolve("cpu")
    budget = committed_budget("cpu")["chosen"]
    assert (cpu.backbone, cpu.reader, cpu.stand_in_steps) == ("dlib_face", "dlib", budget)
    old = profile.before_stand_in("cpu")
    assert (old.backbone, old.reader, old.stand_in_steps, old.image_size) == ("resnet18", None, 0, 112)
    assert [n for n in methods.names() if runs.starts_from_stand_in(n, smoke)] == [
        "mofa", "rnet", "sopi", "rogue", "focus", "focus_backbone"]
    assert not runs.starts_from_stand_in("rnet", profile.before_stand_in("smoke"))
    assert methods.build("pretrain", ict, cpu).steps_for(cpu) == budget
    assert methods.build("rnet", ict, smoke).steps_for(smoke) == smoke.train_steps
    assert methods.build("rnet", ict, cpu).encoder_config.identity == "dlib"  # the profile's reader
    assert methods.build("rnet", ict, cpu, reader=None).encoder_config.identity is None

    with pytest.raises(FacelibError, match="train --method pretrain --profile smoke"):
        runs.build_with_prerequisites("rnet", ict, smoke)

    class Repeat(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {k: v[i] for k, v in batch.items()}

    stand_in = methods.build("pretrain", ict, smoke)
    T.train(stand_in, Repeat(), runs.stand_in_run_dir(smoke), T.TrainConfig(steps=3, batch_size=4), progress=False)
    expected = stand_in.predict(batch["clean"]).coefficients
    assert expected.abs().sum() > 0
    for given in (stand_in, None):  # handed over, or found in chapter 5's folder
        r = runs.build_with_prerequisites("rnet", ict, smoke, stand_in=given)
        assert torch.equal(r.predict(batch["clean"]).coefficients, expected)
        assert r.hyperparameters()["warm_start"] == {"method": "pretrain", "nets": ["encoder"],
                                                    "run_signature": stand_in.run_signature}
    sopi = runs.build_with_prerequisites("sopi", ict, smoke, teacher=r)
    assert sopi.hyperparameters()["warm_start"]["run_signature"] == stand_in.run_signature
    assert torch.equal(sopi.predict(batch["clean"]).coefficients, expected)
    assert "warm_start" not in methods.build("mopi", ict, smoke, sopi=sopi).hyperparameters()  # SOPI's weights
    reading = profile.override(smoke, reader="dlib")  # with a reader, the stand-in's stays as it was trained
    base = methods.build("pretrain", ict, reading)
    assert runs.build_with_prerequisites("rnet", ict, reading, stand_in=base).encoder_config.identity_frozen
    assert not runs.build_with_prerequisites("rnet", ict, reading, stand_in=base,
                                             reader_frozen=False).encoder_config.identity_frozen
    assert not methods.build("sopi", ict, reading, teacher=r).encoder_config.identity_frozen
    frozen = runs.build_with_prerequisites("sopi", ict, reading, teacher=r, stand_in=base)
    assert frozen.encoder_config.identity_frozen
    assert methods.build("mopi", ict, reading, sopi=frozen).encoder_config.identity_frozen  # inherited
    rnet_reading = runs.build_with_prerequisites("rnet", ict, reading, stand_in=base)
    assert methods.build("contour", ict, reading, rnet=rnet_reading).encoder_config.identity_frozen  # as R-Net's
    assert not methods.build("contour", ict, reading, rnet=rnet_reading,
                             reader_frozen=False).encoder_config.identity_frozen  # the departure's other arm
    T.train(frozen, Repeat(), tmp_path / "sopi", T.TrainConfig(steps=1, batch_size=4), progress=False)
    assert runs.finished("sopi", ict, reading, tmp_path / "sopi").encoder_config.identity_frozen  # as trained
    with pytest.raises(FacelibError, match="build MOPI with reader_frozen=True"):
        methods.build("mopi", ict, reading, sopi=frozen, reader_frozen=False)
    assert not methods.build("mopi", ict, reading, sopi=frozen, reader_frozen=False,
                             init_from_sopi=False).encoder_config.identity_frozen
    assert methods.stand_in_options(reading, {"lr": 1.0}) == {"reader_frozen": True, "lr": 1.0}
    assert methods.stand_in_options(reading, {"reader_frozen": False}) == {"reader_frozen": False}
    assert methods.stand_in_options(reading, {"reader": None}) == {"reader": None}  # no reader, nothing to freeze
    assert methods.stand_in_options(smoke, {}) == {} and smoke.reader is None


def test_the_stand_in_budget_lever_scores_one_run_s_snapshots_and_chooses_by_its_rule(ict, tmp_path, monkeypatch):
    """The step-budget lever trains one stand-in to its largest budget, whose snapshot after a smaller
    budget is that budget's stand-in bit for bit (a separate short run gives the same weights), trains
    R-Net from each snapshot with the reader setting every chapter uses, and chooses the budget whose
    R-Net has the lowest validation identity-only v2v among those within the cap."""
    from facelib import methods, profile, runs
    from facelib.data import synthetic
    from facelib.evaluation import identity as I

    smoke = profile.override(profile.resolve("smoke"), train_steps=3)
    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(profile, "resolve", lambda name: smoke)
    monkeypatch.setattr(synthetic, "default_root", lambda name: tmp_path / "set")
    monkeypatch.setattr(synthetic, "config_for", lambda p: synthetic.SyntheticConfig(identities=10, variants=2,
                                                                                     image_size=64, seed=3))
    rec = I.stand_in_budget(10.0, "smoke", (4, 2), folder=tmp_path / "lever", out=tmp_path / "budget.json",
                            stand_in_step_seconds=0.1)
    assert list(rec["budgets"]) == ["2", "4"] and rec["stand_in_run"]["steps"] == 4
    assert (tmp_path / "budget.json").is_file() and (tmp_path / "lever" / "rnet-from-2-steps" / "checkpoint.pt").is_file()
    ids = {b: e["rnet"]["scores"]["identity_v2v_mm"]["mean"]["estimate"] for b, e in rec["budgets"].items()}
    assert rec["chosen"] == int(min(ids, key=ids.get))
    assert all(e["rnet"]["training_seconds"] > 0 for e in rec["budgets"].values())
    assert [e["book_share"] for e in rec["budgets"].values()] == [0.02, 0.04]  # steps x step time / book
    assert {"2", "4"} == set(rec["budgets"]) and "(chosen)" in I.budget_markdown(rec)
    glue = I.budget_glue(rec)
    assert glue["smallest"] == 2 and glue["chosen"] == rec["chosen"] and glue["budgets"] == "2, 4"

    from facelib.train import load_snapshot, train_on_set
    short = runs.build_with_prerequisites("pretrain", ict, smoke)
    train_on_set(short, tmp_path / "set", tmp_path / "short", smoke, steps=2, progress=False)
    snap = load_snapshot(methods.build("pretrain", ict, smoke), tmp_path / "lever" / "stand-in-4-steps", 2)
    assert I._same_networks(short, snap)
    assert not I._same_networks(short, methods.build("pretrain", ict, smoke))
    curves = I.budget_curves(rec)
    assert list(curves["arms"]) == [curves["chosen"]]
    # chapter 5's runs are reused only when they are this very training: its stand-in equal to the
    # snapshot, its R-Net trained from it with the chapter's settings
    from facelib import results
    from facelib.train import train_on_set as train_set_run

    chapter = runs.build_with_prerequisites("pretrain", ict, smoke)
    train_set_run(chapter, tmp_path / "set", runs.stand_in_run_dir(smoke), smoke, steps=2, progress=False)
    rnet_dir = results.run_dir("05_baselines", "smoke", "rnet")
    train_set_run(I.rnet_from(chapter, ict, smoke), tmp_path / "set", rnet_dir, smoke, steps=2, progress=False)
    other = I.stand_in_budget(10.0, "smoke", (4, 2), folder=tmp_path / "lever", stand_in_step_seconds=0.1)
    assert other["budgets"]["2"]["rnet"]["run"] == "rnet-from-2-steps"  # trained otherwise (2 steps, not 3)
    train_set_run(I.rnet_from(chapter, ict, smoke), tmp_path / "set", rnet_dir, smoke, progress=False, resume=False)
    again = I.stand_in_budget(10.0, "smoke", (4, 2), folder=tmp_path / "lever2", stand_in_step_seconds=0.1)
    assert again["budgets"]["2"]["rnet"]["run"].startswith("chapter 5's R-Net")
    assert again["budgets"]["2"]["rnet"]["scores"] == rec["budgets"]["2"]["rnet"]["scores"]
    assert again["budgets"]["4"]["rnet"]["run"] == "rnet-from-4-steps"


def test_the_committed_stand_in_budget_chose_by_its_rule_and_the_cpu_profile_trains_it(monkeypatch, tmp_path):
    """The committed budget record obeys its rule (the lowest validation identity-only v2v of R-Net
    from the stand-in, within the cap), its smallest budget is the levers' stand-in (whose R-Net scores
    what the levers' frozen-reader arm scored), the cpu profile trains the chosen budget, and a missing
    record names the command that measures it."""
    from facelib import profile
    from facelib.evaluation.identity import RNET_FROZEN, STAND_IN_CAP, committed_budget, committed_levers

    record = committed_budget("cpu")
    allowed = {int(b): e["rnet"]["scores"]["identity_v2v_mm"]["mean"]["estimate"]
               for b, e in record["budgets"].items() if e["book_share"] <= STAND_IN_CAP}
    assert record["chosen"] == min(allowed, key=allowed.get) and len(allowed) == len(record["budgets"]) >= 3
    assert profile.resolve("cpu").stand_in_steps == record["chosen"]
    smallest = record["budgets"][min(record["budgets"], key=int)]
    levers = committed_levers("cpu")
    assert int(min(record["budgets"], key=int)) == levers["arms"][levers["chosen"]]["steps"]
    assert smallest["rnet"]["scores"] == levers["arms"][RNET_FROZEN]["scores"]
    assert record["stand_in_run"]["steps"] == max(int(b) for b in record["budgets"])
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    with pytest.raises(FacelibError, match="python -m facelib stand-in-budget --profile cpu"):
        committed_budget("cpu")



def test_the_budget_rule_keeps_to_the_cap_and_rnet_starts_as_the_chapters_start_it(ict):
    from facelib import methods, profile, runs
    from facelib.evaluation import identity as I

    def entry(share, idv2v):
        return {"book_share": share, "rnet": {"scores": {"identity_v2v_mm": {"mean": {"estimate": idv2v}}}}}

    assert I.choose_budget({"1000": entry(0.01, 2.4), "6000": entry(0.06, 2.0)}) == 6000
    assert I.choose_budget({"1000": entry(0.01, 2.4), "9000": entry(0.21, 1.9)}) == 1000  # over the cap
    with pytest.raises(FacelibError, match="more than 20%"):
        I.choose_budget({"9000": entry(0.21, 1.9)})
    reading = profile.override(profile.resolve("smoke"), reader="dlib")
    for prof in (reading, profile.resolve("smoke")):
        base = methods.build("pretrain", ict, prof)
        mine, theirs = I.rnet_from(base, ict, prof), runs.build_with_prerequisites("rnet", ict, prof, stand_in=base)
        assert mine.hyperparameters() == theirs.hyperparameters()
    assert I.rnet_from(methods.build("pretrain", ict, reading), ict, reading).encoder_config.identity_frozen
