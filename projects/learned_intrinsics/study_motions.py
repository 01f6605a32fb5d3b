"""The drive profiles of the study: the generator's two presets and the study's own, read from ``motions/*.json``.

``rough``: turning on a rough road, the body rocking ±0.04 rad every 8–16 m (~1.3°/frame, ~4× the reprojection
residual a wrong fy or cy leaves). ``rocking``: turning seen by a camera that rolls ±0.1 rad about its own centre
every 3–5 m (~5°/frame) and barely pitches (12× turning's residual for a wrong cy). ``wobbling``: rocking whose
camera also pans ±0.05 rad about its centre: under roll alone a focal length off by a factor leaves the flow
unchanged, the pan gives the focal scale a residual of its own.
"""

from __future__ import annotations

from pathlib import Path

from training.synthetic_kitti import MOTIONS as GENERATOR_MOTIONS
from training.synthetic_kitti import DriveMotion

MOTION_FILES = Path(__file__).resolve().parent / "motions"
MOTIONS: dict[str, DriveMotion] = {
    **GENERATOR_MOTIONS,
    **{path.stem: DriveMotion.from_json(path) for path in sorted(MOTION_FILES.glob("*.json"))},
}
