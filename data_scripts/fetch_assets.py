"""Fetch and verify every asset facelib knows (or the ones named).

    python -m data_scripts.fetch_assets                 # all
    python -m data_scripts.fetch_assets ict-facekit-light
    python -m data_scripts.fetch_assets --list

Order per asset: the cache ($FACELIB_HOME, default ~/.cache/facelib) if it verifies, else the
mirror ($FACELIB_MIRROR), else the upstream download (converted where needed). Every file is
checked against its recorded sha256.
"""

from __future__ import annotations

import argparse

from facelib import assets
from facelib.errors import run_cli


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_scripts.fetch_assets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="assets to fetch (default: all)")
    p.add_argument("--list", action="store_true", help="list known assets and where they come from")
    p.add_argument("--offline", action="store_true", help="never download; use cache or mirror only")
    args = p.parse_args(argv)
    if args.list:
        for a in assets.REGISTRY.values():
            print(f"{a.name}\t{a.licence}\t{a.upstream}")
        return 0
    for name in args.names or list(assets.REGISTRY):
        folder = assets.fetch(name, allow_download=not args.offline)
        print(f"{name}: ok ({folder})")
    return 0


if __name__ == "__main__":
    run_cli(main)
