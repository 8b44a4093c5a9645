"""Real face data sets the papers use, for readers who download them (DESIGN 6, issue 3).

    python -m data_scripts.real_datasets list
    python -m data_scripts.real_datasets fetch celeba --root ~/data/celeba      # download or manual step
    python -m data_scripts.real_datasets verify celeba --root ~/data/celeba
    python -m data_scripts.real_datasets convert celeba --root ~/data/celeba --out data/celeba --split test
    python -m data_scripts.real_datasets occlude data/celeba --out data/celeba-orn --patterns dsofi,dhofi,shofi
    python -m data_scripts.real_datasets noisy data/celeba --out data/celeba-noisy

``fetch`` downloads what its source serves directly (AFLW2000-3D, LFW) and otherwise prints the
exact manual step (registration, Google Drive, SharePoint); ``verify`` checks md5 sums where the
source publishes them (CelebA) and the expected files everywhere; ``convert`` writes the project's
format (:mod:`facelib.data.folder`: view ``image`` = the photo as published, landmarks, masks
where the set has them).
``occlude`` builds ORN's occluded CelebA/AFLW2000-3D (DSOFI, DHOFI, SHOFI, stars, crowns; Tiwari
et al., WACV 2022, Sec. 4.1) and ``noisy`` ROGUE's noisy CelebA test (BMVC 2022, Sec. 4), both
deterministic from a seed, on any converted set. Without internet every download fails at once
with the manual step.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from facelib import noise, occlusion
from facelib.data import folder
from facelib.errors import DownloadError, FacelibError, run_cli
from facelib.landmarks import five_points


@dataclass(frozen=True)
class RealSet:
    name: str
    title: str
    homepage: str
    manual: str  # what the reader has to do by hand (empty when `fetch` can do it all)
    expected: tuple[str, ...]  # paths under --root that must exist after fetching/unpacking
    md5: dict[str, str] = field(default_factory=dict)  # published checksums
    urls: dict[str, str] = field(default_factory=dict)  # direct downloads: file -> URL
    convert: Callable | None = None


# --------------------------------------------------------------------------- converters

def _write_set(out: Path, name: str, samples: list[dict], views: tuple[str, ...], masks: tuple[str, ...],
               config: dict, limit: int | None = None) -> dict:
    """Write samples (dicts with split, id, identity, images per view, masks, landmarks) in the
    project's format; images are read lazily from ``sample['paths']``."""
    from tqdm.auto import tqdm

    if limit:
        samples = samples[:limit]
    if out.exists():
        shutil.rmtree(out)
    rows: dict[str, dict[str, list]] = {}
    for s in tqdm(samples, desc=f"convert {name}"):
        base = out / s["split"]
        for v in views:
            (base / v).mkdir(parents=True, exist_ok=True)
            img = s["images"][v]() if callable(s["images"][v]) else s["images"][v]
            folder.save_image(base / v / f"{s['id']}.png", img)
        for m in masks:
            (base / m).mkdir(parents=True, exist_ok=True)
            folder.save_mask(base / m / f"{s['id']}.png", s["masks"][m]())
        r = rows.setdefault(s["split"], {})
        lm68 = s.get("landmarks68", np.full((68, 2), np.nan))
        lm5 = s.get("landmarks5")
        if lm5 is None:
            lm5 = five_points(torch.from_numpy(lm68)).numpy() if np.isfinite(lm68).all() else np.full((5, 2), np.nan)
        for key, value in (("id", s["id"]), ("identity", s.get("identity", -1)), ("variant", s.get("variant", 0)),
                           ("landmarks68", np.asarray(lm68, np.float32)), ("landmarks5", np.asarray(lm5, np.float32)),
                           ("source", s.get("source", ""))):
            r.setdefault(key, []).append(value)
    counts = {}
    for split, r in rows.items():
        counts[split] = len(r["id"])
        folder.save_npz(out / split / "annotations.npz",
                        {k: np.stack(v) if isinstance(v[0], np.ndarray) else np.asarray(v) for k, v in r.items()})
    return folder.write_index(out, name, config, counts, views, masks)


