"""Ray casting the scene: box hits, procedural texture and Lambertian shading, and the rectified cameras' images and
dense depth (pixels, metres along the optical axis).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from training.synthetic_kitti.rig import MAX_RANGE_M
from training.synthetic_kitti.scene import (
    AMBIENT,
    ASPHALT_RGB,
    BOX_EDGES,
    DASH_LENGTH_M,
    DASH_PERIOD_M,
    DIFFUSE,
    FACADE,
    FLOOR_HEIGHT_M,
    GROUND,
    GROUT_RGB,
    GROUT_WIDTH_M,
    LANE_LINE_WIDTH_M,
    LANE_LINES_M,
    MARKING_RGB,
    NOISE_TILE_CYCLES,
    NOISE_TILE_TEXELS,
    NOISE_WAVELENGTHS_M,
    PAVING_TILE_M,
    REMAP_COLUMNS,
    ROAD_EDGES_M,
    ROAD_NOISE_AMPLITUDE,
    ROOF_RGB,
    SIDEWALK,
    SKY,
    SKY_HORIZON_RGB,
    SKY_ZENITH_RGB,
    SUN_DIRECTION,
    VERGE_RGB,
    WINDOW_RGB,
    BoxLookup,
    Scene,
)

NEAR_PLANE_M = 0.05
RENDER_THREADS = 2


def _box_hit_depth(scene: Scene, index: int, origin: np.ndarray, ray_x: np.ndarray, ray_y: np.ndarray,
                   ray_z: np.ndarray, inverse_ray_z: np.ndarray) -> np.ndarray:
    """Ray parameter of the entry point into box ``index`` (slab test), +inf where the ray misses it.

    Rays are ``origin + t·ray`` in world coordinates; the origin must lie outside the box.
    """
    boxes = scene.boxes
    cos_yaw, sin_yaw = math.cos(boxes.yaw[index]), math.sin(boxes.yaw[index])
    relative = (origin - boxes.centre[index]).tolist()
    local_origin = (cos_yaw * relative[0] + sin_yaw * relative[1],
                    cos_yaw * relative[1] - sin_yaw * relative[0], relative[2])
    half = boxes.half_size[index].tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_x = 1.0 / (cos_yaw * ray_x + sin_yaw * ray_y)
        inverse_y = 1.0 / (cos_yaw * ray_y - sin_yaw * ray_x)
        near = far = None
        for inverse, o, h in zip((inverse_x, inverse_y, inverse_ray_z), local_origin, half):
            t_low, t_high = (-h - o) * inverse, (h - o) * inverse
            axis_near, axis_far = np.minimum(t_low, t_high), np.maximum(t_low, t_high)
            if near is None:
                near, far = axis_near, axis_far
            else:
                np.maximum(near, axis_near, out=near)
                np.minimum(far, axis_far, out=far)
        near[(near > far) | (near <= 0.0)] = np.inf
    return near


class Window(NamedTuple):
    """The rays that may hit a box: a rectangle of the ray grid, and a lower bound on the hit's t."""

    box: int
    rows: slice
    cols: slice
    min_t: float


