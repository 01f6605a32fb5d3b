"""The geometry behind intrinsics_identifiability.py: a wrong K is invisible under pure translation (the re-fitted
pose absorbs it exactly) and shows up only once the camera rotates between frames; a roll about the optical axis
shows every error but the focal scale."""

import numpy as np
import pytest

from projects.learned_intrinsics.intrinsics_identifiability import Pair, perturbations, project, refit_residual_px
from training.synthetic_kitti import rotation_from_rotvec

K = np.array([[148.7, 0.0, 125.6], [0.0, 122.8, 29.5], [0.0, 0.0, 1.0]])  # KITTI's, in pixels at 256×64


def pair(rotvec: tuple[float, float, float], translation_m: tuple[float, float, float]) -> Pair:
    """A target frame of random pixels at 3–60 m, seen from a source camera moved by (rotvec, translation)."""
    rng = np.random.default_rng(0)
    target_px = rng.uniform((0.0, 0.0), (256.0, 64.0), size=(500, 2))
    depth_m = rng.uniform(3.0, 60.0, size=500)
    source_from_target = np.eye(4)
    source_from_target[:3, :3] = rotation_from_rotvec(rotvec)
    source_from_target[:3, 3] = translation_m
    return Pair(target_px, depth_m, project(K, source_from_target, target_px, depth_m), source_from_target)


def test_the_true_K_leaves_no_residual():
    assert refit_residual_px(K, pair((0.01, 0.02, 0.01), (0.1, 0.0, -1.0))) < 1e-6


@pytest.mark.parametrize("entry", list(perturbations(K)))
def test_translation_alone_absorbs_any_K_error(entry: str):
    assert refit_residual_px(perturbations(K)[entry], pair((0.0, 0.0, 0.0), (0.0, 0.0, -1.0))) < 1e-6


@pytest.mark.parametrize("entry", list(perturbations(K)))
def test_rotation_reveals_every_K_error(entry: str):
    assert refit_residual_px(perturbations(K)[entry], pair((0.03, 0.03, 0.03), (0.0, 0.0, -1.0))) > 1e-3


def test_roll_alone_leaves_the_focal_scale_free():
    """Rolled about the optical axis, a pixel moves by (fx/fy)·v and (fy/fx)·u: the ratio shows, the scale does not."""
    rolled = pair((0.0, 0.0, 0.08), (0.0, 0.0, -1.0))
    wrong = perturbations(K)
    assert refit_residual_px(wrong["fx, fy +5%"], rolled) < 1e-6
    assert refit_residual_px(wrong["fx +5%"], rolled) > 1e-2
