"""The street of a drive: road, kerbs, sidewalks, building façades, parked box cars and poles as boxes, with their
materials and colours (world frame, metres).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.synthetic_kitti.motion import GENTLE, SCENE_AHEAD_M, SCENE_BEHIND_M, Boxes, DriveMotion, RoadPath

LANE_LINES_M = (-1.75, 1.75, 5.25)  # solid right edge line, dashed centre line, solid left edge line
LANE_LINE_WIDTH_M = 0.12
DASH_PERIOD_M, DASH_LENGTH_M = 9.0, 3.0
ROAD_EDGES_M = (-4.0, 7.5)  # kerbs, with a parking strip inside each
KERB_WIDTH_M, KERB_HEIGHT_M = 0.2, 0.15
SIDEWALK_WIDTH_M, SIDEWALK_HEIGHT_M = 3.0, 0.13
STRIP_SEGMENT_M = 8.0  # kerbs and sidewalks follow the curve as straight segments
STRIP_OVERLAP_M = 0.3
PAVING_TILE_M, GROUT_WIDTH_M = 0.6, 0.04
BUILDING_LENGTH_M, BUILDING_DEPTH_M, BUILDING_HEIGHT_M = (8.0, 22.0), (8.0, 14.0), (6.0, 20.0)
BUILDING_SETBACK_M, BUILDING_GAP_M = (0.3, 3.0), (2.0, 8.0)
FLOOR_HEIGHT_M, WINDOW_SPACING_M = 3.2, (2.4, 3.6)
CAR_LENGTH_M, CAR_WIDTH_M, CAR_SPACING_M = (3.9, 4.6), (1.7, 1.85), (5.0, 11.0)  # spacing: centre to centre
CAR_BODY_Z_M, CAR_ROOF_Z_M = (0.2, 1.0), (1.4, 1.55)
CAR_KERB_GAP_M = 0.2
POLE_WIDTH_M, POLE_HEIGHT_M, POLE_SPACING_M = 0.14, (3.5, 6.0), (12.0, 30.0)
POLE_KERB_DISTANCE_M = 0.6
GROUND, SKY = -1, -2  # surface ids; boxes are 0..N-1
FACADE, KERB, SIDEWALK, CAR_BODY, CAR_GLASS, POLE = range(6)
NOISE_AMPLITUDE = np.array([0.30, 0.25, 0.35, 0.12, 0.20, 0.25], np.float32)  # per material
ROAD_NOISE_AMPLITUDE = 0.45
NOISE_WAVELENGTHS_M = (8.0, 3.0, 1.1, 0.4, 0.15)
NOISE_TILE_TEXELS, NOISE_TILE_CYCLES = 256, 8
REMAP_COLUMNS = 1024
ASPHALT_RGB = (0.30, 0.30, 0.32)
VERGE_RGB = (0.30, 0.38, 0.20)
MARKING_RGB = (0.88, 0.88, 0.84)
KERB_RGB = (0.62, 0.62, 0.60)
SIDEWALK_RGB = (0.58, 0.50, 0.45)
GROUT_RGB = (0.30, 0.28, 0.27)
ROOF_RGB = (0.30, 0.25, 0.24)
WINDOW_RGB = (0.12, 0.15, 0.20)
GLASS_RGB = (0.10, 0.12, 0.15)
POLE_RGB = (0.45, 0.47, 0.50)
FACADE_PALETTE = ((0.78, 0.72, 0.60), (0.65, 0.35, 0.28), (0.82, 0.80, 0.76), (0.55, 0.60, 0.66),
                  (0.70, 0.62, 0.45), (0.50, 0.48, 0.46))
CAR_PALETTE = ((0.70, 0.10, 0.10), (0.10, 0.20, 0.60), (0.85, 0.85, 0.85), (0.15, 0.15, 0.15),
               (0.20, 0.45, 0.25), (0.75, 0.60, 0.10), (0.50, 0.50, 0.55))
SKY_HORIZON_RGB, SKY_ZENITH_RGB = (0.78, 0.84, 0.92), (0.35, 0.55, 0.85)
SUN_DIRECTION = np.array([0.42, 0.30, 0.86]) / np.linalg.norm([0.42, 0.30, 0.86])  # world, towards the sun
AMBIENT, DIFFUSE = 0.45, 0.70
BOX_EDGES = np.array([(k, k | bit) for bit in (1, 2, 4) for k in range(8) if not k & bit])


class BoxBuilder:
    """Collects boxes placed in road coordinates (s along the path, d to its left)."""

    def __init__(self, path: RoadPath) -> None:
        self.path = path
        self.rows: list[tuple] = []

    def add(self, s_m: float, d_m: float, length_m: float, width_m: float, z_range_m: tuple[float, float],
            material: int, colour: Sequence[float], texture_offset_m: float = 0.0,
            window_spacing_m: float = 1.0, yaw_offset_rad: float = 0.0) -> None:
        """A box centred at (s, d), ``length_m`` along the road tangent, ``width_m`` across it."""
        x, y = self.path.offset_point(s_m, d_m)
        z_low, z_high = z_range_m
        self.rows.append(((x, y, (z_low + z_high) / 2.0), float(self.path.heading(s_m)) + yaw_offset_rad,
                          (length_m / 2.0, width_m / 2.0, (z_high - z_low) / 2.0), material, colour,
                          texture_offset_m, window_spacing_m))

    def build(self) -> Boxes:
        centre, yaw, half, material, colour, offset, spacing = zip(*self.rows)
        return Boxes(np.array(centre), np.array(yaw), np.array(half), np.array(material),
                     np.array(colour, np.float32), np.array(offset, np.float32),
                     np.array(spacing, np.float32))


@dataclass(frozen=True)
class Scene:
    """Everything a sensor can see: the ground plane z = 0 (road along ``path``) and the boxes."""

    path: RoadPath
    boxes: Boxes
    corners: np.ndarray  # N×8×3 world box corners
    lookup: BoxLookup
    noise_tile: np.ndarray  # tileable band-limited noise, float32, about zero mean, within [-1, 1]


def _noise_tile(rng: np.random.Generator) -> np.ndarray:
    """Tileable noise with a narrow band around ``NOISE_TILE_CYCLES`` cycles per tile."""
    size = NOISE_TILE_TEXELS
    frequency = np.fft.fftfreq(size) * size
    radius = np.hypot(frequency[:, None], frequency[None, :])
    band = np.exp(-0.5 * ((radius - NOISE_TILE_CYCLES) / (NOISE_TILE_CYCLES / 4.0)) ** 2)
    tile = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * band))
    return np.clip(tile / (2.5 * tile.std()), -1.0, 1.0).astype(np.float32)


def _add_strips(boxes: BoxBuilder, s_range: tuple[float, float]) -> None:
    """Kerbs and sidewalks along both road edges."""
    for s_start in np.arange(*s_range, STRIP_SEGMENT_M):
        s_mid = s_start + STRIP_SEGMENT_M / 2.0
        length = STRIP_SEGMENT_M + STRIP_OVERLAP_M
        for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
            kerb_d = edge + outward * KERB_WIDTH_M / 2.0
            sidewalk_d = edge + outward * (KERB_WIDTH_M + SIDEWALK_WIDTH_M / 2.0)
            boxes.add(s_mid, kerb_d, length, KERB_WIDTH_M, (0.0, KERB_HEIGHT_M), KERB, KERB_RGB, s_start)
            boxes.add(s_mid, sidewalk_d, length, SIDEWALK_WIDTH_M, (0.0, SIDEWALK_HEIGHT_M), SIDEWALK,
                      SIDEWALK_RGB, s_start)


def _add_buildings(boxes: BoxBuilder, rng: np.random.Generator, s_range: tuple[float, float]) -> None:
    """Rows of façades behind both sidewalks, with occasional gaps."""
    for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
        inner_d = edge + outward * (KERB_WIDTH_M + SIDEWALK_WIDTH_M)
        s = s_range[0] - rng.uniform(0.0, 10.0)
        while s < s_range[1]:
            length, depth = rng.uniform(*BUILDING_LENGTH_M), rng.uniform(*BUILDING_DEPTH_M)
            d = inner_d + outward * (rng.uniform(*BUILDING_SETBACK_M) + depth / 2.0)
            colour = np.array(FACADE_PALETTE[rng.integers(len(FACADE_PALETTE))]) * rng.uniform(0.85, 1.1)
            boxes.add(s + length / 2.0, d, length, depth, (0.0, rng.uniform(*BUILDING_HEIGHT_M)), FACADE,
                      colour, rng.uniform(0.0, 100.0), rng.uniform(*WINDOW_SPACING_M))
            s += length + (0.0 if rng.random() < 0.4 else rng.uniform(*BUILDING_GAP_M))


def _add_parked_cars(boxes: BoxBuilder, rng: np.random.Generator, s_range: tuple[float, float]) -> None:
    """Box cars (body and glass cabin) parked along both kerbs."""
    for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
        s = s_range[0] + rng.uniform(0.0, 10.0)
        while s < s_range[1]:
            length, width = rng.uniform(*CAR_LENGTH_M), rng.uniform(*CAR_WIDTH_M)
            if rng.random() < 0.6:
                d = edge - outward * (CAR_KERB_GAP_M + width / 2.0)
                yaw = rng.uniform(-0.05, 0.05)
                colour = np.array(CAR_PALETTE[rng.integers(len(CAR_PALETTE))])
                boxes.add(s, d, length, width, CAR_BODY_Z_M, CAR_BODY, colour, rng.uniform(0.0, 100.0),
                          yaw_offset_rad=yaw)
                boxes.add(s - 0.1 * length, d, 0.55 * length, width - 0.1,
                          (CAR_BODY_Z_M[1], rng.uniform(*CAR_ROOF_Z_M)), CAR_GLASS, GLASS_RGB,
                          rng.uniform(0.0, 100.0), yaw_offset_rad=yaw)
            s += rng.uniform(*CAR_SPACING_M)


def _add_poles(boxes: BoxBuilder, rng: np.random.Generator, s_range: tuple[float, float]) -> None:
    """Thin poles on both sidewalks."""
    for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
        d = edge + outward * (KERB_WIDTH_M + POLE_KERB_DISTANCE_M)
        s = s_range[0] + rng.uniform(0.0, POLE_SPACING_M[1])
        while s < s_range[1]:
            boxes.add(s, d, POLE_WIDTH_M, POLE_WIDTH_M, (0.0, rng.uniform(*POLE_HEIGHT_M)), POLE, POLE_RGB,
                      rng.uniform(0.0, 100.0))
            s += rng.uniform(*POLE_SPACING_M)


def build_scene(rng: np.random.Generator, path_length_m: float, motion: DriveMotion = GENTLE) -> Scene:
    """A random street around a curved path of ``path_length_m`` starting at the world origin."""
    radius = rng.uniform(*motion.curve_radius_m)
    path = RoadPath(heading0_rad=rng.uniform(-math.pi, math.pi),
                    curvature_per_m=(1.0 if rng.random() < 0.5 else -1.0) / radius)
    s_range = (-SCENE_BEHIND_M, path_length_m + SCENE_AHEAD_M)
    builder = BoxBuilder(path)
    _add_strips(builder, s_range)
    _add_buildings(builder, rng, s_range)
    _add_parked_cars(builder, rng, s_range)
    _add_poles(builder, rng, s_range)
    boxes = builder.build()
    return Scene(path=path, boxes=boxes, corners=boxes.corners(), lookup=BoxLookup.from_boxes(boxes),
                 noise_tile=_noise_tile(rng))


@dataclass(frozen=True)
class BoxLookup:
    """Per-box float32 tables (channel-first), gathered by the surface id of hit points."""

    cos_yaw: np.ndarray  # N
    sin_yaw: np.ndarray  # N
    centre: np.ndarray  # 3×N (metres)
    inverse_half_size: np.ndarray  # 3×N (1/metres)
    texture_offset: np.ndarray  # N (metres)
    window_spacing: np.ndarray  # N (metres)
    colour: np.ndarray  # 3×N
    noise_amplitude: np.ndarray  # N
    material: np.ndarray  # N

    @classmethod
    def from_boxes(cls, boxes: Boxes) -> BoxLookup:
        return cls(
            cos_yaw=np.cos(boxes.yaw).astype(np.float32), sin_yaw=np.sin(boxes.yaw).astype(np.float32),
            centre=np.ascontiguousarray(boxes.centre.T, np.float32),
            inverse_half_size=np.ascontiguousarray(1.0 / boxes.half_size.T, np.float32),
            texture_offset=boxes.texture_offset, window_spacing=boxes.window_spacing,
            colour=np.ascontiguousarray(boxes.colour.T), noise_amplitude=NOISE_AMPLITUDE[boxes.material],
            material=boxes.material,
        )

