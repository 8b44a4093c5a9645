"""Face embedders behind one interface: ``embed(images, landmarks=None) -> (B, D)`` (DESIGN 3, 4, 7).

* ``"dlib"`` — dlib's ResNet-34 face descriptor (King 2009; 128-D, 150 px chips), ported to torch
  from the uint8-quantised tfjs weights in npm ``@vladmandic/face-api@1.7.15`` (asset
  ``face-api-recognition``; the port is :mod:`facelib.dlib_resnet`). Offline, differentiable,
  ~0.1 s per 16 faces on CPU: the project's identity loss and its always-available perceptual metric.
* ``"facenet"`` — FaceNet / Inception-ResNet-v1 trained on VGGFace2 (512-D, 160 px) through
  ``facenet-pytorch``. Needs a working ``torchvision`` (facenet-pytorch's package imports it) and
  the vggface2 weights (downloaded at run time, or a local copy; see :func:`load`).
* ``"arcface"`` — ArcFace iresnet-50 (insightface ``arcface_torch``, 512-D, 112 px), implemented
  here; needs the ``backbone.pth`` weights, which no package registry ships.

Inputs: ``images`` is ``(B, 3, H, W)`` float RGB in ``[0, 1]`` (divide uint8 by 255). Each embedder
aligns the faces itself: with ``landmarks`` (``(B, 68, 2)`` iBUG points or Deep3D's 5 points, in
continuous pixels of ``images``) it maps them by a least-squares similarity onto its own template
(dlib's ``get_face_chip_details`` mean face; insightface's 5-point ArcFace template) and resamples
with bilinear interpolation, low-pass filtered when it shrinks the face (as dlib's chip extraction
does); without landmarks the images must be square crops aligned by :mod:`facelib.align` (renders
are), whose template points are used. Everything is differentiable in the images.

An embedder that cannot be built here raises :class:`EmbedderUnavailable` whose message says why
and what would fix it; :func:`availability` reports this for all of them, and evaluation turns it
into a skipped column.

This module holds the interface — the :class:`Embedder` base class and its alignment
(:func:`similarity_lstsq`), :data:`NAMES`, :func:`load`, :func:`availability` — and the FaceNet
and ArcFace networks and loaders; the dlib network is :mod:`facelib.dlib_resnet` (``DlibResNet`` is
importable from here too), and its check against dlib itself is :mod:`facelib.evaluation.ports`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from . import assets
from .align import PYRAMID_SHIFT, warp_affine
from .errors import FacelibError
from .landmarks import five_points

NAMES = ("dlib", "facenet", "arcface")


class EmbedderUnavailable(FacelibError):
    """This embedder cannot be built on this machine; the message says why and how to fix it."""


# --------------------------------------------------------------------------- alignment


def similarity_lstsq(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares 2D similarity (rotation, uniform scale, translation; Umeyama 1991) mapping
    ``source`` ``(B, N, 2)`` onto ``target`` ``(B|1, N, 2)``; returns ``(B, 2, 3)`` ``[A | b]``.

    Written with complex numbers: ``z' = a z + c`` with ``a = Σ conj(s̃) t̃ / Σ |s̃|²`` for centred
    points, which is dlib's ``find_similarity_transform`` for non-degenerate point sets.
    """
    s = torch.complex(source[..., 0].double(), source[..., 1].double())
    t = torch.complex(target[..., 0].double(), target[..., 1].double())
    s_mean, t_mean = s.mean(-1, keepdim=True), t.mean(-1, keepdim=True)
    sc, tc = s - s_mean, t - t_mean
    a = (sc.conj() * tc).sum(-1) / (sc.abs() ** 2).sum(-1).clamp_min(1e-12)
    c = t_mean[..., 0] - a * s_mean[..., 0]
    row0 = torch.stack([a.real, -a.imag, c.real], -1)
    row1 = torch.stack([a.imag, a.real, c.imag], -1)
    return torch.stack([row0, row1], -2)


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3:
        raise FacelibError(
            f"images must be a (B, 3, H, W) float tensor, got "
            f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}; "
            "for a uint8 (H, W, 3) array use torch.from_numpy(a).permute(2, 0, 1)[None] / 255")
    if not images.is_floating_point():
        raise FacelibError("images must be float RGB in [0, 1]; divide uint8 images by 255")
    if images.numel() and float(images.detach().amax()) > 4.0:  # renders may overshoot 1 a little
        raise FacelibError("images look like 0-255 values; embedders take float RGB in [0, 1] "
                           "(divide by 255)")
    return images


