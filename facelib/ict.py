"""ICT-FaceKit upstream format (``FaceXModel/*.obj``) → the repacked arrays of the asset mirror.

The upstream model is 154 Wavefront OBJ files sharing one topology: ``generic_neutral_mesh.obj``,
``identity000.obj`` … ``identity099.obj`` and one file per ARKit-style expression, plus
``vertex_indices.json``. :func:`convert_facexmodel` turns them into the arrays documented in
``shared/assets/ict-facekit-light/README.md`` (modes are stored as differences to the neutral), so
a reader with internet access gets byte-for-byte the same model as a reader using the mirror.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .errors import FacelibError

NEUTRAL_FILE = "generic_neutral_mesh.obj"
INDEX_FILE = "vertex_indices.json"


@dataclass
class ObjMesh:
    """Geometry of one OBJ file. Faces are quads or triangles, 0-based, −1 pads triangles."""

    vertices: np.ndarray  # (V, 3) float32
    uvs: np.ndarray  # (T, 2) float32
    faces: np.ndarray  # (F, 4) int32
    face_uvs: np.ndarray  # (F, 4) int32
    face_material: np.ndarray  # (F,) int16
    material_names: np.ndarray  # (M,) str, in order of first use


def _floats(lines: list[str], width: int) -> np.ndarray:
    # Parsing in float64 then rounding once to float32 reproduces the upstream text exactly.
    values = np.array(" ".join(lines).split(), dtype=np.float64)
    return values.reshape(-1, width)


def read_obj_vertices(path: Path) -> np.ndarray:
    """Vertex positions ``(V, 3)`` float64 of an OBJ file (other records are skipped)."""
    text = Path(path).read_text()
    return _floats([ln[2:] for ln in text.splitlines() if ln.startswith("v ")], 3)


def read_obj(path: Path) -> ObjMesh:
    """Parse vertices, texture coordinates, polygons (``v/vt`` indices) and ``usemtl`` groups."""
    v_lines, vt_lines = [], []
    faces, face_uvs, face_mat, materials = [], [], [], []
    current = -1
    for line in Path(path).read_text().splitlines():
        if line.startswith("v "):
            v_lines.append(line[2:])
        elif line.startswith("vt "):
            vt_lines.append(line[3:])
        elif line.startswith("usemtl "):
            name = line.split(maxsplit=1)[1].strip()
            if name not in materials:
                materials.append(name)
            current = materials.index(name)
        elif line.startswith("f "):
            corners = line.split()[1:]
            if not 3 <= len(corners) <= 4:
                raise FacelibError(f"{path}: polygon with {len(corners)} corners; expected 3 or 4")
            vi = [int(c.split("/")[0]) - 1 for c in corners] + [-1] * (4 - len(corners))
            ti = [int(c.split("/")[1]) - 1 for c in corners] + [-1] * (4 - len(corners))
            faces.append(vi)
            face_uvs.append(ti)
            face_mat.append(current)
    return ObjMesh(
        vertices=_floats(v_lines, 3).astype(np.float32),
        uvs=_floats(vt_lines, 2).astype(np.float32),
        faces=np.asarray(faces, dtype=np.int32),
        face_uvs=np.asarray(face_uvs, dtype=np.int32),
        face_material=np.asarray(face_mat, dtype=np.int16),
        material_names=np.asarray(materials),
    )


def convert_facexmodel(
    src: Path,
    identity_names: Iterable[str] | None = None,
    expression_names: Iterable[str] | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Convert an upstream ``FaceXModel`` folder to the mirror's array layout.

    Args:
        src: folder with ``generic_neutral_mesh.obj``, the mode OBJs and ``vertex_indices.json``.
        identity_names: identity files to read (default ``identity000`` … ``identity099``).
        expression_names: expression files to read (default: the order of
            ``vertex_indices.json["expressions"]``).
        progress: show a tqdm bar over the files.

    Returns:
        dict with ``neutral``, ``identity_modes``, ``identity_names``, ``expression_modes``,
        ``expression_names``, ``faces``, ``face_uvs``, ``uvs``, ``face_material``,
        ``material_names``, ``landmarks_68`` (shapes and meaning: the mirror README).
    """
    src = Path(src)
    index_file = src / INDEX_FILE
    if not (src / NEUTRAL_FILE).exists() or not index_file.exists():
        raise FacelibError(
            f"{src} is not an ICT-FaceKit FaceXModel folder: it needs {NEUTRAL_FILE} and {INDEX_FILE}"
        )
    index = json.loads(index_file.read_text())
    ids = list(identity_names) if identity_names is not None else [f"identity{i:03d}" for i in range(100)]
    exps = list(expression_names) if expression_names is not None else list(index["expressions"])

    base = read_obj(src / NEUTRAL_FILE)
    neutral64 = read_obj_vertices(src / NEUTRAL_FILE)

    def modes(names: list[str]) -> np.ndarray:
        out = np.empty((len(names), *base.vertices.shape), dtype=np.float32)
        it = names
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(names, desc="ICT OBJ files", unit="file")
        for k, name in enumerate(it):
            verts = read_obj_vertices(src / f"{name}.obj")
            if verts.shape != neutral64.shape:
                raise FacelibError(f"{name}.obj has {len(verts)} vertices, the neutral has {len(neutral64)}")
            out[k] = (verts.astype(np.float32) - neutral64.astype(np.float32))
        return out

    return {
        "neutral": base.vertices,
        "identity_modes": modes(ids),
        "identity_names": np.asarray(ids),
        "expression_modes": modes(exps),
        "expression_names": np.asarray(exps),
        "faces": base.faces,
        "face_uvs": base.face_uvs,
        "uvs": base.uvs,
        "face_material": base.face_material,
        "material_names": base.material_names,
        "landmarks_68": np.asarray(index["idx_to_landmark_verts"], dtype=np.int32),
    }


def array_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over the arrays' names, dtypes, shapes and bytes (independent of zip metadata)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        if a.dtype.kind == "U":  # unicode width varies with the longest string; hash the text
            payload = "\x00".join(a.tolist()).encode()
            h.update(f"{key}|str|{a.shape}|".encode() + payload)
        else:
            h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode() + a.tobytes())
    return h.hexdigest()