def _convert_celeba(root: Path, split: str):
    parts = {"train": 0, "val": 1, "test": 2}
    part = dict(ln.split() for ln in (root / "list_eval_partition.txt").read_text().split("\n") if ln.strip())
    ident = dict(ln.split() for ln in (root / "identity_CelebA.txt").read_text().split("\n") if ln.strip())
    lms = {}
    for ln in (root / "list_landmarks_align_celeba.txt").read_text().split("\n")[2:]:
        f = ln.split()
        if len(f) == 11:  # file + 5 (x, y), 0-based pixel indices of the aligned 178x218 image
            lms[f[0]] = np.array(f[1:], np.float64).reshape(5, 2) + 0.5
    samples = []
    for fname in sorted(part):
        if int(part[fname]) != parts[split]:
            continue
        path = root / "img_align_celeba" / fname
        samples.append({"split": split, "id": Path(fname).stem, "identity": int(ident[fname]), "source": fname,
                        "landmarks5": lms[fname], "images": {"image": lambda p=path: _read(p)}})
    return samples, ("image",), ()


def _convert_aflw2000(root: Path, split: str):
    from scipy.io import loadmat

    samples = []
    for jpg in sorted((root / "AFLW2000").glob("*.jpg")):
        mat = loadmat(str(jpg.with_suffix(".mat")))
        lm = mat["pt3d_68"][:2].T.astype(np.float64)  # x, y in image pixels (as stored by 3DDFA)
        samples.append({"split": "test", "id": jpg.stem, "identity": len(samples), "source": jpg.name,
                        "landmarks68": lm, "images": {"image": lambda p=jpg: _read(p)}})
    return samples, ("image",), ()


CELEBAMASK_FACE = ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "mouth")
CELEBAMASK_OCCLUDERS = ("eye_g", "hat", "hair")


def _convert_celebamask(root: Path, split: str):
    """CelebAMask-HQ: face_mask = face parts ∪ occluders lying on them is not knowable, so
    visible_mask = union of face parts, occluder_mask = eyeglasses ∪ hat ∪ hair (FOCUS, Sec. 4.2,
    evaluates inside the rendered face region, where these are the occluders), face_mask =
    their union. Masks are 512 px, images 1024 px: both are stored at 512."""
    from PIL import Image

    img_dir, anno = root / "CelebA-HQ-img", root / "CelebAMask-HQ-mask-anno"
    samples = []
    for jpg in sorted(img_dir.glob("*.jpg"), key=lambda p: int(p.stem)):
        k = int(jpg.stem)
        sub = anno / str(k // 2000)

        def union(parts, k=k, sub=sub):
            m = np.zeros((512, 512), bool)
            for part in parts:
                p = sub / f"{k:05d}_{part}.png"
                if p.is_file():
                    m |= np.asarray(Image.open(p).convert("L")) > 0
            return m

        samples.append({
            "split": split, "id": f"{k:05d}", "identity": k, "source": jpg.name,
            "images": {"image": lambda p=jpg: _read(p, 512)},
            "masks": {"visible_mask": lambda u=union: u(CELEBAMASK_FACE),
                      "occluder_mask": lambda u=union: u(CELEBAMASK_OCCLUDERS),
                      "face_mask": lambda u=union: u(CELEBAMASK_FACE + CELEBAMASK_OCCLUDERS)},
        })
    return samples, ("image",), ("face_mask", "occluder_mask", "visible_mask")


def _convert_by_person(root: Path, split: str, pattern: str = "*/*"):
    """Sets laid out as ``<person>/<image>`` (LFW, ReaChOcc, SynChOcc): identity from the folder;
    ``source`` ends in ``:clean`` for an image whose name contains "clean" (ReaChOcc/SynChOcc's
    one unoccluded image per subject), else ``:occluded``."""
    people = sorted(p for p in root.iterdir() if p.is_dir())
    if not people:
        raise FacelibError(f"{root}: expected one folder per person; see `fetch` for the layout")
    samples = []
    for ident, person in enumerate(people):
        for v, img in enumerate(sorted(q for q in person.iterdir() if q.suffix.lower() in {".jpg", ".png", ".jpeg"})):
            status = "clean" if "clean" in img.stem.lower() else "occluded"
            samples.append({"split": split, "id": f"{person.name}_{img.stem}", "identity": ident, "variant": v,
                            "source": f"{person.name}/{img.name}:{status}",
                            "images": {"image": lambda p=img: _read(p)}})
    return samples, ("image",), ()


AR_OCCLUDED = {8: "sunglasses", 9: "sunglasses", 10: "sunglasses", 11: "scarf", 12: "scarf", 13: "scarf",
               21: "sunglasses", 22: "sunglasses", 23: "sunglasses", 24: "scarf", 25: "scarf", 26: "scarf"}


def _convert_ar(root: Path, split: str):
    """AR face database (Martinez & Benavente 1998): files ``{M,W}-xxx-yy.{bmp,jpg}``; ``yy`` 8-13
    and 21-26 wear sunglasses or a scarf (recorded in ``source``)."""
    samples = []
    for img in sorted(root.rglob("*")):
        m = re.match(r"([MW])-(\d{3})-(\d{2})$", img.stem)
        if not m or img.suffix.lower() not in {".bmp", ".jpg", ".png"}:
            continue
        person = f"{m.group(1)}{m.group(2)}"
        k = int(m.group(3))
        samples.append({"split": split, "id": img.stem, "identity": (m.group(1) == "W") * 1000 + int(m.group(2)),
                        "variant": k, "source": f"{img.name}:{AR_OCCLUDED.get(k, 'none')}:{person}",
                        "images": {"image": lambda p=img: _read(p)}})
    return samples, ("image",), ()


def _convert_now(root: Path, split: str):
    """NoW (Sanyal et al. 2019): images listed in ``imagepathsvalidation.txt``; the scans and the
    official evaluation code come with the set (scan-to-mesh error: facelib.metrics)."""
    lines = (root / "imagepathsvalidation.txt").read_text().split()
    samples = []
    for rel in lines:
        p = root / "final_release_version" / "iphone_pictures" / rel
        subject = rel.split("/")[0]
        samples.append({"split": "val", "id": rel.replace("/", "_").rsplit(".", 1)[0],
                        "identity": abs(hash(subject)) % 10**6, "source": rel,
                        "images": {"image": lambda q=p: _read(q)}})
    return samples, ("image",), ()


def _read(path: Path, size: int | None = None) -> np.ndarray:
    from facelib.detect import read_image

    arr = read_image(path)
    if size and arr.shape[0] != size:
        from PIL import Image

        arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR))
    return arr


