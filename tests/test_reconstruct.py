"""From a reader's photo to a mesh (issue 33): ``python -m facelib reconstruct PHOTO --run RUN_DIR
-o face.obj`` and :func:`facelib.reconstruct.reconstruct`, with the errors a reader meets."""

from __future__ import annotations

import numpy as np
import pytest
from toys import tiny_synthetic_set

from facelib import assets, methods, profile, reconstruct, train
from facelib.cli import main
from facelib.detect import NoFaceError

pytest.importorskip("dlib", reason="dlib-bin is part of the `data` extra that `make` installs")


@pytest.fixture(scope="module")
def run_dir(ict, tmp_path_factory):
    """A finished (two-step) R-Net run in a folder named like the chapters' (``.../smoke/rnet``)."""
    assets.fetch("dlib-models")
    assets.fetch("face-photos")
    root = tiny_synthetic_set(tmp_path_factory, ict, "reconstruct", seed=9)
    prof = profile.override(profile.resolve("smoke"), batch_size=2, train_steps=2)
    folder = tmp_path_factory.mktemp("runs") / "05_baselines" / "smoke" / "rnet"
    train.train_on_set(methods.build("rnet", ict, prof), root, folder, prof, progress=False)
    return folder


def _photo(name):
    from facelib.data import miniset

    return miniset.photo(name)


def test_a_photo_becomes_a_mesh_in_millimetres_with_its_albedo(run_dir, ict, tmp_path):
    face = reconstruct.reconstruct(_photo("takeo"), run_dir, model=ict)
    v = face.vertices
    assert v.shape == (ict.n_vertices, 3) and face.colours.shape == v.shape and face.method == "rnet"
    width = float(v[:, 0].max() - v[:, 0].min())
    assert 100 < width < 250  # a face, in millimetres (the model's decimetres x 100)
    size = profile.resolve("smoke").image_size  # the profile read from the folder's path
    assert face.crop.shape == (3, size, size) and 0 <= float(face.crop.min()) and float(face.crop.max()) <= 1
    obj = face.write_obj(tmp_path / "takeo.obj").read_text().splitlines()
    vs = [line.split() for line in obj if line.startswith("v ")]
    fs = [line.split() for line in obj if line.startswith("f ")]
    assert len(vs) == ict.n_vertices and all(len(x) == 7 for x in vs) and len(fs) == len(ict.triangles)
    assert np.allclose([float(x) for x in vs[0][1:4]], v[0].numpy(), atol=1e-3)
    idx = np.array([[int(i) for i in f[1:]] for f in fs])
    assert idx.min() == 1 and idx.max() == ict.n_vertices  # OBJ counts from one
    plain = face.write_obj(tmp_path / "plain.obj", colours=False).read_text().splitlines()
    assert all(len(line.split()) == 4 for line in plain if line.startswith("v "))


def test_the_command_writes_the_obj_and_says_where(run_dir, tmp_path, capsys):
    out = tmp_path / "face.obj"
    assert main(["reconstruct", str(_photo("takeo")), "--run", str(run_dir), "-o", str(out)]) == 0
    assert out.is_file() and f"-> {out}" in capsys.readouterr().out


def test_several_faces_are_refused_with_the_choice_named_and_can_be_chosen(run_dir, ict):
    with pytest.raises(reconstruct.FacelibError, match="6 faces found.*--face largest or --face INDEX"):
        reconstruct.reconstruct(_photo("t1"), run_dir, model=ict)
    left = reconstruct.reconstruct(_photo("t1"), run_dir, model=ict, face=0)
    third = reconstruct.reconstruct(_photo("t1"), run_dir, model=ict, face="2")
    assert left.box[0] < third.box[0]
    with pytest.raises(reconstruct.FacelibError, match="face 9 asked for, but 6 found"):
        reconstruct.reconstruct(_photo("t1"), run_dir, model=ict, face=9)


