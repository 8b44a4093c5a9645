"""Shared fixtures. Tests use the project's offline mirror (../shared/assets) when it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_ASSETS = ROOT.parent / "shared" / "assets"
if not os.environ.get("FACELIB_MIRROR") and SHARED_ASSETS.is_dir():
    os.environ["FACELIB_MIRROR"] = str(SHARED_ASSETS)


@pytest.fixture(scope="session")
def ict():
    from facelib.morphable import MorphableModel

    return MorphableModel.from_ict()


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