SETS = {s.name: s for s in [
    RealSet("celeba", "CelebA (aligned images, identities, 5 landmarks, official splits)",
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
            "CelebA is served from Google Drive only. Open the homepage, follow 'Google Drive', "
            "download Img/img_align_celeba.zip and Anno/{identity_CelebA,list_landmarks_align_celeba}.txt "
            "and Eval/list_eval_partition.txt into --root, then `unzip img_align_celeba.zip -d <root>`.",
            ("img_align_celeba", "list_eval_partition.txt", "identity_CelebA.txt", "list_landmarks_align_celeba.txt"),
            md5={"img_align_celeba.zip": "00d2c5bc6d35e252742224ab0c1e8fcb",
                 "identity_CelebA.txt": "32bd1bd63d3c78cd57e08160ec5ed1e2",
                 "list_landmarks_align_celeba.txt": "cc24ecafdb5b50baae59b03474781f8c",
                 "list_eval_partition.txt": "d32c9cbf5e040fd4025c592c306e6668"},
            convert=_convert_celeba),
    RealSet("celebamask-hq", "CelebA-HQ images with CelebAMask-HQ part masks (FOCUS Tables 4-5)",
            "https://github.com/switchablenorms/CelebAMask-HQ",
            "Download CelebAMask-HQ.zip from the links on the homepage (Google Drive / Baidu) and unzip "
            "it so that --root holds CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/.",
            ("CelebA-HQ-img", "CelebAMask-HQ-mask-anno"), convert=_convert_celebamask),
    RealSet("aflw2000-3d", "AFLW2000-3D (2000 images, 68 3D landmarks; ORN Tables 1, 5)",
            "http://www.cbsr.ia.ac.cn/users/xiangyuzhu/projects/3DDFA/main.htm", "",
            ("AFLW2000",), urls={"AFLW2000-3D.zip": "http://www.cbsr.ia.ac.cn/users/xiangyuzhu/projects/3DDFA/Database/AFLW2000-3D.zip"},
            convert=_convert_aflw2000),
    RealSet("ar", "AR face database (sunglasses and scarf occlusions)",
            "https://www2.ece.ohio-state.edu/~aleix/ARdatabase.html",
            "The AR database is released on request to its authors (see the homepage). Put the images "
            "(named M-001-01.bmp ... W-050-26.bmp) anywhere under --root.",
            (), convert=_convert_ar),
    RealSet("now", "NoW benchmark (validation images + scans; registration required)",
            "https://now.is.tue.mpg.de/",
            "Register on the NoW homepage, download the validation images and scans, and unpack them so "
            "that --root holds imagepathsvalidation.txt and final_release_version/.",
            ("imagepathsvalidation.txt", "final_release_version"), convert=_convert_now),
    RealSet("reachocc", "ReaChOcc (ROGUE: 50 subjects x 10 real occluded + 1 clean)",
            "https://github.com/ArcTrinity9/Datasets-ReaChOcc-and-SynChOcc",
            "The datasets are shared through a SharePoint link in the repository's README. Download "
            "ReaChOcc and unpack it so that --root holds one folder per subject.",
            (), convert=_convert_by_person),
    RealSet("synchocc", "SynChOcc (ROGUE: 50 subjects x 10 synthetic occluded + 1 clean, paired)",
            "https://github.com/ArcTrinity9/Datasets-ReaChOcc-and-SynChOcc",
            "As ReaChOcc: download SynChOcc from the SharePoint link in the repository's README and "
            "unpack it so that --root holds one folder per subject.",
            (), convert=_convert_by_person),
    RealSet("lfw", "Labeled Faces in the Wild (identity verification)",
            "https://vis-www.cs.umass.edu/lfw/", "",
            ("lfw",), urls={"lfw.tgz": "https://vis-www.cs.umass.edu/lfw/lfw.tgz"},
            convert=lambda root, split: _convert_by_person(root / "lfw", split)),
]}


