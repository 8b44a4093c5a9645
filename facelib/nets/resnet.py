"""ResNet encoders (He et al. 2016) written here, so facelib never imports torchvision.

:func:`resnet` builds ResNet-18/34/50 (or a tiny one for smoke tests) with a linear coefficient
head whose weights and bias start at zero: an untrained network predicts the all-zero coefficient
vector, i.e. the mean face, frontal, under the default light (Deep3D initialises its last layer
the same way). ``"dlib_face"`` is :class:`FaceEncoder`: dlib's face-recognition ResNet with its
pretrained weights under the same zero head — the offline stand-in for pretrained weights (issue 34).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import FacelibError


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = _shortcut(cin, width, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut = _shortcut(cin, out, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        return torch.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


ARCHS = {
    # name: (block, blocks per stage, base width)
    "resnet_tiny": (BasicBlock, (1, 1, 1, 1), 16),
    "resnet18": (BasicBlock, (2, 2, 2, 2), 64),
    "resnet34": (BasicBlock, (3, 4, 6, 3), 64),
    "resnet50": (Bottleneck, (3, 4, 6, 3), 64),
}


class ResNet(nn.Module):
    """ResNet trunk + global average pooling + zero-initialised linear head.

    Input ``(B, 3, H, W)`` in [0, 1] (any H, W ≥ 32); output ``(B, n_outputs)``.
    """

    def __init__(self, arch: str, n_outputs: int):
        super().__init__()
        if arch not in ARCHS:
            raise FacelibError(f"unknown backbone {arch!r}; choose one of {sorted(ARCHS) + sorted(PRETRAINED)}")
        block, depths, base = ARCHS[arch]
        self.arch = arch
        self.stem = nn.Sequential(
            nn.Conv2d(3, base, 7, 2, 3, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, cin = [], base
        for i, n in enumerate(depths):
            width = base * 2**i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, stride=2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.feature_dim = cin
        self.head = nn.Linear(cin, n_outputs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, feature_dim)``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] → ``(B, n_outputs)`` head outputs (e.g. coefficients)."""
        return self.head(self.features(x))


class FaceEncoder(nn.Module):
    """dlib's face-recognition ResNet (King 2009; pretrained on about 3 million real faces, weights
    offline in the ``face-api-recognition`` asset) as a coefficient encoder: the whole input image
    (no chip alignment) resized to the network's 150 px, its pooled 256-D trunk features and its
    128-D descriptor, then a zero-initialised linear head — so it starts at the mean face, like
    :class:`ResNet`. Deep3D's and FOCUS's encoders start from ImageNet weights and ORN's teacher from
    Deep3D's released R-Net; none is available offline, and a network trained from random weights
    here never learns identity (DESIGN-NOTES 36). Every layer is trained.

    Input ``(B, 3, H, W)`` in [0, 1]; output ``(B, n_outputs)``.
    """

    SIZE = 150

    def __init__(self, n_outputs: int):
        super().__init__()
        from ..dlib_resnet import dlib_resnet

        self.arch = "dlib_face"
        self.net = dlib_resnet("face-api").requires_grad_(True)
        self.feature_dim = 256 + self.net.dim
        self.head = nn.Linear(self.feature_dim, n_outputs)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features and descriptor, concatenated: ``(B, 384)``."""
        if x.shape[-2:] != (self.SIZE, self.SIZE):
            x = nn.functional.interpolate(x, size=(self.SIZE, self.SIZE), mode="bilinear", align_corners=False)
        net = self.net
        x = nn.functional.max_pool2d(torch.relu(net.stem(net.normalise(x))), 3, 2)
        for block in net.blocks.values():
            x = block(x)
        pooled = x.mean((2, 3))
        return torch.cat([pooled, net.fc(pooled)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] → ``(B, n_outputs)``."""
        return self.head(self.features(x))


#: encoders with pretrained weights, beside :data:`ARCHS` (trained from random weights)
PRETRAINED = {"dlib_face": FaceEncoder}


def resnet(arch: str, n_outputs: int) -> nn.Module:
    """A :class:`ResNet` of architecture ``arch`` (or a :data:`PRETRAINED` encoder) predicting
    ``n_outputs`` values."""
    if arch in PRETRAINED:
        return PRETRAINED[arch](n_outputs)
    return ResNet(arch, n_outputs)
