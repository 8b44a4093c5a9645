"""Identity read from a face-recognition network on the aligned chip (issue 34).

MICA (Zielonka et al., ECCV 2022) reads a face model's identity from ArcFace on an aligned crop. A
ResNet trained here on whole images from exact coefficients learns pose, expression and landmarks
but not identity (DESIGN-NOTES 36); dlib's face-recognition network, pretrained on about 3 million
real faces, reads it from the chip aligned at the face's landmarks. :class:`ChipIdentity` is that
reader; :class:`IdentityReading` puts it inside a coefficient encoder, so that every method built on
:class:`facelib.methods.regressor.Regressor` — ORN's teacher and students, ROGUE, FOCUS, the contour
method — predicts identity through it without knowing it is there.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: the reader's head learns this many times faster than the rest: from zero it must grow to the scale
#: of the map from descriptors (elements ~0.1) to unit-variance coefficients, and Adam moves a weight by
#: at most its rate per step — at Deep3D's 1e-4 it had not begun to learn identity after 700 steps,
#: at 1e-3 it had (DESIGN-NOTES 36)
READER_HEAD_LR_SCALE = 10.0


class ChipIdentity(nn.Module):
    """Identity coefficients from the face-recognition network's descriptor of the chip aligned at
    given landmarks: the embedder (every layer trained) and a zero-initialised linear head, so it
    starts at the mean identity.

    Args:
        n_identity: the model's identity coefficients.
        embedder: :mod:`facelib.recognition` name (offline weights).
    """

    def __init__(self, n_identity: int, embedder: str = "dlib"):
        super().__init__()
        from ..recognition import load

        self.trunk = load(embedder, allow_download=False).requires_grad_(True)
        self.head = nn.Linear(self.trunk.dim, n_identity)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def param_groups(self, lr: float) -> list[dict]:
        """Adam parameter groups: the trunk at ``lr``, the head at :data:`READER_HEAD_LR_SCALE` × ``lr``."""
        return [{"params": list(self.trunk.parameters()), "lr": lr},
                {"params": list(self.head.parameters()), "lr": READER_HEAD_LR_SCALE * lr}]

    def forward(self, images: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] and their ``(B, 68, 2)`` landmarks (pixels) → ``(B, n_identity)``."""
        return self.head(self.trunk.embed(images.float(), landmarks).float())


class IdentityReading(nn.Module):
    """A coefficient encoder whose identity block is read by a :class:`ChipIdentity` at the landmarks
    of the encoder's own prediction (no detector: the network places the chip itself).

    Args:
        encoder: image → ``(B, heads · total)`` coefficients (e.g. :func:`facelib.nets.resnet.resnet`).
        reader: the :class:`ChipIdentity`.
        total: the coefficient vector's length; identity: the identity block's slice in it.
        landmarks: ``(B, total)`` coefficients → ``(B, 68, 2)`` landmarks in the input's pixels (the
            method's renderer; not a module, so not part of the state).
    """

    def __init__(self, encoder: nn.Module, reader: ChipIdentity, total: int, identity: slice,
                 landmarks: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.encoder, self.reader = encoder, reader
        self.total, self.identity = total, identity
        self.__dict__["_landmarks"] = landmarks

    @property
    def head(self) -> nn.Linear:
        """The encoder's coefficient head (ORN reads its weights)."""
        return self.encoder.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, heads · total)``: the encoder's coefficients, each head's identity
        replaced by the reader's (one chip per image, at the first head's landmarks)."""
        raw = self.encoder(x)
        b = raw.shape[0]
        c = raw.view(b, -1, self.total)
        with torch.no_grad():
            lm = self.__dict__["_landmarks"](c[:, 0].detach().float())
        ident = self.reader(x, lm).to(c.dtype)[:, None].expand(-1, c.shape[1], -1)
        s = self.identity
        return torch.cat([c[..., :s.start], ident, c[..., s.stop:]], -1).reshape(b, -1)