def _get(name: str) -> RealSet:
    if name not in SETS:
        raise FacelibError(f"unknown data set {name!r}; known: {', '.join(SETS)}")
    return SETS[name]


def md5sum(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - the sources publish md5
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(spec: RealSet, root: Path) -> list[str]:
    """Problems with ``root`` (empty list: ready to convert)."""
    problems = [f"missing {root / e}" for e in spec.expected if not (root / e).exists()]
    for fname, digest in spec.md5.items():
        p = root / fname
        if p.is_file() and md5sum(p) != digest:
            problems.append(f"{p}: md5 {md5sum(p)} differs from the published {digest}; download it again")
    return problems


def fetch(spec: RealSet, root: Path) -> None:
    """Download what the source serves directly, unpack it; otherwise explain the manual step."""
    from facelib.assets import download

    root.mkdir(parents=True, exist_ok=True)
    if not spec.urls:
        if verify(spec, root) or not spec.expected:
            raise FacelibError(f"{spec.title} cannot be downloaded automatically.\nManual step: {spec.manual}\n"
                               f"Homepage: {spec.homepage}\nThen run: python -m data_scripts.real_datasets verify "
                               f"{spec.name} --root {root}")
        return
    for fname, url in spec.urls.items():
        target = root / fname
        if not target.is_file():
            try:
                target.write_bytes(download(url, timeout=3600))
            except DownloadError as err:
                reason = str(err).split(" Without internet")[0]
                raise DownloadError(f"{reason}\nDownload {url} by hand into {root}, then run: python -m "
                                    f"data_scripts.real_datasets verify {spec.name} --root {root}") from None
        if fname.endswith(".zip"):
            with zipfile.ZipFile(target) as zf:
                zf.extractall(root)
        elif fname.endswith((".tgz", ".tar.gz")):
            with tarfile.open(target) as tf:
                tf.extractall(root, filter="data")


# --------------------------------------------------------------------------- constructions

def _derive(src: Path, out: Path, view: str, make: Callable, config: dict, name: str) -> dict:
    """Copy a converted set and add ``view`` made by ``make(image, landmarks, generator, i)``;
    ``make`` returns an image, or an :class:`~facelib.occlusion.Occlusion` (then its mask is kept)."""
    index = folder.read_index(src)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out)
    masks = set(index["masks"])
    for split in index["splits"]:
        ds = folder.FaceFolder(out, split, views=("image",))
        (out / split / view).mkdir(exist_ok=True)
        for i in range(len(ds)):
            item = ds[i]
            lm = item["landmarks68"] if torch.isfinite(item["landmarks68"]).all() else item["landmarks5"]
            g = torch.Generator().manual_seed(config["seed"] * 1_000_003 + i)
            res = make(item["image"].double(), lm.double(), g, i)
            if isinstance(res, occlusion.Occlusion):
                (out / split / "occluder_mask").mkdir(exist_ok=True)
                folder.save_mask(out / split / "occluder_mask" / f"{ds.ids[i]}.png", res.mask)
                masks.add("occluder_mask")
                res = res.image
            folder.save_image(out / split / view / f"{ds.ids[i]}.png", res)
    return folder.write_index(out, name, {**index["config"], "derived": config}, index["splits"],
                              [*index["views"], view], sorted(masks))


