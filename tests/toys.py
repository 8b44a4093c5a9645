"""Method-shaped toys for the training-loop tests: a tiny regression data set and an MLP method."""

from __future__ import annotations

import os
import signal

import torch
from torch import nn

from facelib import train as T
from facelib.losses import coefficient_regularizer, landmark_loss
from facelib.methods.base import Method
from facelib.methods.regressor import Regressor


class Points(torch.utils.data.Dataset):
    """x ~ N(0, 1) in 4-D, y = A x + noise: a regression every method-shaped toy can learn."""

    def __init__(self, n=64, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.randn(4, 3, generator=g) + 0.01 * torch.randn(n, 3, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i], "index": i}


class Toy(Method):
    """A small MLP with batch norm and dropout (state and randomness that a resume must restore)."""

    name = "toy"

    def __init__(self, interrupt_at=None, lr=1e-2):
        super().__init__()
        torch.manual_seed(1)
        self.nets["encoder"] = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                                             nn.Linear(16, 3))
        self.optimizers["encoder"] = torch.optim.Adam(self.nets["encoder"].parameters(), lr=lr)
        self.interrupt_at, self.calls, self.lr = interrupt_at, 0, lr

    def hyperparameters(self):
        return {"lr": self.lr}

    def train_step(self, batch, step):
        self.calls += 1
        if self.calls == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # as the Jupyter interrupt button does
        pred = self.nets["encoder"](batch["x"])
        return {"total": (pred - batch["y"]).square().mean(), "noise": torch.rand(())}

    def predict(self, x):
        return self.nets["encoder"](x)

    def validation_step(self, batch):
        return {"mse": float((self.predict(batch["x"]) - batch["y"]).square().mean())}


CONFIG = T.TrainConfig(steps=30, batch_size=8, seed=3, log_every=5, val_every=10, checkpoint_every=12)


def tiny_synthetic_set(factory, model, name: str, seed: int, identities: int = 4, variants: int = 3, size: int = 64):
    """A small synthetic benchmark (``factory``: pytest's ``tmp_path_factory``) for method tests."""
    from facelib.data import synthetic

    root = factory.mktemp(name) / "set"
    synthetic.generate(root, synthetic.SyntheticConfig(identities=identities, variants=variants, image_size=size,
                                                       seed=seed), progress=False, model=model)
    return root


def interrupting(cls, at: int):
    """A subclass of method class ``cls`` whose ``train_step`` receives SIGINT (as from the Jupyter
    interrupt button) during its ``at``-th call; same name and arguments, so the same run."""

    class Interrupting(cls):
        def train_step(self, batch, step):
            self._calls = getattr(self, "_calls", 0) + 1
            if self._calls == at:
                os.kill(os.getpid(), signal.SIGINT)
            return super().train_step(batch, step)

    Interrupting.__name__ = f"Interrupting{cls.__name__}"
    return Interrupting


class Plain(Method):
    """An MLP without batch norm or dropout: its training is a function of the batches alone, so a
    run sharded over processes must match one process at the same global batch (the DDP test)."""

    name = "plain"

    def __init__(self, lr=1e-2):
        super().__init__()
        torch.manual_seed(1)
        self.nets["encoder"] = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        self.optimizers["encoder"] = torch.optim.Adam(self.nets["encoder"].parameters(), lr=lr)
        self.lr, self.seen = lr, []

    def hyperparameters(self):
        return {"lr": self.lr}

    def train_step(self, batch, step):
        self.seen += [int(i) for i in batch["index"]]  # which samples this process trained on
        return {"total": (self.nets["encoder"](batch["x"]) - batch["y"]).square().mean()}

    def predict(self, x):
        return self.nets["encoder"](x)


DDP_CONFIG = T.TrainConfig(steps=12, batch_size=8, seed=3, log_every=4, val_every=0, checkpoint_every=0,
                           mixed_precision="no", cpu=True)


class LandmarkRegressor(Regressor):
    """A toy face method for the registration test: an encoder trained on the 68 landmarks and the
    coefficient prior alone, registered like the book's methods (``tests/test_registry.py``)."""

    name = "landmark_toy"
    weights = {"landmark": 1e-3, "coefficients": 3e-4}

    def __init__(self, model, encoder, weight: float = 1e-3):
        super().__init__(model, encoder)
        self.weights = {"landmark": float(weight), "coefficients": 3e-4}

    def loss_terms(self, batch, images, coeffs, out):
        return {"landmark": landmark_loss(out.landmarks, batch["landmarks68"], image_size=self.image_size),
                "coefficients": coefficient_regularizer(self.layout.split(coeffs))}