def cast_rays(scene: Scene, origin: np.ndarray, rays: np.ndarray,
              windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of the rays ``origin + t·rays`` (rays: 3×H×W world, float32) with the ground and boxes.

    Each box is tested only against the rays of its window, nearest boxes first, and skipped when
    everything in its window is already hit nearer than the box can be.
    Returns t (H×W float32, +inf for sky) and the surface id (H×W int32: box index, GROUND or SKY).
    """
    ray_x, ray_y, ray_z = rays
    with np.errstate(divide="ignore"):
        inverse_ray_z = 1.0 / ray_z
    t = np.where(ray_z < 0.0, -float(origin[2]) * inverse_ray_z, np.inf).astype(np.float32)
    surface = np.where(np.isfinite(t), GROUND, SKY).astype(np.int32)
    for index, rows, cols, min_t in sorted(windows, key=lambda window: window.min_t):
        nearest_t = t[rows, cols]
        if min_t >= nearest_t.max():
            continue
        hit_t = _box_hit_depth(scene, index, origin, ray_x[rows, cols], ray_y[rows, cols], ray_z[rows, cols],
                               inverse_ray_z[rows, cols])
        closer = hit_t < nearest_t
        np.copyto(nearest_t, hit_t, where=closer)
        np.copyto(surface[rows, cols], index, where=closer)
    return t, surface


def camera_box_windows(scene: Scene, camera_from_world: np.ndarray, K: np.ndarray, height_px: int,
                       width_px: int) -> list[Window]:
    """Per box, the pixel rectangle bounding its projection (clipped at the near plane), if not empty;
    t is depth, so the box's nearest corner depth bounds it."""
    corners = scene.corners @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    start, end = corners[:, BOX_EDGES[:, 0]], corners[:, BOX_EDGES[:, 1]]
    start_z, end_z = start[..., 2], end[..., 2]
    crosses = (start_z > NEAR_PLANE_M) != (end_z > NEAR_PLANE_M)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (NEAR_PLANE_M - start_z) / (end_z - start_z)
    crossings = start + np.where(crosses, fraction, 0.0)[..., None] * (end - start)
    points = np.concatenate([corners, crossings], axis=1)
    valid = np.concatenate([corners[..., 2] > NEAR_PLANE_M, crosses], axis=1)
    depth = np.where(valid, np.maximum(points[..., 2], NEAR_PLANE_M), 1.0)
    u = K[0, 0] * points[..., 0] / depth + K[0, 2]
    v = K[1, 1] * points[..., 1] / depth + K[1, 2]
    u_low = np.floor(np.where(valid, u, np.inf).min(axis=1)).clip(-1, width_px) - 1
    u_high = np.ceil(np.where(valid, u, -np.inf).max(axis=1)).clip(-1, width_px) + 2
    v_low = np.floor(np.where(valid, v, np.inf).min(axis=1)).clip(-1, height_px) - 1
    v_high = np.ceil(np.where(valid, v, -np.inf).max(axis=1)).clip(-1, height_px) + 2
    min_depth = np.maximum(corners[..., 2].min(axis=1), NEAR_PLANE_M)
    windows = []
    for index in np.flatnonzero(valid.any(axis=1)):
        u0, u1 = max(int(u_low[index]), 0), min(int(u_high[index]), width_px)
        v0, v1 = max(int(v_low[index]), 0), min(int(v_high[index]), height_px)
        if u0 < u1 and v0 < v1:
            windows.append(Window(int(index), slice(v0, v1), slice(u0, u1), float(min_depth[index])))
    return windows


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[..., index]`` (np.take is several times faster than 2-D fancy indexing)."""
    return np.take(values, index, axis=-1)


def _scatter(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``target[..., index] = values``, row by row (1-D fancy assignment is the fast path)."""
    values = np.broadcast_to(values, (*target.shape[:-1], index.size))
    for row in np.ndindex(target.shape[:-1]):
        target[row][index] = values[row]


def _fraction(x: np.ndarray) -> np.ndarray:
    """x − floor(x) (much faster than np.mod)."""
    return x - np.floor(x)


def _box_filter_interval(x: np.ndarray, low: float, high: float, blur: np.ndarray) -> np.ndarray:
    """Fraction of the footprint ``[x − blur/2, x + blur/2]`` inside ``[low, high]`` (anti-aliased step)."""
    overlap = np.minimum(x + blur / 2.0, high) - np.maximum(x - blur / 2.0, low)
    return np.clip(overlap / blur, 0.0, 1.0)


def _periodic_coverage(x: np.ndarray, period: np.ndarray | float, low: float, high: float,
                       blur: np.ndarray) -> np.ndarray:
    """Anti-aliased indicator of ``low ≤ frac(x / period) < high`` (low, high in [0, 1])."""
    phase = _fraction(x / period)
    blur = np.minimum(blur / period, 1.0)
    return sum(_box_filter_interval(phase, low + wrap, high + wrap, blur) for wrap in (-1.0, 0.0, 1.0))


def _fractal_noise(tile: np.ndarray, u_m: np.ndarray, v_m: np.ndarray, footprint_m: np.ndarray,
                   seed_offset: float) -> np.ndarray:
    """Sum of octaves of the noise tile at surface coordinates (metres), each octave faded out as its
    wavelength approaches two pixel footprints (so textures do not alias)."""
    total = np.zeros(u_m.shape, np.float32)
    if total.size == 0:
        return total
    texels_per_wavelength = NOISE_TILE_TEXELS / NOISE_TILE_CYCLES
    half_inverse_footprint = 0.5 / footprint_m
    # cv2.remap wants maps under 32767 rows and columns: sample on a padded 2-D layout.
    padded = -(-total.size // REMAP_COLUMNS) * REMAP_COLUMNS
    map_u, map_v = np.zeros(padded, np.float32), np.zeros(padded, np.float32)
    for octave, wavelength in enumerate(NOISE_WAVELENGTHS_M):
        weight = np.clip(wavelength * half_inverse_footprint - 1.0, 0.0, 1.0)
        tiles_per_m = texels_per_wavelength / wavelength / NOISE_TILE_TEXELS
        offset = (seed_offset + 37.0 * octave) / NOISE_TILE_TEXELS
        map_u[: total.size] = _fraction(u_m * tiles_per_m + offset) * NOISE_TILE_TEXELS
        map_v[: total.size] = _fraction(v_m * tiles_per_m + 0.61 * offset) * NOISE_TILE_TEXELS
        sample = cv2.remap(tile, map_u.reshape(-1, REMAP_COLUMNS), map_v.reshape(-1, REMAP_COLUMNS),
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        total += weight * sample.ravel()[: total.size]
    return total


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise dot product of 3×N arrays."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _blend(base: np.ndarray, overlay_rgb: Sequence[float] | np.ndarray, amount: np.ndarray) -> np.ndarray:
    """(1 − amount)·base + amount·overlay for channel-first colours (3×N)."""
    overlay = np.asarray(overlay_rgb, np.float32).reshape(3, -1)
    return base + amount * (overlay - base)


def _ground_albedo(scene: Scene, x_m: np.ndarray, y_m: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
    """3×N albedo: asphalt with lane markings between the kerbs, grass verge outside them."""
    s, d = scene.path.road_coordinates(x_m, y_m)
    on_road = (d > ROAD_EDGES_M[0]) & (d < ROAD_EDGES_M[1])
    gain = 1.0 + ROAD_NOISE_AMPLITUDE * _fractal_noise(scene.noise_tile, x_m, y_m, footprint_m, 0.0)
    albedo = np.stack([np.where(on_road, asphalt, verge) * gain
                       for asphalt, verge in zip(np.float32(ASPHALT_RGB), np.float32(VERGE_RGB))])
    half_width = LANE_LINE_WIDTH_M / 2.0
    right_line, centre_line, left_line = (_box_filter_interval(d, line - half_width, line + half_width,
                                                               footprint_m) for line in LANE_LINES_M)
    dashes = _periodic_coverage(s, DASH_PERIOD_M, 0.0, DASH_LENGTH_M / DASH_PERIOD_M, footprint_m)
    marking = np.maximum(np.maximum(right_line, left_line), centre_line * dashes) * on_road
    return _blend(albedo, MARKING_RGB, marking)


def _box_surface(lookup: BoxLookup, points: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, ...]:
    """For hit points (3×N world) on boxes: world normal (3×N), top-face mask, and surface coordinates
    u (horizontal along the face) and v (height on side faces), in metres."""
    cos_yaw, sin_yaw = lookup.cos_yaw[box], lookup.sin_yaw[box]
    relative_x, relative_y, relative_z = points - _gather(lookup.centre, box)
    local_x = cos_yaw * relative_x + sin_yaw * relative_y
    local_y = cos_yaw * relative_y - sin_yaw * relative_x
    extent_x, extent_y, extent_z = (np.abs(local) * lookup.inverse_half_size[axis][box]
                                    for axis, local in enumerate((local_x, local_y, relative_z)))
    on_x = (extent_x >= extent_y) & (extent_x >= extent_z)
    on_top = ~on_x & (extent_z > extent_y)
    on_y = ~on_x & ~on_top
    sign_x, sign_y = np.sign(local_x) * on_x, np.sign(local_y) * on_y
    normal = np.stack([cos_yaw * sign_x - sin_yaw * sign_y, sin_yaw * sign_x + cos_yaw * sign_y,
                       np.sign(relative_z) * on_top])
    u = np.where(on_x, local_y, local_x) + lookup.texture_offset[box]
    v = np.where(on_top, local_y, points[2])
    return normal, on_top, u, v


def _box_albedo(scene: Scene, box: np.ndarray, on_top: np.ndarray, u: np.ndarray, v: np.ndarray,
                footprint_m: np.ndarray) -> np.ndarray:
    """3×N albedo: noise-modulated box colours, façade windows and roofs, sidewalk paving."""
    lookup = scene.lookup
    material = lookup.material[box]
    noise = _fractal_noise(scene.noise_tile, u, v, footprint_m, 101.0)
    albedo = _gather(lookup.colour, box) * (1.0 + lookup.noise_amplitude[box] * noise)
    side = np.flatnonzero((material == FACADE) & ~on_top)
    windows = (_periodic_coverage(u[side], lookup.window_spacing[box[side]], 0.25, 0.75, footprint_m[side])
               * _periodic_coverage(v[side], FLOOR_HEIGHT_M, 0.3, 0.8, footprint_m[side])
               * (v[side] > FLOOR_HEIGHT_M))
    window_rgb = np.float32(WINDOW_RGB)[:, None] * (1.0 + 0.3 * noise[side])
    _scatter(albedo, side, _blend(_gather(albedo, side), window_rgb, windows))
    roof = np.flatnonzero((material == FACADE) & on_top)
    _scatter(albedo, roof, np.float32(ROOF_RGB)[:, None] * (1.0 + 0.3 * noise[roof]))
    paving = np.flatnonzero((material == SIDEWALK) & on_top)
    grout_fraction = GROUT_WIDTH_M / PAVING_TILE_M
    grout = np.maximum(_periodic_coverage(u[paving], PAVING_TILE_M, 0.0, grout_fraction, footprint_m[paving]),
                       _periodic_coverage(v[paving], PAVING_TILE_M, 0.0, grout_fraction, footprint_m[paving]))
    _scatter(albedo, paving, _blend(_gather(albedo, paving), GROUT_RGB, grout))
    return albedo


def surface_appearance(scene: Scene, points: np.ndarray, box: np.ndarray, ray_unit: np.ndarray,
                       footprint_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (3×N float32, ~[0, 1]) and world normal (3×N) of hit points (3×N world, metres).

    The points are ordered ground hits first, then the hits on boxes, whose box indices ``box`` lists.
    ``footprint_m`` is the sampling footprint at normal incidence; it is widened for oblique surfaces.
    """
    albedo = np.empty_like(points)
    normal = np.zeros_like(points)
    ground = slice(0, points.shape[1] - box.size)
    on_box = slice(ground.stop, None)
    normal[2, ground] = 1.0
    obliquity = np.sqrt(np.maximum(np.abs(ray_unit[2, ground]), 0.05))
    albedo[:, ground] = _ground_albedo(scene, points[0, ground], points[1, ground],
                                       footprint_m[ground] / obliquity)
    box_normal, on_top, u, v = _box_surface(scene.lookup, points[:, on_box], box)
    normal[:, on_box] = box_normal
    obliquity = np.sqrt(np.maximum(np.abs(_dot(normal[:, on_box], ray_unit[:, on_box])), 0.05))
    albedo[:, on_box] = _box_albedo(scene, box, on_top, u, v, footprint_m[on_box] / obliquity)
    return albedo, normal


def pixel_rays(K: np.ndarray, height_px: int, width_px: int) -> np.ndarray:
    """3×(H·W) camera-frame rays through pixel centres (integer coordinates), scaled to z = 1."""
    u = (np.arange(width_px, dtype=np.float64) - K[0, 2]) / K[0, 0]
    v = (np.arange(height_px, dtype=np.float64) - K[1, 2]) / K[1, 1]
    rays = np.stack([np.broadcast_to(u[None], (height_px, width_px)),
                     np.broadcast_to(v[:, None], (height_px, width_px)), np.ones((height_px, width_px))])
    return rays.reshape(3, -1).astype(np.float32)


def _rotate(rotation: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``rotation @ vectors`` for 3×N float32 vectors, row by row (BLAS is slow for this shape)."""
    return np.stack([sum(float(rotation[row, col]) * vectors[col] for col in range(3)) for row in range(3)])


def _trace(scene: Scene, world_from_sensor: np.ndarray, sensor_rays: np.ndarray, grid_shape: tuple[int, int],
           windows: list[Window], footprint_per_m: float) -> dict[str, np.ndarray]:
    """Cast 3×M sensor-frame rays (laid out as ``grid_shape``) and shade their hits.

    Returns world rays (3×M), ray parameter t (M, +inf for sky), the hit indices, and albedo and normal
    (3×K) of those hits; ``footprint_per_m`` is the pixel footprint per metre of range.
    """
    origin = world_from_sensor[:3, 3]
    rays = _rotate(world_from_sensor[:3, :3], sensor_rays)
    t, surface = cast_rays(scene, origin, rays.reshape(3, *grid_shape), windows)
    t, surface = t.ravel(), surface.ravel()
    on_box = np.flatnonzero(surface >= 0)
    hit = np.concatenate([np.flatnonzero(surface == GROUND), on_box])  # as surface_appearance wants them
    hit_rays, hit_t = _gather(rays, hit), t[hit]
    ray_length = np.sqrt(_dot(hit_rays, hit_rays))
    points = origin.astype(np.float32)[:, None] + hit_t * hit_rays
    albedo, normal = surface_appearance(scene, points, surface[on_box], hit_rays / ray_length,
                                        hit_t * ray_length * np.float32(footprint_per_m))
    return {"rays": rays, "t": t, "hit": hit, "albedo": albedo, "normal": normal}


def render_camera(scene: Scene, world_from_camera: np.ndarray, K: np.ndarray, camera_rays: np.ndarray,
                  height_px: int, width_px: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB image (H×W×3 uint8) and depth (H×W float32 metres along the optical axis, 0 = invalid).

    ``camera_rays`` are :func:`pixel_rays`; with their z = 1 the ray parameter is the depth.
    """
    windows = camera_box_windows(scene, np.linalg.inv(world_from_camera), K, height_px, width_px)
    traced = _trace(scene, world_from_camera, camera_rays, (height_px, width_px), windows, 1.0 / K[0, 0])
    rays, depth, hit = traced["rays"], traced["t"], traced["hit"]
    lambert = np.maximum(SUN_DIRECTION.astype(np.float32) @ traced["normal"], 0.0)
    colour = np.empty((3, depth.size), np.float32)
    _scatter(colour, hit, traced["albedo"] * (AMBIENT + DIFFUSE * lambert))
    sky = np.flatnonzero(~np.isfinite(depth))
    sky_rays = _gather(rays, sky)
    elevation = np.clip(2.5 * sky_rays[2] / np.sqrt(_dot(sky_rays, sky_rays)), 0.0, 1.0)
    _scatter(colour, sky, _blend(np.float32(SKY_HORIZON_RGB)[:, None], SKY_ZENITH_RGB, elevation))
    channels = np.clip(colour * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8).reshape(3, height_px, width_px)
    depth = np.where(depth <= MAX_RANGE_M, depth, 0.0).astype(np.float32).reshape(height_px, width_px)
    return cv2.merge(list(channels)), depth

