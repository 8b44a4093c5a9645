import os
import subprocess
import sys
import urllib.error

import numpy as np
import pytest

from facelib import assets
from facelib.errors import AssetChecksumError, AssetMissingError, DownloadError
from facelib.ict import array_digest, convert_facexmodel, read_obj

from .conftest import ROOT, SHARED_ASSETS

ICT_MIRROR = SHARED_ASSETS / "ict-facekit-light"
needs_mirror = pytest.mark.skipif(not ICT_MIRROR.is_dir(), reason="offline asset mirror not beside the checkout")


@pytest.fixture
def upstream_folder(tmp_path):
    """A FaceXModel-like folder with the three upstream OBJ samples."""
    for name in ("generic_neutral_mesh.obj", "identity000.obj", "jawOpen.obj"):
        (tmp_path / name).symlink_to(ICT_MIRROR / "upstream_samples" / name)
    (tmp_path / "vertex_indices.json").symlink_to(ICT_MIRROR / "vertex_indices.json")
    return tmp_path


@needs_mirror
def test_converter_reproduces_the_mirror_arrays_from_upstream_objs(upstream_folder):
    got = convert_facexmodel(upstream_folder, ["identity000"], ["jawOpen"])
    with np.load(ICT_MIRROR / "ict_facekit_light.npz") as ref:
        for key in ("neutral", "faces", "face_uvs", "uvs", "face_material", "material_names", "landmarks_68"):
            np.testing.assert_array_equal(got[key], ref[key], err_msg=key)
        jaw = list(ref["expression_names"]).index("jawOpen")
        np.testing.assert_allclose(got["identity_modes"][0], ref["identity_modes"][0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(got["expression_modes"][0], ref["expression_modes"][jaw], rtol=0, atol=1e-6)
        assert np.abs(got["expression_modes"][0]).max() > 1.0  # jawOpen really moves vertices (cm)


@needs_mirror
def test_obj_reader_counts_match_the_upstream_readme():
    mesh = read_obj(ICT_MIRROR / "upstream_samples" / "generic_neutral_mesh.obj")
    assert mesh.vertices.shape == (26719, 3) and mesh.faces.shape == (26384, 4)
    assert (mesh.faces[:, 3] < 0).sum() == 548  # triangles padded with -1
    assert mesh.material_names[0] == "M_Face"


def test_array_digest_ignores_key_order_but_not_values():
    a = {"x": np.arange(3, dtype=np.float32), "n": np.asarray(["a", "bc"])}
    b = {"n": np.asarray(["a", "bc"]), "x": np.arange(3, dtype=np.float32)}
    assert array_digest(a) == array_digest(b)
    b["x"] = b["x"] + 1
    assert array_digest(a) != array_digest(b)


def test_missing_asset_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("FACELIB_MIRROR", raising=False)
    from facelib.morphable import MorphableModel

    with pytest.raises(AssetMissingError) as err:
        MorphableModel.from_ict()
    assert "python -m data_scripts.fetch_assets ict-facekit-light" in str(err.value)


def test_fetch_cli_without_asset_source_prints_one_message_and_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FACELIB_MIRROR"}
    env["FACELIB_HOME"] = str(tmp_path / "empty")
    proc = subprocess.run([sys.executable, "-m", "data_scripts.fetch_assets", "--offline"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: asset 'ict-facekit-light'")
    assert "python -m data_scripts.fetch_assets" in proc.stderr


def test_download_failure_suggests_the_mirror(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(assets.urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError, match="FACELIB_MIRROR"):
        assets.download("https://example.invalid/x.zip")


@needs_mirror
def test_mirror_copy_is_verified_and_stamped(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "home"))
    folder = assets.fetch("ict-facekit-light", allow_download=False)
    assert (folder / assets.STAMP).is_file()
    assert assets.path("ict-facekit-light", "LICENSE").read_text().startswith("MIT")


@needs_mirror
def test_a_corrupt_mirror_file_is_rejected(tmp_path, monkeypatch):
    bad = tmp_path / "mirror" / "ict-facekit-light"
    bad.mkdir(parents=True)
    for rel in assets.get("ict-facekit-light").files:
        (bad / rel).symlink_to(ICT_MIRROR / rel)
    (bad / "LICENSE").unlink()
    (bad / "LICENSE").write_text("tampered")
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACELIB_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(AssetChecksumError, match="LICENSE"):
        assets.fetch("ict-facekit-light", allow_download=False)
