"""Convert an upstream ICT-FaceKit ``FaceXModel/`` folder to facelib's ``ict_facekit_light.npz``.

    python -m data_scripts.convert_ict path/to/ICT-FaceKit/FaceXModel out/ict_facekit_light.npz

``fetch_assets`` does this automatically when it downloads from upstream; this CLI is for readers
who already have a checkout of ICT-FaceKit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facelib.errors import run_cli
from facelib.ict import array_digest, convert_facexmodel


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_scripts.convert_ict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="the FaceXModel folder")
    p.add_argument("out", type=Path, help="output .npz")
    args = p.parse_args(argv)
    arrays = convert_facexmodel(args.src, progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} (array sha256 {array_digest(arrays)})")
    return 0


if __name__ == "__main__":
    run_cli(main)
