"""Generate the synthetic occluded-face benchmark (DESIGN 6; format: facelib.data.folder).

    python -m data_scripts.make_synthetic --profile cpu            # data/synthetic/cpu
    python -m data_scripts.make_synthetic --profile smoke --out /tmp/set --force

Sizes come from the profile (smoke | cpu | gpu | auto). A set whose config is unchanged and whose
files verify is not regenerated (pass --force to regenerate). Prints the set's size and checksum.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from facelib import profile as profiles
from facelib.data import synthetic
from facelib.data.synthetic import default_root
from facelib.errors import run_cli


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m data_scripts.make_synthetic", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="auto", help="smoke | cpu | gpu | auto (default)")
    p.add_argument("--out", type=Path, help="output folder (default data/synthetic/<profile>)")
    p.add_argument("--identities", type=int, help="override the profile's number of identities")
    p.add_argument("--variants", type=int, help="override the profile's variants per identity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="regenerate even when up to date")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    prof = profiles.resolve(args.profile)
    cfg = synthetic.config_for(prof)
    changes = {k: v for k, v in (("identities", args.identities), ("variants", args.variants)) if v}
    from dataclasses import replace

    cfg = replace(cfg, seed=args.seed, **changes)
    root = args.out or default_root(prof.name)
    report = synthetic.generate(root, cfg, force=args.force, progress=not args.quiet)
    total = sum(report.counts.values())
    state = "up to date, not regenerated" if report.skipped else f"generated in {report.seconds:.1f} s"
    print(f"{root}: {state}")
    print(f"profile {prof.name}: {cfg.identities} identities x {cfg.variants} variants at {cfg.image_size} px "
          f"= {total} samples ({', '.join(f'{k} {v}' for k, v in sorted(report.counts.items(), key=lambda kv: ('train', 'val', 'test').index(kv[0])))})")
    print(f"checksum {report.checksum}")
    return 0


if __name__ == "__main__":
    run_cli(main)
