"""Face embedders behind one interface: ``embed(images, landmarks=None) -> (B, D)`` (DESIGN 3, 4, 7).

* ``"dlib"`` — dlib's ResNet-34 face descriptor (King 2009; 128-D, 150 px chips), ported to torch
  from the uint8-quantised tfjs weights in npm ``@vladmandic/face-api@1.7.15`` (asset
  ``face-api-recognition``). Offline, differentiable, ~0.1 s per 16 faces on CPU: the project's
  identity loss and its always-available perceptual metric.
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
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import assets
from .align import DLIB_PYRAMID_SHIFT, PYRAMID_SHIFT, warp_affine
from .errors import FacelibError
from .landmarks import five_points

FACE_API_ASSET = "face-api-recognition"
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
        """``[0, 1]`` RGB chips → the network's input."""
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


# --------------------------------------------------------------------------- dlib ResNet-34

# dlib's mean face (dlib/image_transforms/interpolation.h, get_face_chip_details): points 17..67
# of the iBUG layout in the unit square; dlib fits its chip on 33 of them (no brows, no lower lip).
_DLIB_MEAN_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991,
    0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217,
    0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428,
    0.793132, 0.858516, 0.79751, 0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395,
    0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532, 0.338094, 0.290379, 0.428096,
    0.490127, 0.552157, 0.689874, 0.553364, 0.490127, 0.42689)
_DLIB_MEAN_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482,
    0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106,
    0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733,
    0.179852, 0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578,
    0.727388, 0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792,
    0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182)
DLIB_CHIP_POINTS = tuple(i for i in range(27, 68) if not (55 <= i <= 59 or 65 <= i <= 67))
# dlib's input layer (input_rgb_image_sized<150>): subtract these means (0-255 RGB), divide by 256.
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)


def dlib_template(size: int = 150, padding: float = 0.25) -> torch.Tensor:
    """dlib's mean face points 17..67 ``(68, 2)`` (rows 0..16 NaN) in a ``size`` chip with
    ``padding`` (``compute_face_descriptor``'s defaults), as continuous pixels (dlib's integer
    pixel coordinates + 0.5)."""
    out = torch.full((68, 2), float("nan"), dtype=torch.float64)
    xy = torch.tensor([_DLIB_MEAN_X, _DLIB_MEAN_Y], dtype=torch.float64).T
    out[17:] = (padding + xy) / (2 * padding + 1) * size + 0.5
    return out


def dequantise(manifest: dict, blob: bytes) -> dict[str, np.ndarray]:
    """tfjs weights: the ``.bin`` holds the arrays of the manifest in order; uint8-quantised ones
    decode as ``q * scale + min`` (tfjs ``io.decodeWeights``), the others are raw float32."""
    out, offset = {}, 0
    for spec in manifest["weights"]:
        n = int(np.prod(spec["shape"]))
        q = spec.get("quantization")
        if q:
            if q["dtype"] != "uint8":
                raise FacelibError(f"unsupported tfjs quantisation {q['dtype']!r} for {spec['name']}")
            raw = np.frombuffer(blob, np.uint8, n, offset).astype(np.float64)
            arr = raw * q["scale"] + q["min"]
            offset += n
        else:
            arr = np.frombuffer(blob, "<f4", n, offset).astype(np.float64)
            offset += 4 * n
        out[spec["name"]] = arr.reshape(spec["shape"])
    if offset != len(blob):
        raise FacelibError(f"tfjs weights: manifest covers {offset} bytes, file has {len(blob)}")
    return out


class _ConvScale(nn.Conv2d):
    """dlib's ``con`` followed by its ``affine`` layer, folded into one convolution."""

    def load_tfjs(self, w: dict[str, np.ndarray], prefix: str) -> None:
        filt = torch.from_numpy(w[f"{prefix}/conv/filters"]).permute(3, 2, 0, 1)  # HWIO -> OIHW
        gain = torch.from_numpy(w[f"{prefix}/scale/weights"])
        bias = torch.from_numpy(w[f"{prefix}/conv/bias"]) * gain + torch.from_numpy(w[f"{prefix}/scale/biases"])
        with torch.no_grad():
            self.weight.copy_(filt * gain[:, None, None, None])
            self.bias.copy_(bias)


