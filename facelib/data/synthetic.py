"""The synthetic occluded-face benchmark (DESIGN 6, issue 3): exact ground truth for every image.

``generate(root, config)`` renders ``identities × variants`` faces from the morphable model and the
albedo prior with random pose, expression, SH light and background (procedural textures and crops
of photos without faces, :data:`SCENE_PHOTOS`: no photo the book evaluates on), then occludes each
variant with one occluder (:mod:`facelib.occlusion`, or a fabric attached to the 3D surface) and,
separately, adds one noise (:mod:`facelib.noise`).
Stored per image (format in :mod:`facelib.data.folder`): clean twin, occluded image, noisy image,
coefficients (the mesh is ``model.shape`` of them — :func:`vertices` regenerates it exactly),
68 + 5 landmarks, face mask, occluder mask, visible-face mask, and the split (train/val/test by
identity).

Everything is drawn from generators seeded by ``(seed, identity)`` and ``(seed, identity,
variant)``: one sample does not depend on the others, and the same config gives the same bytes.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import occlusion
from ..errors import FacelibError
from ..landmarks import five_points
from ..morphable import MorphableModel
from ..noise import NOISE_KINDS, add_noise
from ..render import Renderer
from ..results import project_root
from ..sampling import random_coefficients
from . import folder

SURFACE_OCCLUDERS = ("surgical_mask_3d", "eye_mask_3d")
DEFAULT_OCCLUDERS = tuple(k for k in occlusion.OCCLUDERS if k not in ("cutout", "cutmix")) + SURFACE_OCCLUDERS


BACKGROUND_ASSET = "scene-photos"
#: scikit-image's photos and textures without faces (until issue 33 the backgrounds were crops of
#: astronaut, breakingbad, t1 and einstein: photos the book evaluates on)
SCENE_PHOTOS = ("chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg", "ihc.png", "brick.png",
                "grass.png", "gravel.png")


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. ``sizes`` per profile: :data:`PROFILE_SIZES`."""

    identities: int
    variants: int
    image_size: int
    seed: int = 0
    region: str = "narrow"
    occluders: tuple[str, ...] = DEFAULT_OCCLUDERS
    noises: tuple[str, ...] = NOISE_KINDS
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    #: the photos whose crops are backgrounds (the ``scene-photos`` asset: no faces, and never a photo
    #: the book evaluates on; empty: procedural backgrounds only)
    background_photos: tuple[str, ...] = SCENE_PHOTOS
    pose_degrees: tuple[float, float, float] = (15.0, 35.0, 10.0)
    #: each face seen through a camera response drawn at random (:mod:`facelib.camera_response`),
    #: the same for its clean, occluded and noisy views
    camera_jitter: bool = False

    def to_json(self) -> dict:
        d = asdict(self)
        if not d["camera_jitter"]:  # sets generated before the field existed keep their hash
            d.pop("camera_jitter")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


PROFILE_SIZES = {  # identities, variants (image size comes from the profile)
    "smoke": (12, 4),
    "cpu": (500, 8),
    "gpu": (3000, 10),
    "gpu-dry": (12, 4),  # the smoke set's size at the gpu profile's image size
}


def default_root(profile_name: str) -> Path:
    """Where a profile's benchmark lives: ``<project>/data/synthetic/<profile>``."""
    return project_root() / "data" / "synthetic" / profile_name


def config_for(profile) -> SyntheticConfig:
    """The benchmark's config for a :class:`~facelib.profile.Profile`."""
    n, m = PROFILE_SIZES[profile.name]
    return SyntheticConfig(identities=n, variants=m, image_size=profile.image_size)


def prepared(prof, progress: bool = False):
    """A profile's experiment, set up as the chapters set it up: torch's threads fixed to the
    profile's (:func:`facelib.reproduce.use_threads`), its benchmark generated where missing
    (:func:`generate` at :func:`default_root`), the face model loaded. ``prof``: a resolved
    :class:`~facelib.profile.Profile`. Returns ``(root, model)``."""
    from ..morphable import MorphableModel
    from ..reproduce import use_threads

    use_threads(prof.threads)
    root = default_root(prof.name)
    generate(root, config_for(prof), progress=progress)
    return root, MorphableModel.from_ict()


