"""Add each face's identity to the per-face rows of the stored ``results/*/<profile>/metrics.json``.

Issue 32: the intervals resample identities, and the evaluation stores ``"identities"`` beside
``"faces"`` since then. Rows written before it name only the face indices; the identity of a face is
a fact of the benchmark, not a result, so it is read from the set the rows were measured on:

* rows of the synthetic test split: ``annotations.npz`` → ``identity`` of ``data/synthetic/<profile>/test``
  (the set is generated from its config and seed, the same set the chapters scored);
* ORN's photo rows (``…/photos/{unoccluded,natural}``): photo ``i`` under occluder ``k`` is face
  ``i + k · photos``, and each photo is its own person, so its identity is ``face mod photos``.

Nothing else in a file changes. Run from the repository root: ``python -m data_scripts.identities_into_results``
(``--check``: report the rows that lack identities, write nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _test_identities(profile: str) -> np.ndarray:
    path = ROOT / "data" / "synthetic" / profile / "test" / "annotations.npz"
    if not path.is_file():
        sys.exit(f"{path} is missing: generate the {profile} set first (`python -m facelib data --profile {profile}` "
                 "or run chapter 3)")
    return np.load(path)["identity"]


def add_identities(record: dict, synthetic: np.ndarray) -> int:
    """Add ``"identities"`` to every row of ``record`` that has ``"faces"`` and per-face values but
    no identities; returns how many rows it changed."""
    changed = 0

    def walk(node, photos: int | None):
        nonlocal changed
        if isinstance(node, dict):
            if "photos" in node and isinstance(node["photos"], dict):
                walk(node["photos"], int(node["photos"]["images"]))
            faces = node.get("faces")
            if (isinstance(faces, list) and "identities" not in node
                    and ("per_face" in node or "curves" in node)):
                node["identities"] = ([int(f) % photos for f in faces] if photos
                                      else [int(synthetic[int(f)]) for f in faces])
                changed += 1
            for key, value in node.items():
                if key != "photos":
                    walk(value, photos)
        elif isinstance(node, list):
            for value in node:
                walk(value, photos)

    walk(record["metrics"], None)
    return changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profiles", nargs="+", default=["smoke", "cpu"])
    p.add_argument("--check", action="store_true", help="count the rows without identities; write nothing")
    args = p.parse_args(argv)
    for profile in args.profiles:
        synthetic = _test_identities(profile)
        for path in sorted((ROOT / "results").glob(f"*/{profile}/metrics.json")):
            record = json.loads(path.read_text())
            n = add_identities(record, synthetic)
            if n and not args.check:
                path.write_text(json.dumps(record, indent=1, sort_keys=True))
            print(f"{path.relative_to(ROOT)}: {n} rows {'without' if args.check else 'given'} identities")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
