"""The study's drive profiles (motions/*.json): how much each rotates the camera between frames."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from projects.learned_intrinsics.study_motions import MOTIONS
from training import synthetic_kitti


def median_turn_deg(name: str) -> float:
    """Median angle between consecutive IMU orientations of four 50-frame drives of profile ``name``."""
    motion, angles = MOTIONS[name], []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        path = synthetic_kitti.build_scene(rng, path_length_m=60.0, motion=motion).path
        poses = synthetic_kitti.drive_trajectory(path, rng, 50, motion).world_from_imu
        orientations = Rotation.from_matrix(poses[:, :3, :3])
        angles.extend(np.degrees((orientations[:-1].inv() * orientations[1:]).magnitude()))
    return float(np.median(angles))


def test_the_study_has_the_generators_profiles_and_its_own():
    assert {"gentle", "turning", "rough", "rocking", "wobbling"} <= set(MOTIONS)
    assert MOTIONS["rocking"].sway_pivot_in_imu_m == synthetic_kitti.CAMERA2_IN_IMU_M


@pytest.mark.parametrize(("name", "at_least_deg"), [("rough", 1.0), ("rocking", 3.0)])
def test_the_study_profiles_rotate_more_than_turning(name: str, at_least_deg: float):
    """ROUGH ≥ 1° per frame on median, ROCKING ≥ 3°, WOBBLING more than ROCKING (TURNING: ≥ 0.4°)."""
    assert median_turn_deg(name) >= at_least_deg
    assert median_turn_deg("wobbling") > median_turn_deg("rocking")