class _Residual(nn.Module):
    """dlib's ``residual`` / ``residual_down`` block: relu(conv-relu-conv(x) + x), where the down
    version strides its first conv by 2 and adds a 2×2 average pool of ``x``, zero-padded in
    channels (and by a row/column when the sizes differ, as dlib's ``add_prev`` does)."""

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = _ConvScale(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.conv2 = _ConvScale(cout, cout, 3, padding=1)

    def forward(self, x):
        out = self.conv2(F.relu(self.conv1(x)))
        if self.down:
            x = F.avg_pool2d(x, 2, 2)
            dh, dw = x.shape[-2] - out.shape[-2], x.shape[-1] - out.shape[-1]
            out = F.pad(out, (0, max(dw, 0), 0, max(dh, 0)))
            x = F.pad(x, (0, max(-dw, 0), 0, max(-dh, 0), 0, out.shape[1] - x.shape[1]))
        return F.relu(out + x)


class DlibResNet(Embedder):
    """dlib's face descriptor network (``dlib_face_recognition_resnet_model_v1``; King 2009,
    dlib.net/dnn_face_recognition_ex.cpp): 150 px chip → 128-D; two descriptors of the same person
    are usually closer than 0.6 (Euclidean) and of different people farther."""

    name, dim, size = "dlib", 128, 150
    pyramid_shift = DLIB_PYRAMID_SHIFT
    BLOCKS = (("conv32_1", 32, 32, False), ("conv32_2", 32, 32, False), ("conv32_3", 32, 32, False),
              ("conv64_down", 32, 64, True), ("conv64_1", 64, 64, False), ("conv64_2", 64, 64, False),
              ("conv64_3", 64, 64, False), ("conv128_down", 64, 128, True),
              ("conv128_1", 128, 128, False), ("conv128_2", 128, 128, False),
              ("conv256_down", 128, 256, True), ("conv256_1", 256, 256, False),
              ("conv256_2", 256, 256, False), ("conv256_down_out", 256, 256, True))

    def __init__(self, padding: float = 0.25):
        super().__init__()
        self.padding = padding
        self.stem = _ConvScale(3, 32, 7, stride=2)
        self.blocks = nn.ModuleDict({n: _Residual(i, o, d) for n, i, o, d in self.BLOCKS})
        self.fc = nn.Linear(256, 128, bias=False)
        self.register_buffer("mean", torch.tensor(DLIB_MEAN_RGB).view(1, 3, 1, 1) / 255.0)
        full = dlib_template(self.size, padding)
        self._t68 = (torch.tensor(DLIB_CHIP_POINTS), full[list(DLIB_CHIP_POINTS)])
        self._t5 = (None, five_points(full))

    def template(self, n_points):
        return self._t68 if n_points == 68 else self._t5

    def chip_maps(self, images, landmarks=None):
        """dlib's ``chip_details`` convention: the fitted similarity fixes the chip's centre
        (``T(size/2)``, dlib pixel coordinates) and its rotation; the chip's first and last pixel
        centres then span the corners of a ``size·s − 1`` wide rectangle (``centered_drect``
        subtracts one), i.e. a scale of ``(size·s − 1)/(size − 1)`` about dlib pixel
        ``(size−1)/2``."""
        t = super().chip_maps(images, landmarks)  # continuous coordinates
        lin, n = t[:, :, :2], self.size
        centre = t[:, :, 2] + lin @ t.new_full((2,), n / 2 + 0.5) - 0.5  # dlib coords of T(n/2)
        s = torch.linalg.det(lin).abs().sqrt()[:, None, None]
        lin = lin * (n * s - 1) / ((n - 1) * s)
        # image_dlib = centre + lin (c_dlib − (n−1)/2), with dlib = continuous − 0.5 on both sides
        shift = centre + 0.5 - lin @ t.new_full((2,), (n - 1) / 2 + 0.5)
        return torch.cat([lin, shift[..., None]], -1)

    def normalise(self, chips):
        return (chips - self.mean) * (255.0 / 256.0)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        for block in self.blocks.values():
            x = block(x)
        return self.fc(x.mean((2, 3)))

    #: the layers :meth:`trunk_features` returns by default (one per resolution before the last)
    STYLE_LAYERS = ("conv32_3", "conv64_3", "conv128_2")

    def trunk_features(self, images: torch.Tensor, names=STYLE_LAYERS) -> list[torch.Tensor]:
        """Activations of the named residual blocks for ``[0, 1]`` RGB images as they are (no chip
        alignment): a fixed, face-trained convolutional feature network for style and perceptual
        image losses — the contour-guided method's Eq. (6) asks for VGG features, whose ImageNet
        weights are not available offline."""
        x = F.max_pool2d(F.relu(self.stem(self.normalise(images))), 3, 2)
        out = []
        for name, block in self.blocks.items():
            x = block(x)
            if name in names:
                out.append(x)
                if len(out) == len(names):
                    break
        return out

    def load_tfjs(self, weights: dict[str, np.ndarray]) -> "DlibResNet":
        self.stem.load_tfjs(weights, "conv32_down")
        for name, block in self.blocks.items():
            block.conv1.load_tfjs(weights, f"{name}/conv1")
            block.conv2.load_tfjs(weights, f"{name}/conv2")
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(weights["fc"]).T)
        return self


