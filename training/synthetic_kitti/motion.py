"""How the synthetic car drives: the road path (a circular arc), drive profiles (:class:`DriveMotion`), and the
trajectory of every frame with its OXTS packet (metres, radians, seconds; world frame x east, y north, z up).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from training.synthetic_kitti.rig import CAMERA2_IN_IMU_M, IMU_HEIGHT_M, rigid_transform, rotation_from_rpy

FRAME_PERIOD_NS = 100_000_000  # 10 Hz
DRIVE_INTERVAL_S = 600  # drive k starts at 13:00 + k·10 min (UTC) on the date
SPEED_M_PER_FRAME = (0.8, 1.2)
LANE_WEAVE_WAVELENGTH_M = (40.0, 80.0)
GRAVITY_M_S2 = 9.81
EARTH_RADIUS_M = 6378137.0
ORIGIN_LATITUDE_DEG = 49.009  # Karlsruhe
ORIGIN_LONGITUDE_DEG = 8.437
ORIGIN_ALTITUDE_M = 112.0
SCENE_BEHIND_M = 40.0  # scene extent behind the first frame (for the Velodyne's rear half)
SCENE_AHEAD_M = 130.0  # and ahead of the last frame
OXTS_STATUS = (0.05, 0.02, 4, 10, 4, 4, 0)  # pos_accuracy .. orimode


@dataclass(frozen=True)
class DriveMotion:
    """How the car turns and sways. Learned intrinsics are identifiable only from rotation between frames (forward
    translation leaves them free): fx and cx from yaw, fy and cy from pitch and roll. The learned-intrinsics checks
    drive :data:`TURNING`; other profiles are data (:meth:`from_json`, ``--motion_file``), e.g. the study's in
    ``projects/learned_intrinsics/motions/``."""

    curve_radius_m: tuple[float, float]  # the road is an arc of a radius drawn from this range
    lane_weave_m: float  # amplitude of a sinusoidal weave within the lane (0: the lane centre)
    roll_sway_rad: float  # amplitude of the car body's roll oscillation (about the direction of travel)
    pitch_sway_rad: float  # amplitude of its pitch oscillation: tilts the direction of travel in the camera frame
    body_sway_wavelength_m: tuple[float, float] = (15.0, 30.0)  # drawn per drive for pitch and roll apart
    # amplitude of a yaw oscillation of the body away from the direction of travel: the roll's wavelength, a quarter
    # period behind it (a wobble); 0 keeps the body pointing where it goes
    yaw_sway_rad: float = 0.0
    # The point (IMU frame, metres) the body sways about: the IMU (a car's body), or the camera (a hand-held or
    # gimballed camera: sway then rotates the view without moving the camera). The OXTS velocities and
    # accelerations leave out the pivot's lever arm.
    sway_pivot_in_imu_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def from_json(cls, path: str | Path) -> DriveMotion:
        """A profile from a JSON object of these fields (pairs and triples as lists); ValueError names what is wrong.

        ``"sway_pivot_in_imu_m": "camera"`` sways about the left colour camera's centre (a hand-held or gimballed
        camera)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read motion profile {path}: {exc}") from None
        known = {f.name: f for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - set(known):
            extra = sorted(set(data) - set(known)) if isinstance(data, dict) else "not a JSON object"
            raise ValueError(f"motion profile {path}: unknown field(s) {extra}; known: {', '.join(known)}")
        if data.get("sway_pivot_in_imu_m") == "camera":
            data["sway_pivot_in_imu_m"] = CAMERA2_IN_IMU_M
        try:
            return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in data.items()})
        except TypeError as exc:
            raise ValueError(f"motion profile {path}: {exc}") from None

# ~0.25°/frame
GENTLE = DriveMotion(curve_radius_m=(150.0, 400.0), lane_weave_m=0.0, roll_sway_rad=0.005, pitch_sway_rad=0.005)
# ~0.6°/frame; ≤ 250 m of arc keeps within half a turn (road_coordinates wraps at ±π·R)
TURNING = DriveMotion(curve_radius_m=(80.0, 200.0), lane_weave_m=0.2, roll_sway_rad=0.02, pitch_sway_rad=0.02)
MOTIONS = {"gentle": GENTLE, "turning": TURNING}