def test_a_reader_s_mistakes_get_the_fix_not_a_stack_trace(run_dir, ict, tmp_path):
    with pytest.raises(NoFaceError, match="no face found.*--upsample 2 or --detector cnn"):
        reconstruct.reconstruct(np.full((200, 200, 3), 128, np.uint8), run_dir, model=ict)
    with pytest.raises(reconstruct.FacelibError, match="no such run folder.*python -m facelib train --method rnet"):
        reconstruct.reconstruct(_photo("takeo"), tmp_path / "nothing", model=ict)
    with pytest.raises(reconstruct.FacelibError, match="holds no trained run.*train --method rnet"):
        reconstruct.reconstruct(_photo("takeo"), tmp_path, model=ict)
    elsewhere = tmp_path / "my-run"
    elsewhere.mkdir()
    (elsewhere / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
    with pytest.raises(reconstruct.FacelibError, match="cannot tell the profile.*--profile cpu"):
        reconstruct.reconstruct(_photo("takeo"), elsewhere, model=ict)
    assert reconstruct.reconstruct(_photo("takeo"), elsewhere, profile="smoke", model=ict).method == "rnet"
    with pytest.raises(reconstruct.FacelibError, match="does not exist"):
        reconstruct.reconstruct(_photo("takeo"), run_dir, model=ict).write_obj(tmp_path / "no" / "face.obj")


def test_real_faces_are_scored_in_their_photos_against_the_annotation(ict):
    """The real-face evaluation (facelib.evaluation.real_faces): the annotation scores 0, the mapping
    from crop to photo inverts the alignment, and dlib's points beat the mean face on real photos."""
    from facelib.evaluation import real_faces as rf

    faces = rf.real_faces(64, names=("takeo", "lenna"))
    assert [f.name for f in faces] == ["takeo", "lenna"] and faces[0].crop.shape == (3, 64, 64)
    assert np.allclose(rf.nme_percent(np.stack([f.truth for f in faces]), faces), 0.0)
    back = np.stack([f.alignment.to_original(f.crop_landmarks.double().numpy()) for f in faces])
    assert np.allclose(back, np.stack([f.detected for f in faces]), atol=1e-3)
    record = rf.evaluate_real_faces(ict, 64, {}, fit_steps=3, refine_steps=1, faces=faces)
    rows = record["rows"]
    assert record["photos"] == ["takeo", "lenna"] and len(rows["dlib's 68 points"]["nme_percent"]) == 2
    assert rows["dlib's 68 points"]["mean"] < 8 < rows["mean face (the detector's alignment)"]["mean"]
    low, high = rows["dlib's 68 points"]["interval"]
    assert low <= rows["dlib's 68 points"]["mean"] <= high
    table = rf.markdown(record).splitlines()
    assert table[0] == "| prediction | NME %, mean [95 %] | takeo | lenna |" and len(table) == 2 + len(rows)
    dlib = rows["dlib's 68 points"]
    assert table[2] == (f"| dlib's 68 points | {dlib['mean']:.2f} [{low:.2f}, {high:.2f}] | "
                        f"{dlib['nme_percent'][0]:.2f} | {dlib['nme_percent'][1]:.2f} |")


def test_the_real_faces_command_reads_the_runs_profile_and_writes_its_record(run_dir, tmp_path, capsys):
    out = tmp_path / "real.json"
    assert main(["real-faces", "--run", f"R-Net={run_dir}", "--out", str(out)]) == 0
    import json

    record = json.loads(out.read_text())
    assert record["profile"] == "smoke" and record["runs"] == {"R-Net": str(run_dir)}
    assert {"dlib's 68 points", "R-Net", "R-Net + refinement", "fit from the mean face"} <= set(record["rows"])
    assert "300-W NME" in capsys.readouterr().out
    with pytest.raises(reconstruct.FacelibError, match="LABEL=RUN_DIR"):
        main(["real-faces", "--run", str(run_dir)])
