"""The 64-beam Velodyne: its rays and a scan of the scene in KITTI's ``.bin`` layout (x, y, z, reflectance).
"""

from __future__ import annotations

import math

import numpy as np

from training.synthetic_kitti.render import Window, _gather, _trace
from training.synthetic_kitti.rig import MAX_RANGE_M, VELODYNE_AZIMUTH_STEP_DEG, VELODYNE_BEAMS, VELODYNE_ELEVATION_DEG
from training.synthetic_kitti.scene import Scene


def lidar_box_windows(scene: Scene, velo_from_world: np.ndarray, columns: int) -> list[Window]:
    """Per box within range, the azimuth columns (all beams) that can see it, wrapping ranges split; t is
    range, bounded below by the distance to the box's bounding sphere."""
    corners = scene.corners @ velo_from_world[:3, :3].T + velo_from_world[:3, 3]
    centre = corners.mean(axis=1)
    reach = np.linalg.norm(corners - centre[:, None], axis=-1).max(axis=1)
    min_range = np.maximum(np.linalg.norm(centre, axis=1) - reach, 0.0)
    centre_azimuth = np.arctan2(centre[:, 1], centre[:, 0])
    relative = np.arctan2(corners[..., 1], corners[..., 0]) - centre_azimuth[:, None]
    relative = (relative + np.pi) % (2.0 * np.pi) - np.pi
    step = math.radians(VELODYNE_AZIMUTH_STEP_DEG)
    first = np.floor((centre_azimuth + relative.min(axis=1) + np.pi) / step).astype(int) - 1
    last = np.ceil((centre_azimuth + relative.max(axis=1) + np.pi) / step).astype(int) + 2
    surrounds = relative.max(axis=1) - relative.min(axis=1) > 0.95 * np.pi
    windows = []
    for index in np.flatnonzero(min_range < MAX_RANGE_M):
        if surrounds[index]:
            windows.append(Window(int(index), slice(None), slice(0, columns), float(min_range[index])))
            continue
        low, high = int(first[index]), int(last[index])
        for shift in (-columns, 0, columns):  # the part of [low, high) in each wrap of the column range
            u0, u1 = max(low + shift, 0), min(high + shift, columns)
            if u0 < u1:
                windows.append(Window(int(index), slice(None), slice(u0, u1), float(min_range[index])))
    return windows


def velodyne_rays() -> np.ndarray:
    """3×(64·C) unit ray directions of the Velodyne (velo frame), beam-major from the top beam, each beam
    sweeping azimuth from −π in ``VELODYNE_AZIMUTH_STEP_DEG`` steps."""
    elevation = np.radians(np.linspace(VELODYNE_ELEVATION_DEG[1], VELODYNE_ELEVATION_DEG[0], VELODYNE_BEAMS))
    azimuth = -np.pi + (np.arange(velodyne_columns()) + 0.5) * math.radians(VELODYNE_AZIMUTH_STEP_DEG)
    rays = np.stack([np.cos(elevation)[:, None] * np.cos(azimuth)[None],
                     np.cos(elevation)[:, None] * np.sin(azimuth)[None],
                     np.broadcast_to(np.sin(elevation)[:, None], (VELODYNE_BEAMS, azimuth.size))])
    return rays.reshape(3, -1).astype(np.float32)


def velodyne_columns() -> int:
    return round(360.0 / VELODYNE_AZIMUTH_STEP_DEG)


def scan_velodyne(scene: Scene, world_from_velo: np.ndarray, lidar_rays: np.ndarray) -> np.ndarray:
    """N×4 float32 Velodyne points (x, y, z in the velo frame, metres; reflectance in [0, 1]) within range."""
    columns = velodyne_columns()
    windows = lidar_box_windows(scene, np.linalg.inv(world_from_velo), columns)
    traced = _trace(scene, world_from_velo, lidar_rays, (VELODYNE_BEAMS, columns), windows,
                    math.radians(VELODYNE_AZIMUTH_STEP_DEG))
    distance = traced["t"][traced["hit"]]
    kept = np.flatnonzero(distance <= MAX_RANGE_M)
    kept = kept[np.argsort(traced["hit"][kept])]  # firing order: beam by beam, azimuth from −π
    points = distance[kept] * _gather(lidar_rays, traced["hit"][kept])
    reflectance = np.clip(_gather(traced["albedo"], kept).mean(axis=0), 0.0, 1.0)
    return np.column_stack([points.T, reflectance]).astype(np.float32)

