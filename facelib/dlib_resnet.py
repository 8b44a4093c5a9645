"""The torch port of dlib's face-recognition ResNet-34 (King 2009; DESIGN-NOTES 11): the ``"dlib"``
embedder of :mod:`facelib.recognition`.

dlib's ``dlib_face_recognition_resnet_model_v1`` (150 px chips → 128-D descriptors) rebuilt as
:class:`DlibResNet`, an :class:`facelib.recognition.Embedder` with dlib's own chip geometry (its
mean face, ``chip_details`` and pyramid), and its weights read from the uint8-quantised tfjs files of
npm ``@vladmandic/face-api@1.7.15`` (asset ``face-api-recognition``: a ``.bin`` and its manifest,
decoded by :func:`dequantise`). :func:`dlib_resnet` builds it with those weights; the check of the
port against dlib itself is :func:`facelib.evaluation.ports.compare_with_dlib`.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import assets
from .align import DLIB_PYRAMID_SHIFT
from .errors import FacelibError
from .landmarks import five_points
from .recognition import Embedder

FACE_API_ASSET = "face-api-recognition"

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
        """Activations ``(B, C_k, H_k, W_k)``, one per named residual block, of ``(B, 3, H, W)`` ``[0, 1]``
        RGB images as they are (no chip alignment): a fixed, face-trained convolutional feature network for style and perceptual
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