class Embedder(nn.Module):
    """Base class: a network on aligned ``size × size`` chips plus its own alignment."""

    name: str = ""
    dim: int = 0
    size: int = 0

    def template(self, n_points: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices, points)``: which landmarks are used and where they go in the chip."""
        raise NotImplementedError

    def normalise(self, chips: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` ``[0, 1]`` RGB chips → the network's input, same shape."""
        raise NotImplementedError

    def chip_maps(self, images: torch.Tensor, landmarks=None) -> torch.Tensor:
        """The ``(B, 2, 3)`` chip → image maps used by :meth:`chips`."""
        b, _, h, w = images.shape
        if landmarks is None:
            if h != w:
                raise FacelibError(
                    f"without landmarks the images must be square crops aligned by facelib.align "
                    f"(got {h}×{w}); pass landmarks=(B, 68, 2) or (B, 5, 2) for other images")
            from .align import template

            lm = torch.as_tensor(template(h), dtype=torch.float64)[None].expand(b, -1, -1)
        else:
            lm = torch.as_tensor(landmarks).to(torch.float64)
            if lm.dim() == 2:
                lm = lm[None]
            if lm.shape[0] != b or lm.shape[-2] not in (5, 68) or lm.shape[-1] != 2:
                raise FacelibError(f"landmarks must be ({b}, 68, 2) or ({b}, 5, 2), got {tuple(lm.shape)}")
            if not torch.isfinite(lm).all():
                raise FacelibError("landmarks contain NaN/inf; detect the faces first (facelib.detect)")
        idx, dst = self.template(lm.shape[-2])
        src = lm[:, idx] if idx is not None else five_points(lm)
        return similarity_lstsq(dst[None].expand(b, -1, -1), src)

    pyramid_shift = PYRAMID_SHIFT

    def chips(self, images: torch.Tensor, landmarks=None) -> torch.Tensor:
        """The aligned ``(B, 3, size, size)`` chips the network sees (``[0, 1]`` RGB)."""
        images = _check_images(images)
        return warp_affine(images, self.chip_maps(images, landmarks), self.size,
                            pyramid_shift=self.pyramid_shift)

    def embed(self, images: torch.Tensor, landmarks=None) -> torch.Tensor:
        """``(B, 3, H, W)`` float RGB in ``[0, 1]`` → ``(B, dim)`` embeddings (not normalised)."""
        chips = self.chips(images, landmarks).to(self._dtype())
        return self(self.normalise(chips))

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


# --------------------------------------------------------------------------- ArcFace / FaceNet

# insightface's 5-point template for 112 × 112 ArcFace crops (``face_align.arcface_dst``): eye
# centres, nose tip, mouth corners — the semantics of Deep3D's five points (landmarks.five_points).
ARCFACE_TEMPLATE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                        (41.5493, 92.3655), (70.7299, 92.2041))


def _five_point_template(size: int) -> tuple[None, torch.Tensor]:
    return None, torch.tensor(ARCFACE_TEMPLATE_112, dtype=torch.float64) * (size / 112.0)


