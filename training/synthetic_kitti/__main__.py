"""``python -m training.synthetic_kitti``: synthetic KITTI raw drives from the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from training.synthetic_kitti.motion import MOTIONS, DriveMotion
from training.synthetic_kitti.rig import IMAGE_CENTRE, KITTI_PRINCIPAL_POINT
from training.synthetic_kitti.writer import generate, preview


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output root (the KITTI raw root)")
    parser.add_argument("--drives", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=1242)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--date", default="2011_09_26", help="YYYY_MM_DD, names the date directory")
    parser.add_argument("--preview", type=Path, help="also write a contact sheet PNG here")
    motion = parser.add_mutually_exclusive_group()
    motion.add_argument("--motion", choices=list(MOTIONS), default="gentle",
                        help="gentle: KITTI-like, ~0.25°/frame; turning: tighter curves, a weave within the lane "
                             "(~0.6°/frame). Learned intrinsics need rotation")
    motion.add_argument("--motion_file", type=Path,
                        help="a drive profile as JSON (DriveMotion's fields), instead of --motion")
    parser.add_argument("--kitti_principal_point", action="store_true",
                        help="the principal point of KITTI's calibration (left of and above the centre) instead "
                             "of exactly the image centre")
    args = parser.parse_args(argv)
    try:
        motion = DriveMotion.from_json(args.motion_file) if args.motion_file else MOTIONS[args.motion]
    except ValueError as exc:
        parser.error(str(exc))
    generate(args.out, args.drives, args.frames, args.seed, args.width, args.height, args.date,
             motion, KITTI_PRINCIPAL_POINT if args.kitti_principal_point else IMAGE_CENTRE)
    if args.preview:
        preview(args.out, args.preview)


if __name__ == "__main__":
    main()
