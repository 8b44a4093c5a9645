"""Face embedders: the torch port of dlib's descriptor against dlib itself on real photos, the
alignment against dlib's chip geometry, tfjs dequantisation, and the FaceNet / ArcFace wrappers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from facelib import assets, dlib_resnet, recognition
from facelib.data import miniset
from facelib.errors import FacelibError
from facelib.evaluation import ports

STAND_INS = Path(__file__).parent / "stand_ins"


@pytest.fixture(scope="module")
def dlib_tools():
    pytest.importorskip("dlib")
    for name in ("dlib-models", "face-photos", dlib_resnet.FACE_API_ASSET):
        assets.fetch(name)
    return ports.dlib_reference()


@pytest.fixture(scope="module")
def net(dlib_tools):
    return dlib_resnet.dlib_resnet()


@pytest.fixture(scope="module")
def agreement(net):
    return ports.compare_with_dlib(net)


def test_torch_descriptor_matches_dlib_on_real_photos_mirrored_and_shifted(agreement):
    for r in agreement:  # shown with `pytest -s`
        print(f"{r.photo:22s} {r.variant:9s} cosine(torch, dlib) = {r.cosine:.5f}")
    assert {(r.photo, r.variant) for r in agreement} == {
        (p, v) for p in miniset.PHOTOS for v in ("original", "mirrored", "shifted")}
    assert min(r.cosine for r in agreement) >= 0.999
    assert all(abs(r.norm_ratio - 1) < 0.01 for r in agreement)  # dlib's 0.6 threshold applies


def test_same_person_is_closer_than_different_people(agreement):
    same, different = ports.pair_distances(agreement)
    assert len(same) == 3 * len(miniset.PHOTOS) and len(different) > 100
    print(f"same person: max {max(same):.3f}; different people: min {min(different):.3f}")
    assert max(same) < 0.6 < min(different)  # dlib's own decision threshold


@pytest.fixture(scope="module")
def descriptors(dlib_tools, net):
    """Original photos with dlib's shape, descriptor, image tensor and landmarks."""
    dlib, detector, predictor, facerec = dlib_tools
    rows = []
    for name in miniset.PHOTOS[:4]:
        img = miniset.variants(name)["original"][0]
        shape = predictor(img, max(detector(img, 1), key=lambda r: r.area()))
        lm = torch.tensor([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=torch.float64)[None]
        rows.append(dict(theirs=np.array(facerec.compute_face_descriptor(img, shape)), shape=shape,
                         image=torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255, landmarks=lm))
    return rows


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_network_port_on_dlibs_own_chip(dlib_tools, net, descriptors):
    dlib = dlib_tools[0]
    r = descriptors[0]
    img = (r["image"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    chip = dlib.get_face_chip(img, r["shape"], 150, 0.25)
    x = torch.from_numpy(chip.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ours = net(net.normalise(x))[0].double().numpy()
    assert _cos(ours, r["theirs"]) >= 0.999


def test_chip_geometry_equals_dlibs_chip_details(dlib_tools, net, descriptors):
    dlib = dlib_tools[0]
    for r in descriptors:
        cd = dlib.get_face_chip_details(r["shape"], 150, 0.25)
        rect, a = cd.rect, cd.angle
        centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        corners = [np.array(p) for p in ((rect.left(), rect.top()), (rect.right(), rect.top()),
                                         (rect.right(), rect.bottom()))]
        expected = [centre + rot @ (p - centre) for p in corners]  # dlib pixel coordinates
        m = net.chip_maps(r["image"], r["landmarks"])[0].numpy()
        ours = [m[:, :2] @ np.array(c) + m[:, 2] - 0.5 for c in ((0.5, 0.5), (149.5, 0.5), (149.5, 149.5))]
        np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_input_gradients_are_finite_and_nonzero(net, descriptors):
    x = torch.cat([descriptors[0]["image"], descriptors[3]["image"][..., :225, :150]])  # takeo is 225×150
    lm = torch.cat([descriptors[0]["landmarks"], descriptors[0]["landmarks"]])
    x.requires_grad_(True)
    e = net.embed(x, lm)
    (e[0] - e[1]).norm().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_aligned_crops_need_no_landmarks(net, ict):
    from facelib.render import Renderer

    img = Renderer(ict, 112)(ict.layout.zeros(2)).image.clamp(0, 1)
    e = net.embed(img)
    assert e.shape == (2, 128) and torch.allclose(e[0], e[1])
    with pytest.raises(FacelibError, match="square"):
        net.embed(img[..., :100])
    with pytest.raises(FacelibError, match="divide"):
        net.embed(img * 255)


def test_tfjs_dequantisation():
    manifest = {"weights": [
        {"name": "q", "shape": [2, 2], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
        {"name": "f", "shape": [3], "dtype": "float32"}]}
    blob = bytes([0, 1, 2, 255]) + np.array([1.5, -2.0, 3.25], "<f4").tobytes()
    w = dlib_resnet.dequantise(manifest, blob)
    np.testing.assert_array_equal(w["q"], [[-1.0, -0.5], [0.0, 126.5]])
    np.testing.assert_array_equal(w["f"], [1.5, -2.0, 3.25])
    with pytest.raises(FacelibError, match="bytes"):
        dlib_resnet.dequantise(manifest, blob + b"\0")


def test_face_api_weights_are_complete(dlib_tools):
    folder = assets.path(dlib_resnet.FACE_API_ASSET)
    manifest = json.loads((folder / "face_recognition_model-weights_manifest.json").read_text())
    names = {w["name"] for w in manifest[0]["weights"]}
    net = dlib_resnet.DlibResNet()
    expected = {"fc"} | {f"{b}/{c}/{k}" for b, *_ in net.BLOCKS for c in ("conv1", "conv2")
                         for k in ("conv/filters", "conv/bias", "scale/weights", "scale/biases")}
    expected |= {f"conv32_down/{k}" for k in ("conv/filters", "conv/bias", "scale/weights", "scale/biases")}
    assert names == expected


def test_the_dlib_embedder_is_the_port():
    assert recognition.DlibResNet is dlib_resnet.DlibResNet  # the name methods use (contour's style net)
    assert isinstance(recognition.load("dlib", "random"), dlib_resnet.DlibResNet)


def test_arcface_architecture_loads_its_state_dict_and_is_differentiable(tmp_path):
    torch.manual_seed(0)
    net = recognition.IResNet().eval()
    path = tmp_path / "backbone.pth"
    torch.save(net.state_dict(), path)
    loaded = recognition.arcface(path)
    x = torch.rand(2, 3, 224, 224, requires_grad=True)
    e = loaded.embed(x)
    assert e.shape == (2, 512)
    with torch.no_grad():
        assert torch.allclose(e, net(net.normalise(net.chips(x))), atol=1e-5)
    e.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_missing_weights_say_why_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACELIB_MIRROR", str(tmp_path))
    with pytest.raises(recognition.EmbedderUnavailable, match=r"backbone\.pth.*arcface-r50"):
        recognition.load("arcface")
    reasons = recognition.availability()
    assert reasons["arcface"].startswith("ArcFace unavailable here because")
    assert reasons["facenet"].startswith("FaceNet unavailable here because")
    with pytest.raises(FacelibError, match="known: dlib, facenet, arcface"):
        recognition.load("vgg")


@pytest.fixture
def stand_in_torchvision(monkeypatch):
    """facenet-pytorch importable through the test-only torchvision stand-in; cleaned up after."""
    if importlib.util.find_spec("facenet_pytorch") is None:
        pytest.skip("facenet-pytorch is not installed (`make` installs it with --no-deps)")

    def forget():
        for mod in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "facenet_pytorch")]:
            del sys.modules[mod]

    forget()
    monkeypatch.syspath_prepend(str(STAND_INS))
    yield
    forget()


def test_facenet_wrapper_with_stand_in_torchvision(stand_in_torchvision, tmp_path, monkeypatch):
    monkeypatch.setenv("FACELIB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACELIB_MIRROR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    net = recognition.facenet("random")
    assert isinstance(net.net, sys.modules["facenet_pytorch"].InceptionResnetV1)
    x = torch.rand(2, 3, 224, 224, requires_grad=True)
    e = net.embed(x)
    assert e.shape == (2, 512)
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)  # facenet-pytorch normalises
    e[:, 0].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # offline and no local weights: unavailable, naming the file and where to put it
    with pytest.raises(recognition.EmbedderUnavailable, match=recognition.FACENET_FILE):
        recognition.facenet("vggface2", allow_download=False)
    # a local copy of the released state dict (with its classifier) is found and loaded
    state = dict(net.net.state_dict(), **{"logits.weight": torch.zeros(8631, 512),
                                          "logits.bias": torch.zeros(8631)})
    (tmp_path / "home" / "facenet-vggface2").mkdir(parents=True)
    torch.save(state, tmp_path / "home" / "facenet-vggface2" / recognition.FACENET_FILE)
    again = recognition.facenet("vggface2", allow_download=False)
    with torch.no_grad():
        assert torch.allclose(again.embed(x), e, atol=1e-6)


def test_facenet_without_torchvision_is_unavailable_not_a_crash(monkeypatch):
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("a torchvision is installed here")
    for mod in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "facenet_pytorch")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(recognition.EmbedderUnavailable, match="FaceNet unavailable here because"):
        recognition.load("facenet")