@functools.lru_cache(maxsize=1)
def _dlib_weights() -> dict[str, np.ndarray]:
    folder = assets.path(FACE_API_ASSET)
    manifest = json.loads((folder / "face_recognition_model-weights_manifest.json").read_text())
    return dequantise(manifest[0], (folder / "face_recognition_model.bin").read_bytes())


def dlib_resnet(weights: str = "face-api", padding: float = 0.25) -> DlibResNet:
    """The dlib descriptor with the face-api weights (``weights="random"`` for a fresh network)."""
    net = DlibResNet(padding)
    if weights == "face-api":
        net.load_tfjs(_dlib_weights())
    elif weights != "random":
        raise FacelibError(f"dlib weights are 'face-api' or 'random', not {weights!r}")
    return net.float().eval().requires_grad_(False)


@dataclass
class Agreement:
    """One face: our descriptor and dlib's ``compute_face_descriptor`` on the same landmarks."""

    photo: str
    variant: str
    cosine: float
    norm_ratio: float
    ours: np.ndarray = field(repr=False)
    theirs: np.ndarray = field(repr=False)


def dlib_reference():
    """``(dlib, HOG detector, 68-point predictor, face_recognition_model_v1)`` — dlib's own
    pipeline that the port is checked against (needs ``dlib-bin`` and the ``dlib-models`` asset)."""
    from .detect import import_dlib

    dlib = import_dlib()
    folder = assets.path("dlib-models")
    return (dlib, dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")))


def compare_with_dlib(net: DlibResNet | None = None, photos=None) -> list[Agreement]:
    """Run dlib (HOG detector, 68-point predictor, ``compute_face_descriptor``) and the torch port
    (:meth:`Embedder.embed` with dlib's landmarks) on the mini-set photos and their mirrored and
    shifted copies (:func:`facelib.data.miniset.variants`); the largest face of each original,
    found again in its copies. Needs dlib (``dlib-bin``) and the ``dlib-models`` asset."""
    from .data import miniset

    _, detector, predictor, facerec = dlib_reference()
    net = net or dlib_resnet()

    def centre(r):
        return np.array([(r.left() + r.right() + 1) / 2, (r.top() + r.bottom() + 1) / 2])

    rows = []
    for name in photos or miniset.PHOTOS:
        first = None
        for variant, (img, moved) in miniset.variants(name).items():
            rects = list(detector(img, 1))
            if not rects:
                raise FacelibError(f"{name} ({variant}): dlib's HOG detector found no face")
            if first is None:
                first = centre(max(rects, key=lambda r: r.area()))
            rect = min(rects, key=lambda r: np.linalg.norm(centre(r) - moved(first)))
            shape = predictor(img, rect)
            theirs = np.array(facerec.compute_face_descriptor(img, shape))
            lm = torch.tensor([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=torch.float64)[None]
            x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                ours = net.embed(x, lm)[0].double().numpy()
            rows.append(Agreement(name, variant, float(ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs)),
                                  float(np.linalg.norm(ours) / np.linalg.norm(theirs)), ours, theirs))
    return rows


def pair_distances(rows: list[Agreement]) -> tuple[list[float], list[float]]:
    """Euclidean distances between our descriptors: (same photo's copies, different photos)."""
    same, different = [], []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            (same if a.photo == b.photo else different).append(float(np.linalg.norm(a.ours - b.ours)))
    return same, different


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


def main(argv=None) -> int:
    """``python -m facelib.recognition``: which embedders load here, and the torch port of dlib's
    descriptor against dlib on the mini-set (cosine per photo, same/different-person distances)."""
    import argparse

    argparse.ArgumentParser(prog="python -m facelib.recognition", description=main.__doc__).parse_args(argv)
    for name, reason in availability().items():
        print(f"{name:8s} {'available' if reason is None else reason}")
    rows = compare_with_dlib()
    for r in rows:
        print(f"{r.photo:22s} {r.variant:9s} cosine(torch, dlib) = {r.cosine:.5f}  |ours|/|dlib| = {r.norm_ratio:.4f}")
    same, different = pair_distances(rows)
    print(f"min cosine {min(r.cosine for r in rows):.5f} over {len(rows)} faces; same person: max distance "
          f"{max(same):.3f} ({len(same)} pairs); different people: min {min(different):.3f} ({len(different)} pairs)")
    return 0


if __name__ == "__main__":
    from .errors import run_cli

    run_cli(main)
