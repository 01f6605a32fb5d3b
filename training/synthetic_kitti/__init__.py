"""Synthetic KITTI-raw drives with exact ground truth, written in the real KITTI raw layout and formats.

A procedurally textured street (road plane, kerbs, sidewalks, building façades, parked box cars, poles and
sky) is ray cast from a rectified stereo rig, a 64-beam Velodyne and an OXTS unit mounted as on the KITTI
car. Every drive gets images (image_02, image_03), Velodyne scans, OXTS packets, timestamps, dense true
depth in the KITTI depth-benchmark PNG format; the date directory gets the three calibration files.
Monodepth2 split files go to ``<out>/splits/synthetic``.

World frame: x east, y north, z up, road surface at z = 0 (metres). Texture is a function of world surface
coordinates and shading is Lambertian with a fixed sun, so a surface point looks the same from every pose.

    python -m training.synthetic_kitti --out DIR [--drives 2 --frames 40 --seed 0 --preview sheet.png]

Modules: ``rig`` (the car's sensors and calibration), ``motion`` (road path, drive profiles, trajectory and
OXTS), ``scene`` (the street's boxes and materials), ``render`` (ray casting, texture, shading, cameras),
``lidar`` (the Velodyne), ``writer`` (the KITTI layout, splits, preview), ``__main__`` (the command line).
"""

from training.synthetic_kitti.__main__ import main
from training.synthetic_kitti.motion import GENTLE, MOTIONS, TURNING, DriveMotion, drive_trajectory
from training.synthetic_kitti.rig import (
    CAMERA2_IN_IMU_M,
    CAMERA_HEIGHT_M,
    IMAGE_CENTRE,
    KITTI_PRINCIPAL_POINT,
    make_calibration,
    rotation_from_rotvec,
)
from training.synthetic_kitti.scene import build_scene
from training.synthetic_kitti.writer import SPLIT_NAME, generate, preview

__all__ = [
    "CAMERA2_IN_IMU_M",
    "CAMERA_HEIGHT_M",
    "GENTLE",
    "IMAGE_CENTRE",
    "KITTI_PRINCIPAL_POINT",
    "MOTIONS",
    "SPLIT_NAME",
    "TURNING",
    "DriveMotion",
    "build_scene",
    "drive_trajectory",
    "generate",
    "main",
    "make_calibration",
    "preview",
    "rotation_from_rotvec",
]
