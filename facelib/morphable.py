"""The 3D morphable model: geometry + reflectance as linear models (Blanz & Vetter 1999).

``S(α, β) = S̄ + B_id α + B_exp β`` and ``T(δ) = T̄ + B_tex δ`` (Deep3D, Deng et al. 2019, Eq. (1)).
Two loaders: ICT-FaceKit Light (default, MIT, offline through the asset mirror) and Deep3D's
``BFM_model_front.mat`` (the reader supplies it; registration with the BFM owners is required).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import assets
from .albedo import procedural_albedo
from .coefficients import CoefficientLayout
from .errors import FacelibError

ICT_ASSET = "ict-facekit-light"
ICT_REGIONS = {
    # name: (materials whose polygons are kept, keep only polygons inside the narrow face)
    "face": (("M_Face",), False),
    "narrow": (("M_Face",), True),
    "head": (("M_Face", "M_BackHead"), False),
}
ICT_NARROW_LAST_VERTEX = 6705  # upstream README: narrow face area 0..6705
BFM_HELP = (
    "Deep3D's BFM_model_front.mat is built from the Basel Face Model 2009 (01_MorphableModel.mat, "
    "registration at https://faces.dmi.unibas.ch/bfm/) and Exp_Pca.bin (Guo et al.) by Deep3D's "
    "own code (Deep3DFaceRecon_pytorch, util/load_mats.py, run once with both files in its BFM/ "
    "folder); pass the resulting BFM/BFM_model_front.mat to MorphableModel.from_bfm."
)


@dataclass(frozen=True)
class ModelInfo:
    """Where a model came from and how to read its coefficients."""

    name: str
    units: str
    expression_prior: str  # "gaussian" (BFM PCA) or "unit_interval" (ICT blendshape weights)
    expression_names: tuple[str, ...]
    texture_names: tuple[str, ...]


class MorphableModel(nn.Module):
    """A linear face model on a fixed triangle mesh. All tensors are buffers (``.to(device)`` moves them).

    Attributes:
        neutral: ``(V, 3)`` mean shape, decimetres, centred, face looking along +z.
        id_basis: ``(3V, n_id)``; exp_basis: ``(3V, n_exp)``.
        tex_mean: ``(V, 3)`` in [0, 1]; tex_basis: ``(3V, n_tex)``.
        triangles: ``(F, 3)`` long, counter-clockwise seen from the front.
        landmarks: ``(68,)`` long vertex indices (Multi-PIE order).
        skin: ``(V,)`` float in [0, 1], how much each vertex's colour is skin (reflectance prior).
    """

    def __init__(self, neutral, id_basis, exp_basis, tex_mean, tex_basis, triangles, landmarks,
                 skin, info: ModelInfo):
        super().__init__()
        f32 = dict(dtype=torch.float32)
        self.register_buffer("neutral", torch.as_tensor(neutral, **f32))
        self.register_buffer("id_basis", torch.as_tensor(id_basis, **f32))
        self.register_buffer("exp_basis", torch.as_tensor(exp_basis, **f32))
        self.register_buffer("tex_mean", torch.as_tensor(tex_mean, **f32))
        self.register_buffer("tex_basis", torch.as_tensor(tex_basis, **f32))
        self.register_buffer("triangles", torch.as_tensor(np.asarray(triangles), dtype=torch.long))
        self.register_buffer("landmarks", torch.as_tensor(np.asarray(landmarks), dtype=torch.long))
        self.register_buffer("skin", torch.as_tensor(skin, **f32))
        self.info = info
        self.layout = CoefficientLayout(
            id=self.id_basis.shape[1], exp=self.exp_basis.shape[1], tex=self.tex_basis.shape[1]
        )
        v = self.neutral.shape[0]
        for name in ("id_basis", "exp_basis", "tex_basis"):
            if getattr(self, name).shape[0] != 3 * v:
                raise FacelibError(f"{name} has {getattr(self, name).shape[0]} rows, expected 3V = {3 * v}")

    # ------------------------------------------------------------------ evaluation
    @property
    def n_vertices(self) -> int:
        return self.neutral.shape[0]

    def shape(self, id_coeff: torch.Tensor, exp_coeff: torch.Tensor) -> torch.Tensor:
        """Vertices ``(B, V, 3)`` of ``S̄ + B_id α + B_exp β`` (Deep3D Eq. (1))."""
        offset = id_coeff @ self.id_basis.T + exp_coeff @ self.exp_basis.T
        return self.neutral + offset.reshape(*offset.shape[:-1], -1, 3)

    def albedo(self, tex_coeff: torch.Tensor) -> torch.Tensor:
        """Per-vertex reflectance ``(B, V, 3)`` of ``T̄ + B_tex δ`` (Deep3D Eq. (1))."""
        offset = tex_coeff @ self.tex_basis.T
        return self.tex_mean + offset.reshape(*offset.shape[:-1], -1, 3)

    def vertex_normals(self, vertices: torch.Tensor) -> torch.Tensor:
        """Unit normals ``(B, V, 3)``: area-weighted sum of adjacent triangle normals."""
        tri = self.triangles
        # index_select, not vertices[:, tri[:, k]]: its gradient is an index_add, where advanced
        # indexing's is an accumulating index_put that torch's deterministic mode sorts first
        v0, v1, v2 = (vertices.index_select(1, tri[:, k]) for k in range(3))
        face_n = torch.cross(v1 - v0, v2 - v0, dim=-1)
        normals = torch.zeros_like(vertices)
        for k in range(3):
            normals = normals.index_add(1, tri[:, k], face_n)
        return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)

    def expression_range(self) -> tuple[float, float] | None:
        """The declared range of the expression weights: ``(0, 1)`` for blendshape weights
        (``expression_prior == "unit_interval"``, ICT), ``None`` for Gaussian PCA modes (BFM)."""
        return (0.0, 1.0) if self.info.expression_prior == "unit_interval" else None

    def in_range(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``coeffs`` ``(..., total)`` with every block clamped into its declared range (only the
        expression block of a blendshape model has one). Differentiable inside the range, like a
        ReLU at the bounds: a network's head or a fit can never predict a negative blendshape."""
        bounds = self.expression_range()
        if bounds is None:
            return coeffs
        exp = self.layout.slices()["exp"]
        return torch.cat([coeffs[..., :exp.start], coeffs[..., exp].clamp(*bounds), coeffs[..., exp.stop:]], -1)

    def landmark_points(self, vertices: torch.Tensor) -> torch.Tensor:
        """The 68 landmark vertices ``(B, 68, 3)``."""
        return vertices[:, self.landmarks]

    def __repr__(self) -> str:
        return (f"MorphableModel({self.info.name}: {self.n_vertices} vertices, "
                f"{self.triangles.shape[0]} triangles, coefficients {self.layout.sizes})")

    # ------------------------------------------------------------------ loaders
    @classmethod
    def from_ict(cls, region: str = "narrow") -> "MorphableModel":
        """ICT-FaceKit Light (26,719 vertices upstream) restricted to a region.

        Args:
            region: ``"narrow"`` (default: the narrow face, vertices 0..6705, 13,120 triangles —
                the counterpart of Deep3D's BFM front face), ``"face"`` (all M_Face polygons,
                9,409 vertices, 18,460 triangles, with ears and neck) or
                ``"head"`` (face + back of head and neck, for display).
        Units are converted from centimetres to decimetres and the model is centred on the mean
        of the narrow face, so the Deep3D camera frames it like BFM. Albedo: :mod:`facelib.albedo`.
        """
        if region not in ICT_REGIONS:
            raise FacelibError(f"unknown ICT region {region!r}; choose one of {sorted(ICT_REGIONS)}")
        with np.load(assets.path(ICT_ASSET, "ict_facekit_light.npz")) as z:
            data = {k: z[k] for k in z.files}
        materials, narrow_only = ICT_REGIONS[region]
        names = list(data["material_names"])
        keep = np.isin(data["face_material"], [names.index(m) for m in materials])
        polys = data["faces"][keep]
        if narrow_only:
            polys = polys[np.where(polys < 0, 0, polys).max(1) <= ICT_NARROW_LAST_VERTEX]
        quads = polys[polys[:, 3] >= 0]
        tris = np.concatenate([polys[polys[:, 3] < 0][:, :3], quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
        used = np.unique(tris)
        remap = -np.ones(len(data["neutral"]), dtype=np.int64)
        remap[used] = np.arange(len(used))
        if (remap[data["landmarks_68"]] < 0).any():
            raise FacelibError(f"region {region!r} does not contain all 68 landmark vertices")

        centre = data["neutral"][: ICT_NARROW_LAST_VERTEX + 1].mean(0)
        neutral = (data["neutral"][used] - centre) / 10.0  # cm -> dm
        id_modes = data["identity_modes"][:, used] / 10.0  # (K, V, 3)
        exp_modes = data["expression_modes"][:, used] / 10.0
        landmarks = remap[data["landmarks_68"]]
        prior = procedural_albedo(neutral, landmarks)
        # skin: the narrow face without lips, brows and eyes (Deep3D's reflectance-prior region)
        r = prior.regions
        not_skin = np.maximum(np.maximum(r["lips"], r["brows"]), r["eyes"])
        skin = ((used <= ICT_NARROW_LAST_VERTEX) * (1.0 - not_skin)).astype(np.float32)

        def as_basis(modes: np.ndarray) -> np.ndarray:  # (K, V, 3) -> (3V, K), row = 3*v + axis
            return modes.reshape(len(modes), -1).T.copy()

        info = ModelInfo(
            name=f"ICT-FaceKit Light ({region})",
            units="dm",
            expression_prior="unit_interval",
            expression_names=tuple(data["expression_names"].tolist()),
            texture_names=tuple(prior.names),
        )
        return cls(neutral, as_basis(id_modes), as_basis(exp_modes), prior.mean, as_basis(prior.basis),
                   remap[tris], landmarks, skin, info)

    @classmethod
    def from_bfm(cls, path: str | Path) -> "MorphableModel":
        """Deep3D's ``BFM_model_front.mat`` (decimetres; 80 id, 64 exp, 80 tex modes).

        Keys read: ``meanshape (1, 3V)``, ``idBase (3V, 80)``, ``exBase (3V, 64)``,
        ``meantex (1, 3V)`` and ``texBase (3V, 80)`` in 0..255, ``tri (F, 3)`` and
        ``keypoints (1, 68)`` 1-based, optional ``skinmask``. As in Deep3D, the mean shape is
        re-centred on its mean and texture is divided by 255.
        """
        from scipy.io import loadmat

        path = Path(path)
        if not path.is_file():
            raise FacelibError(f"{path} does not exist. {BFM_HELP}")
        m = loadmat(str(path))
        missing = [k for k in ("meanshape", "idBase", "exBase", "meantex", "texBase", "tri", "keypoints") if k not in m]
        if missing:
            raise FacelibError(f"{path} lacks {missing}: not a Deep3D BFM_model_front.mat. {BFM_HELP}")
        mean = m["meanshape"].reshape(-1, 3).astype(np.float32)
        mean = mean - mean.mean(0, keepdims=True)
        v = len(mean)
        skin = m["skinmask"].reshape(-1).astype(np.float32) if "skinmask" in m else np.ones(v, np.float32)
        if skin.shape[0] != v:  # Deep3D stores skin vertex indices in some versions
            s = np.zeros(v, np.float32)
            s[m["skinmask"].reshape(-1).astype(np.int64)] = 1.0
            skin = s
        info = ModelInfo(
            name="BFM 2009 (Deep3D front)", units="dm", expression_prior="gaussian",
            expression_names=tuple(f"exp{i:02d}" for i in range(m["exBase"].shape[1])),
            texture_names=tuple(f"tex{i:02d}" for i in range(m["texBase"].shape[1])),
        )
        return cls(mean, m["idBase"], m["exBase"], m["meantex"].reshape(-1, 3) / 255.0,
                   m["texBase"] / 255.0, m["tri"].astype(np.int64) - 1,
                   m["keypoints"].reshape(-1).astype(np.int64) - 1, skin, info)