def split_of(identity: int, config: SyntheticConfig) -> str:
    """train/val/test by identity: a fixed seeded permutation cut at the configured fractions."""
    perm = torch.randperm(config.identities, generator=torch.Generator().manual_seed(config.seed + 7919))
    rank = int((perm == identity).nonzero())
    n = config.identities
    n_val = max(1, int(round(config.split[1] * n))) if n >= 3 else 0
    n_test = max(1, int(round(config.split[2] * n))) if n >= 3 else 0
    n_train = n - n_val - n_test
    return "train" if rank < n_train else "val" if rank < n_train + n_val else "test"


def _generator(*key: int) -> torch.Generator:
    h = 0
    for k in key:
        h = (h * 1_000_003 + int(k) + 1) % (2 ** 62)
    return torch.Generator().manual_seed(h)


# --------------------------------------------------------------------------- backgrounds

def _photos(names: tuple[str, ...]) -> list[torch.Tensor]:
    from .. import assets

    root = assets.path(BACKGROUND_ASSET)
    return [folder.load_image(root / n).double() for n in names]


def background(size: int, g: torch.Generator, photos: list[torch.Tensor] | None = None) -> torch.Tensor:
    """A random ``(3, size, size)`` background: a two-colour gradient, smooth colour noise,
    stripes, or (when ``photos`` are given) a random crop of one of the bundled photos."""
    kinds = 4 if photos else 3
    kind = int(torch.randint(kinds, (), generator=g))
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size, dtype=torch.float64),
                            torch.linspace(0, 1, size, dtype=torch.float64), indexing="ij")
    c1, c2 = torch.rand(3, 1, 1, generator=g, dtype=torch.float64), torch.rand(3, 1, 1, generator=g, dtype=torch.float64)
    if kind == 0:
        a = float(torch.rand((), generator=g)) * 2 * math.pi
        t = ((xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a) + 0.75) / 1.5
        return c1 * (1 - t) + c2 * t
    if kind == 1:
        coarse = torch.rand(1, 3, 5, 5, generator=g, dtype=torch.float64)
        return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0].clamp(0, 1)
    if kind == 2:
        a = float(torch.rand((), generator=g)) * math.pi
        f = 4 + 12 * float(torch.rand((), generator=g))
        t = 0.5 + 0.5 * torch.sin(2 * math.pi * f * (xx * math.cos(a) + yy * math.sin(a)))
        return c1 * (1 - t) + c2 * t
    photo = photos[int(torch.randint(len(photos), (), generator=g))]
    _, h, w = photo.shape
    side = int(min(h, w) * (0.3 + 0.6 * float(torch.rand((), generator=g))))
    y0 = int(torch.randint(h - side + 1, (), generator=g))
    x0 = int(torch.randint(w - side + 1, (), generator=g))
    crop = photo[:, y0:y0 + side, x0:x0 + side]
    return F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


# --------------------------------------------------------------------------- occluders on the 3D surface

def surface_triangles(model: MorphableModel, region: str) -> torch.Tensor:
    """Triangles of a face region defined on the neutral mesh by its landmarks (model y is up):
    ``"lower_face"`` — below the upper nose bridge (a surgical mask); ``"eye_band"`` — from the
    nose bridge to just above the brows (an eye mask)."""
    n = model.neutral
    lm = n[model.landmarks]
    centroid_y = n[model.triangles].mean(1)[:, 1]
    if region == "lower_face":
        keep = centroid_y < 0.5 * (lm[28, 1] + lm[29, 1])
    elif region == "eye_band":
        keep = (centroid_y > lm[28, 1]) & (centroid_y < lm[17:27, 1].max() + 0.08 * (lm[17:27, 1].max() - lm[8, 1]))
    else:
        raise FacelibError(f"unknown surface region {region!r}; choose lower_face or eye_band")
    return keep.nonzero().squeeze(1)