def occlude_set(src: Path, out: Path, patterns: list[str], seed: int = 0, colour=None) -> dict:
    """ORN's occluded test sets (WACV 2022, Sec. 4.1): each image gets one of ``patterns``
    (cycled), placed from its landmarks."""
    def make(img, lm, g, i):
        return occlusion.occlude(patterns[i % len(patterns)], img, lm, g, **({"colour": colour} if colour else {}))

    return _derive(src, out, "occluded", make, {"patterns": patterns, "seed": seed}, f"{src.name}-occluded")


def noisy_set(src: Path, out: Path, kinds: list[str], severities: list[int], seed: int = 0) -> dict:
    """ROGUE's noisy test set (BMVC 2022, Sec. 4): each image gets one noise kind and severity (cycled)."""
    def make(img, lm, g, i):
        return noise.add_noise(img, kinds[i % len(kinds)], severities[(i // len(kinds)) % len(severities)], g)

    return _derive(src, out, "noisy", make, {"kinds": kinds, "severities": severities, "seed": seed}, f"{src.name}-noisy")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_scripts.real_datasets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    for cmd in ("fetch", "verify", "convert"):
        q = sub.add_parser(cmd)
        q.add_argument("name")
        q.add_argument("--root", type=Path, required=True, help="where the raw files are (or go)")
        if cmd == "convert":
            q.add_argument("--out", type=Path, required=True)
            q.add_argument("--split", default="test")
            q.add_argument("--limit", type=int, help="convert only the first N images")
    q = sub.add_parser("occlude")
    q.add_argument("src", type=Path)
    q.add_argument("--out", type=Path, required=True)
    q.add_argument("--patterns", default="dsofi,dhofi,shofi")
    q.add_argument("--seed", type=int, default=0)
    q = sub.add_parser("noisy")
    q.add_argument("src", type=Path)
    q.add_argument("--out", type=Path, required=True)
    q.add_argument("--kinds", default=",".join(noise.NOISE_KINDS))
    q.add_argument("--severities", default="1,2,3,4,5")
    q.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.cmd == "list":
        for s in SETS.values():
            how = "download" if s.urls else "manual"
            print(f"{s.name:14s} {how:8s} {s.title}")
        return 0
    if a.cmd in ("occlude", "noisy"):
        if a.cmd == "occlude":
            idx = occlude_set(a.src, a.out, a.patterns.split(","), a.seed)
        else:
            idx = noisy_set(a.src, a.out, a.kinds.split(","), [int(s) for s in a.severities.split(",")], a.seed)
        print(f"{a.out}: {idx['splits']} checksum {idx['checksum']}")
        return 0
    spec = _get(a.name)
    if a.cmd == "fetch":
        fetch(spec, a.root)
    problems = verify(spec, a.root)
    if problems:
        raise FacelibError(f"{spec.name} at {a.root} is not ready:\n  " + "\n  ".join(problems)
                           + (f"\nManual step: {spec.manual}" if spec.manual else ""))
    if a.cmd in ("fetch", "verify"):
        print(f"{spec.name}: ok ({a.root})")
        return 0
    samples, views, masks = spec.convert(a.root, a.split)
    idx = _write_set(a.out, spec.name, samples, views, masks, {"source": spec.name, "split": a.split}, a.limit)
    print(f"{a.out}: {idx['splits']} checksum {idx['checksum']}")
    return 0


if __name__ == "__main__":
    run_cli(main)
