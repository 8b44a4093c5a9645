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
        f"'{asset.name}/', e.g. the project's ../shared/assets)"
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
            "holding a copy of the asset (the project's ../shared/assets) and run the command again."
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
    ]
}


def get(name: str) -> Asset:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetMissingError(f"unknown asset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
