"""The project's on-disk face-set format, its writer and its torch ``Dataset`` (issue 3).

One format for the synthetic benchmark and every converted real set::

    <root>/index.json                  format, name, config (+ its hash), splits and their sizes,
                                       views, masks, per-split sample counts, checksum
    <root>/<split>/annotations.npz     one row per sample (arrays below)
    <root>/<split>/<view>/<id>.png     RGB images, one folder per view: clean | occluded | noisy
    <root>/<split>/<mask>/<id>.png     1-bit masks: face_mask | occluder_mask | visible_mask

``annotations.npz`` holds ``id`` (str), ``identity`` (int; splits are disjoint in identity),
``variant`` (int), ``landmarks68`` ``(N, 68, 2)`` and ``landmarks5`` ``(N, 5, 2)`` in pixels
(x right, y down, pixel centres at +0.5; NaN where unknown), and whatever else the set has
(synthetic: ``coefficients``, ``occluder``, ``noise``, ``severity``; real sets: ``source``).
It is written with fixed zip timestamps, and PNGs carry no time stamps, so regenerating a set with
the same config gives byte-identical files (the ``checksum`` in ``index.json``).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import FacelibError

FORMAT = "occluded-faces/1"
VIEWS = ("clean", "occluded", "noisy")
MASKS = ("face_mask", "occluder_mask", "visible_mask")
SPLITS = ("train", "val", "test")


def config_hash(config: dict) -> str:
    """Stable hash of a JSON-able config (decides whether a set must be regenerated)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with fixed zip timestamps: the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def save_image(path: Path, image: torch.Tensor | np.ndarray) -> None:
    """Write ``(3, H, W)`` float in [0, 1] (or ``(H, W, 3)`` uint8) as PNG."""
    if isinstance(image, torch.Tensor):
        image = (image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(image).save(path, format="PNG", optimize=False)


def save_mask(path: Path, mask: torch.Tensor | np.ndarray) -> None:
    """Write a boolean ``(H, W)`` mask as a 1-bit PNG."""
    arr = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
    Image.fromarray(arr).save(path, format="PNG", optimize=False)


def load_image(path: Path) -> torch.Tensor:
    """PNG/JPEG → ``(3, H, W)`` float32 in [0, 1]."""
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def load_mask(path: Path) -> torch.Tensor:
    """1-bit PNG → ``(1, H, W)`` float32 {0, 1}."""
    return torch.from_numpy(np.asarray(Image.open(path).convert("L")) > 0).float()[None]


def tree_checksum(root: Path) -> str:
    """sha256 over every file under ``root`` except ``index.json`` (relative path + content)."""
    h = hashlib.sha256()
    for p in sorted(q for q in Path(root).rglob("*") if q.is_file() and q.name != "index.json"):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def read_index(root: Path) -> dict:
    """``index.json`` of a set; a clear error when ``root`` is not a set."""
    p = Path(root) / "index.json"
    if not p.is_file():
        profile = Path(root).name if Path(root).parent.name == "synthetic" else "smoke"
        raise FacelibError(
            f"{root} is not a face set (no index.json). Generate the synthetic benchmark with "
            f"`python -m data_scripts.make_synthetic --profile {profile}` or convert a real set with "
            "`python -m data_scripts.real_datasets --help`."
        )
    index = json.loads(p.read_text())
    if index.get("format") != FORMAT:
        raise FacelibError(f"{p}: format {index.get('format')!r}, expected {FORMAT!r}; regenerate the set")
    return index


def write_index(root: Path, name: str, config: dict, counts: dict[str, int], views, masks,
                extra: dict | None = None) -> dict:
    """Write ``index.json`` (after all files: it carries their checksum); returns it."""
    index = {"format": FORMAT, "name": name, "config": config, "config_hash": config_hash(config),
             "splits": counts, "views": list(views), "masks": list(masks),
             "checksum": tree_checksum(root), **(extra or {})}
    (Path(root) / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


class FaceFolder(torch.utils.data.Dataset):
    """A split of a face set in the format above.

    Each item is a dict: one ``(3, H, W)`` float tensor per requested view, one ``(1, H, W)``
    tensor per requested mask, ``landmarks68``, ``landmarks5``, ``coefficients`` (when the set has
    them), ``identity``, ``index`` and ``id``.

    * ``views=("occluded",)`` — single images (R-Net, MoFA, FOCUS);
    * ``views=("clean", "occluded", "noisy")`` — ROGUE's guiding/occluded/noisy triplets;
    * with :class:`IdentityBatchSampler` — K variants of one identity per group (ORN MOPI).
    """

    def __init__(self, root: str | Path, split: str = "train", views=("occluded",), masks=(),
                 in_memory: bool = False):
        self.root = Path(root)
        self.index = read_index(self.root)
        if split not in self.index["splits"]:
            raise FacelibError(f"{self.root} has splits {list(self.index['splits'])}, not {split!r}")
        for v in views:
            if v not in self.index["views"]:
                raise FacelibError(f"{self.root} has views {self.index['views']}, not {v!r}")
        for m in masks:
            if m not in self.index["masks"]:
                raise FacelibError(f"{self.root} has masks {self.index['masks']}, not {m!r}")
        self.split, self.views, self.masks = split, tuple(views), tuple(masks)
        with np.load(self.root / split / "annotations.npz") as z:
            self.annotations = {k: z[k] for k in z.files}
        self.ids = [str(i) for i in self.annotations["id"]]
        self._cache: dict | None = {} if in_memory else None

    def __len__(self) -> int:
        return len(self.ids)

    def _load(self, kind: str, folder: str, i: int) -> torch.Tensor:
        key = (folder, i)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        path = self.root / self.split / folder / f"{self.ids[i]}.png"
        x = load_image(path) if kind == "view" else load_mask(path)
        if self._cache is not None:
            self._cache[key] = x
        return x

    def __getitem__(self, i: int) -> dict:
        a = self.annotations
        item = {v: self._load("view", v, i) for v in self.views}
        item.update({m: self._load("mask", m, i) for m in self.masks})
        item["landmarks68"] = torch.from_numpy(a["landmarks68"][i]).float()
        item["landmarks5"] = torch.from_numpy(a["landmarks5"][i]).float()
        if "coefficients" in a:
            item["coefficients"] = torch.from_numpy(a["coefficients"][i]).float()
        item["identity"] = int(a["identity"][i])
        item["index"] = i
        item["id"] = self.ids[i]
        return item

    def by_identity(self) -> dict[int, list[int]]:
        """Sample indices grouped by identity."""
        groups: dict[int, list[int]] = defaultdict(list)
        for i, ident in enumerate(self.annotations["identity"].tolist()):
            groups[int(ident)].append(i)
        return dict(groups)


class IdentityBatchSampler(torch.utils.data.Sampler):
    """Batches of ``identities`` identities × ``k`` variants each (ORN MOPI, Sec. 3.2): the K
    occluded images of one person are consecutive in the batch. Identities with fewer than ``k``
    variants are skipped; reshuffled each epoch from ``seed`` + epoch."""

    def __init__(self, dataset: FaceFolder, identities: int, k: int, seed: int = 0):
        self.groups = {i: g for i, g in dataset.by_identity().items() if len(g) >= k}
        if len(self.groups) < identities:
            raise FacelibError(f"need {identities} identities with ≥ {k} variants, the split has {len(self.groups)}")
        self.identities, self.k, self.seed, self.epoch = identities, k, seed, 0

    def __len__(self) -> int:
        return len(self.groups) // self.identities

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        keys = list(self.groups)
        order = [keys[i] for i in torch.randperm(len(keys), generator=g).tolist()]
        for b in range(len(self)):
            batch = []
            for ident in order[b * self.identities:(b + 1) * self.identities]:
                members = self.groups[ident]
                pick = torch.randperm(len(members), generator=g)[: self.k].tolist()
                batch += [members[j] for j in pick]
            yield batch