class _IBasicBlock(nn.Module):
    """insightface's pre-activation block: BN → conv3×3 → BN → PReLU → conv3×3(stride) → BN, plus
    a (conv1×1 + BN) shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(Embedder):
    """ArcFace's improved ResNet (Deng et al. 2019, insightface ``arcface_torch/backbones/
    iresnet.py``): 112 px → 512-D; iresnet-50 has 3-4-14-3 blocks. Parameter names follow the
    released ``backbone.pth`` so its state dict loads as is."""

    name, dim, size = "arcface", 512, 112

    def __init__(self, layers=(3, 4, 14, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (n, cout) in enumerate(zip(layers, (64, 128, 256, 512), strict=True), 1):
            blocks = [_IBasicBlock(cin, cout, 2)] + [_IBasicBlock(cout, cout, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            cin = cout
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(512 * 7 * 7, 512)
        self.features = nn.BatchNorm1d(512, eps=1e-5)

    def template(self, n_points):
        return _five_point_template(self.size)

    def normalise(self, chips):
        return (chips - 0.5) / 0.5

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn2(x).flatten(1))
        return self.features(self.fc(x))


class FaceNet(Embedder):
    """FaceNet (Schroff et al. 2015) as facenet-pytorch's ``InceptionResnetV1`` trained on
    VGGFace2: 160 px → 512-D (facenet-pytorch L2-normalises its output). Input standardisation
    ``(255·x − 127.5) / 128`` (``fixed_image_standardization``). facenet-pytorch crops with its
    MTCNN box; here the five points are mapped onto the ArcFace template scaled to 160 px, which
    frames the face the same way for landmarks from any detector."""

    name, dim, size = "facenet", 512, 160

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def template(self, n_points):
        return _five_point_template(self.size)

    def normalise(self, chips):
        return (chips * 255.0 - 127.5) / 128.0

    def forward(self, x):
        return self.net(x)


# --------------------------------------------------------------------------- loading

FACENET_FILE = "20180402-114759-vggface2.pt"
FACENET_URL = f"https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/{FACENET_FILE}"
ARCFACE_FILE = "backbone.pth"
WEIGHTS_HELP = (  # names no folder of this machine: the text ends up in stored notebook outputs
    "put the file in $FACELIB_MIRROR/{folder}/ or $FACELIB_HOME/{folder}/ (default ~/.cache/facelib; "
    "or pass weights=PATH)")


def local_weights(folder: str, filename: str, extra: tuple[Path, ...] = ()) -> Path | None:
    """A weights file that no registry ships, looked up in ``$FACELIB_HOME/<folder>/``, then
    ``$FACELIB_MIRROR/<folder>/``, then ``extra`` folders; ``None`` when absent."""
    places = [assets.home() / folder]
    if assets.mirror() is not None:
        places.append(assets.mirror() / folder)
    for place in (*places, *extra):
        if (place / filename).is_file():
            return place / filename
    return None


def import_facenet_pytorch():
    """``facenet_pytorch``, or :class:`EmbedderUnavailable` saying why it does not import."""
    try:
        import facenet_pytorch
    except ImportError as err:
        missing = getattr(err, "name", "") or ""
        if missing.startswith("facenet_pytorch"):
            why = "facenet-pytorch is not installed (`pip install --no-deps facenet-pytorch==2.6.0`)"
        else:
            why = (f"facenet-pytorch does not import ({err}); its package imports torchvision, "
                   "and a torchvision that does not match the installed torch (e.g. PyPI's CUDA build next "
                   "to a CPU-only torch) fails to load. It works where a matching torchvision is installed "
                   "(Colab, GPU boxes; `pip install torchvision` from the index your torch came from)")
        raise EmbedderUnavailable(f"FaceNet unavailable here because {why}") from None
    except Exception as err:  # a broken torchvision raises RuntimeError at import
        raise EmbedderUnavailable(
            f"FaceNet unavailable here because facenet-pytorch fails to import ({type(err).__name__}: "
            f"{err}); it needs a torchvision built for this torch (install it from the index your torch "
            "came from)") from None
    return facenet_pytorch


def facenet(weights: str | Path = "vggface2", allow_download: bool = True) -> FaceNet:
    """FaceNet with ``weights``: ``"vggface2"`` (a local copy, see :func:`local_weights`, or
    ``$TORCH_HOME/checkpoints``; else downloaded by facenet-pytorch when ``allow_download``),
    a path to that state dict, or ``"random"``."""
    fp = import_facenet_pytorch()
    net = fp.InceptionResnetV1(pretrained=None, classify=False)
    if weights != "random":
        torch_home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                               Path.home() / ".cache") / "torch")
        path = Path(weights) if weights != "vggface2" else local_weights(
            "facenet-vggface2", FACENET_FILE, (torch_home / "checkpoints",))
        if path is None:
            if not allow_download:
                raise EmbedderUnavailable(
                    f"FaceNet unavailable here because its weights {FACENET_FILE} are not local and "
                    f"downloads are off; " + WEIGHTS_HELP.format(folder="facenet-vggface2"))
            try:
                path = Path(assets.home() / "facenet-vggface2" / FACENET_FILE)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(assets.download(FACENET_URL))
            except FacelibError as err:
                raise EmbedderUnavailable(
                    f"FaceNet unavailable here because its weights could not be downloaded ({err}); "
                    + WEIGHTS_HELP.format(folder="facenet-vggface2")) from None
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("logits.")}
        net.load_state_dict(state)
    return FaceNet(net).float().eval().requires_grad_(False)


def arcface(weights: str | Path = "ms1mv3") -> IResNet:
    """ArcFace iresnet-50 with ``weights``: ``"ms1mv3"`` (insightface ``arcface_torch``
    ``ms1mv3_arcface_r50_fp16/backbone.pth``, looked up by :func:`local_weights` in folder
    ``arcface-r50``), a path to a state dict, or ``"random"``."""
    net = IResNet()
    if weights != "random":
        path = Path(weights) if weights != "ms1mv3" else local_weights("arcface-r50", ARCFACE_FILE)
        if path is None or not path.is_file():
            raise EmbedderUnavailable(
                "ArcFace unavailable here because the iresnet-50 weights (insightface arcface_torch "
                "ms1mv3_arcface_r50_fp16/backbone.pth, distributed through OneDrive/Baidu links in "
                "the insightface model zoo, on no package registry) are not present; "
                + WEIGHTS_HELP.format(folder="arcface-r50"))
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.float().eval().requires_grad_(False)


def load(name: str, weights=None, allow_download: bool = True) -> Embedder:
    """The embedder ``name`` (one of :data:`NAMES`) in eval mode with frozen parameters (gradients
    still flow to the images). Raises :class:`EmbedderUnavailable` with the reason and the fix."""
    if name == "dlib":
        from .dlib_resnet import dlib_resnet

        return dlib_resnet(weights or "face-api")
    if name == "facenet":
        return facenet(weights or "vggface2", allow_download)
    if name == "arcface":
        return arcface(weights or "ms1mv3")
    raise FacelibError(f"unknown embedder {name!r}; known: {', '.join(NAMES)}")


def availability(allow_download: bool = False) -> dict[str, str | None]:
    """``{name: None}`` for embedders that load here, ``{name: reason}`` for the others."""
    out = {}
    for name in NAMES:
        try:
            load(name, allow_download=allow_download)
            out[name] = None
        except FacelibError as err:
            out[name] = str(err)
    return out


def __getattr__(name: str):
    """``recognition.DlibResNet``: the ``"dlib"`` embedder's class (:mod:`facelib.dlib_resnet`),
    imported on first use — the port subclasses :class:`Embedder`, so this module cannot import it
    at the top."""
    if name == "DlibResNet":
        from .dlib_resnet import DlibResNet

        return DlibResNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