def _surface_albedo(model: MorphableModel, region: str, texture: torch.Tensor) -> torch.Tensor:
    """Per-vertex colours: ``texture`` mapped over the region's neutral-mesh x/y extent."""
    tri = surface_triangles(model, region)
    vid = model.triangles[tri].unique()
    n = model.neutral
    lo, hi = n[vid, :2].min(0).values, n[vid, :2].max(0).values
    uv = (n[:, :2] - lo) / (hi - lo)
    grid = torch.stack([uv[:, 0] * 2 - 1, (1 - uv[:, 1]) * 2 - 1], -1).clamp(-1, 1)
    cols = F.grid_sample(texture[None].float(), grid[None, None].float(), align_corners=False)[0, :, 0]
    return cols.T.contiguous()


def surface_occlusion(renderer: Renderer, coeffs: torch.Tensor, clean: torch.Tensor, face_id: torch.Tensor,
                      kind: str, g: torch.Generator) -> occlusion.Occlusion:
    """A fabric attached to the face mesh, so it follows pose and expression exactly: the clean
    render's pixels whose visible triangle lies in the region take the fabric's shaded colour.

    ``coeffs`` ``(total,)`` is one face's coefficient vector, ``clean`` its ``(3, H, W)`` render in
    [0, 1] and ``face_id`` the render's ``(H, W)`` long visible triangle per pixel (−1: background);
    the :class:`~facelib.occlusion.Occlusion` holds a ``(3, H, W)`` float64 image and ``(H, W)`` alpha."""
    model = renderer.model
    if kind == "surgical_mask_3d":
        textures = occlusion.mask_textures()
        texture = textures[int(torch.randint(len(textures), (), generator=g))]
        region = "lower_face"
    elif kind == "eye_mask_3d":
        colour = torch.rand(3, generator=g, dtype=torch.float64)
        texture = colour.view(3, 1, 1).expand(3, 4, 4)
        region = "eye_band"
    else:
        raise FacelibError(f"unknown surface occluder {kind!r}; known: {SURFACE_OCCLUDERS}")
    albedo = _surface_albedo(model, region, texture)[None]
    with torch.no_grad():
        fabric = renderer(coeffs[None], albedo=albedo).image[0].double()
    inside = torch.isin(face_id, surface_triangles(model, region)).double()
    return occlusion.composite(clean, [(fabric, inside)], kind, {"region": region})


# --------------------------------------------------------------------------- the generator

@dataclass
class GenerationReport:
    root: Path
    skipped: bool
    counts: dict[str, int]
    checksum: str
    seconds: float = 0.0
    occluder_counts: dict[str, int] = field(default_factory=dict)


def vertices(model: MorphableModel, coefficients: torch.Tensor) -> torch.Tensor:
    """Exact mesh ``(B, V, 3)`` (model space) of stored coefficients: how the set "stores" meshes."""
    c = model.layout.split(torch.as_tensor(coefficients, dtype=torch.float32))
    return model.shape(c["id"], c["exp"])


def _render_identity(renderer, config, photos, identity):
    """Coefficients, backgrounds and clean renders of all variants of one identity."""
    model = renderer.model
    shared = random_coefficients(model, 1, _generator(config.seed, identity))
    rows, bgs = [], []
    for j in range(config.variants):
        g = _generator(config.seed, identity, j)
        c = random_coefficients(model, 1, g, pose_degrees=config.pose_degrees)
        parts = model.layout.split(c)
        sp = model.layout.split(shared)
        parts["id"], parts["tex"] = sp["id"], sp["tex"]
        rows.append(model.layout.join(parts))
        bgs.append(background(config.image_size, g, photos).float())
    coeffs = torch.cat(rows)
    with torch.no_grad():
        out = renderer(coeffs, background=torch.stack(bgs))
    return coeffs, out


def _camera(config: SyntheticConfig, identity: int, variant: int):
    """The camera response of one face (identity when ``config.camera_jitter`` is off), drawn from its own
    generator so that the other draws, and a set without jitter, stay as they were."""
    if not config.camera_jitter:
        return lambda image: image
    from ..camera_response import camera_response, draw_response

    response = draw_response(_generator(config.seed, identity, variant, 2))
    return lambda image: camera_response(image, response)