@dataclass(frozen=True)
class RoadPath:
    """The vehicle's path: a circular arc in the world plane, parametrised by arc length s (metres)."""

    heading0_rad: float  # heading at s = 0 (0 = east, counter-clockwise), the path starts at the origin
    curvature_per_m: float  # signed, never 0; positive turns left

    def heading(self, s_m: np.ndarray | float) -> np.ndarray:
        return self.heading0_rad + self.curvature_per_m * np.asarray(s_m)

    def position(self, s_m: np.ndarray | float) -> np.ndarray:
        """(..., 2) world x, y of the path at arc length ``s_m``."""
        heading = self.heading(s_m)
        k = self.curvature_per_m
        return np.stack([(np.sin(heading) - math.sin(self.heading0_rad)) / k,
                         (math.cos(self.heading0_rad) - np.cos(heading)) / k], axis=-1)

    def offset_point(self, s_m: float, d_m: float) -> np.ndarray:
        """World x, y of the point ``d_m`` to the left of the path at arc length ``s_m``."""
        heading = float(self.heading(s_m))
        return self.position(s_m) + d_m * np.array([-math.sin(heading), math.cos(heading)])

    def road_coordinates(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length s and lateral offset d (left positive) of world points, in metres."""
        k = self.curvature_per_m
        centre_x, centre_y = -math.sin(self.heading0_rad) / k, math.cos(self.heading0_rad) / k
        radius = np.hypot(x_m - centre_x, y_m - centre_y)
        start_angle = math.atan2(-centre_y, -centre_x)
        turns = (np.arctan2(y_m - centre_y, x_m - centre_x) - start_angle) / (2.0 * np.pi)
        angle = 2.0 * np.pi * (turns - np.floor(turns + 0.5))  # wrapped to [−π, π)
        return angle / k, 1.0 / k - math.copysign(1.0, k) * radius


@dataclass(frozen=True)
class Boxes:
    """Boxes standing on the world plane, each rotated about z by ``yaw``; arrays over boxes."""

    centre: np.ndarray  # N×3 (metres)
    yaw: np.ndarray  # N (radians)
    half_size: np.ndarray  # N×3 half extents along the box's own x, y, z (metres)
    material: np.ndarray  # N int
    colour: np.ndarray  # N×3 float32 albedo
    texture_offset: np.ndarray  # N: added to the horizontal surface coordinate (metres)
    window_spacing: np.ndarray  # N: façade window pitch (metres)

    def corners(self) -> np.ndarray:
        """N×8×3 world corners; corner k has the +half extent on axis a where bit a of k is set."""
        signs = np.array([[1.0 if k & (1 << a) else -1.0 for a in range(3)] for k in range(8)])
        local = signs[None] * self.half_size[:, None, :]
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        x = c * local[..., 0] - s * local[..., 1]
        y = s * local[..., 0] + c * local[..., 1]
        return np.stack([x, y, local[..., 2]], axis=-1) + self.centre[:, None, :]


@dataclass(frozen=True)
class Trajectory:
    """A drive's IMU poses (world frame of the scene) and the OXTS packets describing them."""

    world_from_imu: np.ndarray  # F×4×4
    oxts: list[list[float]]  # F rows of the 30 OXTS fields


def _mercator_to_geodetic(x_m: np.ndarray, y_m: np.ndarray, latitude0_deg: float,
                          longitude0_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Latitude, longitude (deg) of local east/north offsets, inverting the devkit's Mercator projection
    with scale ``cos(latitude0)`` (the first packet's latitude)."""
    scaled_radius = math.cos(math.radians(latitude0_deg)) * EARTH_RADIUS_M
    east = scaled_radius * math.radians(longitude0_deg) + x_m
    north = scaled_radius * math.log(math.tan(math.radians(90.0 + latitude0_deg) / 2.0)) + y_m
    return np.degrees(2.0 * np.arctan(np.exp(north / scaled_radius))) - 90.0, np.degrees(east / scaled_radius)


def drive_trajectory(path: RoadPath, rng: np.random.Generator, frames: int, motion: DriveMotion = GENTLE) -> Trajectory:
    """IMU poses at a steady pace along the road, weaving within the lane with a gentle body sway, and the
    matching OXTS packets."""
    speed_m_per_frame = rng.uniform(*SPEED_M_PER_FRAME)
    speed = speed_m_per_frame * 1e9 / FRAME_PERIOD_NS  # m/s
    s = np.arange(frames) * speed_m_per_frame
    sway_wavenumber = 2.0 * np.pi / rng.uniform(*motion.body_sway_wavelength_m, size=2)
    sway_phase = rng.uniform(0.0, 2.0 * np.pi, size=2)
    sway = list(zip(sway_wavenumber, sway_phase))
    amplitudes = (motion.roll_sway_rad, motion.pitch_sway_rad)
    roll, pitch = (a * np.sin(k * s + phase) for a, (k, phase) in zip(amplitudes, sway))
    roll_rate, pitch_rate = (a * k * speed * np.cos(k * s + phase) for a, (k, phase) in zip(amplitudes, sway))
    weave_wavenumber = 2.0 * np.pi / rng.uniform(*LANE_WEAVE_WAVELENGTH_M)
    weave_phase = rng.uniform(0.0, 2.0 * np.pi)
    lateral = motion.lane_weave_m * np.sin(weave_wavenumber * s + weave_phase)  # left of the path (m)
    lateral_slope = motion.lane_weave_m * weave_wavenumber * np.cos(weave_wavenumber * s + weave_phase)
    lateral_curvature = -weave_wavenumber**2 * lateral
    travel = path.heading(s) + np.arctan(lateral_slope)  # heading of the velocity
    roll_k, roll_phase = sway[0]
    yaw_sway_phase = roll_k * s + roll_phase - np.pi / 2.0  # a quarter period behind the roll
    yaw = travel + motion.yaw_sway_rad * np.sin(yaw_sway_phase)  # the body's heading
    yaw_sway_rate = motion.yaw_sway_rad * roll_k * speed * np.cos(yaw_sway_phase)
    path_xy = np.stack([path.offset_point(float(s_i), float(d_i)) for s_i, d_i in zip(s, lateral)])
    rotations = [rotation_from_rpy(r, p, y) for r, p, y in zip(roll, pitch, yaw)]
    levels = [rotation_from_rpy(0.0, 0.0, y) for y in yaw]
    # The body sways about the pivot: the pivot stays where the level car pointing along its travel would carry it,
    # the IMU moves about it.
    pivot = np.array(motion.sway_pivot_in_imu_m)
    position = np.c_[path_xy, np.full(frames, IMU_HEIGHT_M)] + np.stack(
        [(rotation_from_rpy(0.0, 0.0, t) - rotation) @ pivot for t, rotation in zip(travel, rotations)])
    latitude0 = round(ORIGIN_LATITUDE_DEG + rng.uniform(-0.01, 0.01), 6)
    longitude0 = round(ORIGIN_LONGITUDE_DEG + rng.uniform(-0.01, 0.01), 6)
    latitude, longitude = _mercator_to_geodetic(position[:, 0], position[:, 1], latitude0, longitude0)
    # Speed over ground (m/s): the lane offset stretches the path by (1 − κ·d) and the weave by its slope.
    ground_speed = speed * np.hypot(1.0 - path.curvature_per_m * lateral, lateral_slope)
    travel_rates = (path.curvature_per_m + lateral_curvature / (1.0 + lateral_slope**2)) * speed  # rad/s
    yaw_rates = travel_rates + yaw_sway_rate
    poses, rows = [], []
    for i, (rotation, level) in enumerate(zip(rotations, levels)):
        poses.append(rigid_transform(rotation, position[i]))
        yaw_rate = yaw_rates[i]
        velocity = ground_speed[i] * np.array([math.cos(travel[i]), math.sin(travel[i]), 0.0])
        specific_force = ground_speed[i] * travel_rates[i] * np.array([-math.sin(travel[i]), math.cos(travel[i]), 0.0])
        specific_force[2] += GRAVITY_M_S2
        body_rates = np.array([roll_rate[i], pitch_rate[i], 0.0]) + yaw_rate * rotation[2]  # Rᵀ·(0, 0, ω)
        level_rates = np.array([roll_rate[i], pitch_rate[i], yaw_rate])
        rows.append([latitude[i], longitude[i], ORIGIN_ALTITUDE_M + position[i, 2], roll[i], pitch[i],
                     (yaw[i] + np.pi) % (2.0 * np.pi) - np.pi, velocity[1], velocity[0],
                     *(level.T @ velocity), *(rotation.T @ specific_force), *(level.T @ specific_force),
                     *body_rates, *level_rates, *OXTS_STATUS])
    return Trajectory(world_from_imu=np.stack(poses), oxts=rows)