def generate(root: str | Path, config: SyntheticConfig, force: bool = False, progress: bool = True,
             model: MorphableModel | None = None) -> GenerationReport:
    """Generate the set under ``root`` (skipped when ``root`` holds the same config, unless ``force``)."""
    import time

    root = Path(root)
    cfg = config.to_json()
    if (root / "index.json").is_file() and not force:
        try:
            index = folder.read_index(root)
        except FacelibError:
            index = {}
        if index.get("config_hash") == folder.config_hash(cfg) and folder.tree_checksum(root) == index.get("checksum"):
            return GenerationReport(root, True, index["splits"], index["checksum"])
    for kind in config.occluders:
        if kind not in occlusion.OCCLUDERS and kind not in SURFACE_OCCLUDERS:
            raise FacelibError(f"unknown occluder {kind!r} in the config")
    t0 = time.perf_counter()
    model = model or MorphableModel.from_ict(region=config.region)
    renderer = Renderer(model, config.image_size)
    photos = _photos(config.background_photos) if config.background_photos else None
    if root.exists():
        shutil.rmtree(root)
    for split in folder.SPLITS:
        for sub in folder.VIEWS + folder.MASKS:
            (root / split / sub).mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, list]] = {s: {} for s in folder.SPLITS}
    kinds_used: dict[str, int] = {}
    for i in tqdm(range(config.identities), desc="identities", disable=not progress):
        split = split_of(i, config)
        coeffs, out = _render_identity(renderer, config, photos, i)
        for j in range(config.variants):
            g = _generator(config.seed, i, j, 1)
            sid = f"{i:05d}_{j:02d}"
            clean = out.image[j].double().clamp(0, 1)
            lm68 = out.landmarks[j].double()
            shoot = _camera(config, i, j)
            kind = config.occluders[int(torch.randint(len(config.occluders), (), generator=g))]
            if kind in SURFACE_OCCLUDERS:
                occ = surface_occlusion(renderer, coeffs[j], clean, out.face_id[j], kind, g)
            else:
                other = out.image[(j + 1) % config.variants].double() if kind == "cutmix" else None
                occ = occlusion.occlude(kind, clean, lm68, g, **({"other": other} if other is not None else {}))
            noise = config.noises[int(torch.randint(len(config.noises), (), generator=g))]
            severity = int(torch.randint(1, 6, (), generator=g))
            clean, occluded = shoot(clean), shoot(occ.image)
            noisy = add_noise(clean, noise, severity, g)  # the sensor's noise comes after the camera's response
            face = out.mask[j, 0] > 0
            occluder = occ.mask  # physical coverage (alpha > 0), also where a colour happens to match
            base = root / split
            folder.save_image(base / "clean" / f"{sid}.png", clean)
            folder.save_image(base / "occluded" / f"{sid}.png", occluded)
            folder.save_image(base / "noisy" / f"{sid}.png", noisy)
            folder.save_mask(base / "face_mask" / f"{sid}.png", face)
            folder.save_mask(base / "occluder_mask" / f"{sid}.png", occluder)
            folder.save_mask(base / "visible_mask" / f"{sid}.png", face & ~occluder)
            r = rows[split]
            for key, value in (("id", sid), ("identity", i), ("variant", j), ("coefficients", coeffs[j].numpy()),
                               ("landmarks68", lm68.float().numpy()),
                               ("landmarks5", five_points(lm68).float().numpy()),
                               ("occluder", kind), ("noise", noise), ("severity", severity),
                               ("visible_fraction", float((face & ~occluder).sum()) / max(float(face.sum()), 1.0))):
                r.setdefault(key, []).append(value)
            kinds_used[kind] = kinds_used.get(kind, 0) + 1
    counts = {}
    for split, r in rows.items():
        if not r:
            shutil.rmtree(root / split)
            continue
        counts[split] = len(r["id"])
        arrays = {k: np.stack(v) if isinstance(v[0], np.ndarray) else np.asarray(v) for k, v in r.items()}
        folder.save_npz(root / split / "annotations.npz", arrays)
    index = folder.write_index(root, "synthetic-occluded-faces", cfg, counts, folder.VIEWS, folder.MASKS,
                               {"model": f"ict-facekit-light/{config.region}", "layout": model.layout.sizes})
    return GenerationReport(root, False, counts, index["checksum"], time.perf_counter() - t0, kinds_used)
