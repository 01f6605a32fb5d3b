"""Ground-truth export: the devkit's Velodyne projection quirks, and agreement with the synthetic renderer."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from training import export_gt_depth
from training.datasets.splits import SplitError, resolve_split_dir
from training.datasets.splits import read_frame_lines as read_split_file
from training.gt_depth import (
    GT_FILE,
    GtDepthError,
    generate_depth_map,
    load_annotated_depth,
    load_gt_depths,
    project_velodyne_to_depth,
    save_gt_depths,
)
from training.synthetic_kitti import generate

WIDTH, HEIGHT = 416, 128
DATE = "2011_09_26"
DRIVE = f"{DATE}_drive_0001_sync"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic_kitti")
    generate(root, drives=1, frames=6, width=WIDTH, height=HEIGHT)
    return root


# Velodyne (x, y, z) → pixels (u, v) = (y/x, z/x), depth w = x: easy to place points on chosen pixels.
FORWARD_PROJECTION = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])


def _point(row: int, col: int, depth: float) -> list[float]:
    """A Velodyne point that the devkit writes at (row, col): it projects to (col + 1, row + 1)."""
    return [depth, (col + 1) * depth, (row + 1) * depth, 0.3]


def _reference_projection(points, projection, shape, vel_depth=False):
    """The devkit's steps one by one (loop over duplicate groups), as the digest describes them."""
    height, width = shape
    points = np.array(points, dtype=np.float32)
    points[:, 3] = 1.0
    points = points[points[:, 0] >= 0]
    pixels = (projection @ points.T).T
    pixels[:, :2] /= pixels[:, 2:3]
    if vel_depth:
        pixels[:, 2] = points[:, 0]
    pixels[:, :2] = np.round(pixels[:, :2]) - 1
    keep = (pixels[:, 0] >= 0) & (pixels[:, 1] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] < height)
    pixels = pixels[keep]
    depth = np.zeros(shape)
    for u, v, z in pixels:  # last write wins
        depth[int(v), int(u)] = z
    index = pixels[:, 1] * (width - 1) + pixels[:, 0] - 1
    for value, count in Counter(index.tolist()).items():
        if count > 1:
            members = np.flatnonzero(index == value)
            depth[int(pixels[members[0], 1]), int(pixels[members[0], 0])] = pixels[members, 2].min()
    depth[depth < 0] = 0
    return depth.astype(np.float32)


def test_duplicates_take_the_minimum_and_sub2ind_collisions_follow_the_first_member():
    shape = (4, 5)
    points = [
        _point(1, 2, 5.0),
        _point(1, 2, 3.0),  # same pixel: the minimum, 3, whatever the order
        _point(2, 3, 2.0),
        _point(2, 3, 4.0),
        _point(0, 4, 7.0),  # sub2ind 0·4 + 4 − 1 = 3 ...
        _point(1, 0, 2.0),  # ... = 1·4 + 0 − 1: a different pixel, same group → min at the FIRST member's pixel
        _point(3, 2, 6.0),
        [-1.0, -3.0, -4.0, 0.5],  # behind the sensor: dropped
        _point(0, 5, 1.0),  # column 5 is outside a 5-wide image
        [10.0, 4.0, 10.0, 0.5],  # u = 0.4 → round − 1 = −1: dropped
    ]
    depth = project_velodyne_to_depth(np.array(points, np.float32), FORWARD_PROJECTION, shape)
    expected = np.zeros(shape, np.float32)
    expected[1, 2], expected[2, 3], expected[0, 4], expected[1, 0], expected[3, 2] = 3.0, 2.0, 2.0, 2.0, 6.0
    np.testing.assert_array_equal(depth, expected)
    # Swap the colliding pair: now (1, 0) comes first and takes the minimum; (0, 4) keeps its own 7.
    points[4], points[5] = points[5], points[4]
    depth = project_velodyne_to_depth(np.array(points, np.float32), FORWARD_PROJECTION, shape)
    expected[0, 4] = 7.0
    np.testing.assert_array_equal(depth, expected)


def test_negative_depth_is_zeroed_and_vel_depth_gives_velodyne_x():
    # Third row −2x: camera "depth" negative for points in front of the Velodyne.
    behind_camera = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [-2.0, 0.0, 0.0, 0.0]])
    point = np.array([[4.0, -8.0, -8.0, 0.1]], np.float32)  # u = v = 1 → pixel (0, 0)
    assert project_velodyne_to_depth(point, behind_camera, (2, 2))[0, 0] == 0.0
    doubled = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    point = np.array([[4.0, 8.0, 8.0, 0.1]], np.float32)
    assert project_velodyne_to_depth(point, doubled, (2, 2))[0, 0] == 8.0
    assert project_velodyne_to_depth(point, doubled, (2, 2), vel_depth=True)[0, 0] == 4.0


@pytest.mark.parametrize("vel_depth", [False, True])
def test_vectorised_projection_equals_the_step_by_step_devkit(vel_depth):
    rng = np.random.default_rng(3)
    points = np.column_stack(
        [rng.uniform(-5, 40, 4000), rng.uniform(-20, 20, 4000), rng.uniform(-2, 3, 4000), rng.uniform(0, 1, 4000)]
    ).astype(np.float32)
    projection = np.array([[20.0, -30.0, 0.0, 5.0], [8.0, 0.0, -25.0, 1.0], [1.0, 0.01, 0.02, -0.3]])
    shape = (12, 17)  # tiny: thousands of duplicates and sub2ind collisions
    np.testing.assert_array_equal(
        project_velodyne_to_depth(points, projection, shape, vel_depth),
        _reference_projection(points, projection, shape, vel_depth),
    )


def test_camera_z_matches_the_renderers_dense_truth_one_pixel_down_right(synthetic):
    """The devkit writes a point at round(u) − 1, round(v) − 1; the renderer's pixel centres are 0-based
    integers, so the written value is the true depth at (round(v), round(u)). The two agree up to
    sub-pixel rounding on sloped surfaces and Velodyne–camera parallax at occlusion edges (a few %)."""
    drive = synthetic / DATE / DRIVE
    for frame in range(6):
        depth = generate_depth_map(synthetic / DATE, drive / "velodyne_points" / "data" / f"{frame:010d}.bin")
        truth = load_annotated_depth(drive / "proj_depth" / "groundtruth" / "image_02" / f"{frame:010d}.png")
        assert depth.shape == truth.shape == (HEIGHT, WIDTH) and depth.dtype == np.float32
        written = depth[:-1, :-1] > 0
        written &= (truth[1:, 1:] > 0) & (truth[:-1, :-1] > 0)
        assert written.sum() > 5000
        shifted = np.abs(depth[:-1, :-1][written] / truth[1:, 1:][written] - 1)
        unshifted = np.abs(depth[:-1, :-1][written] / truth[:-1, :-1][written] - 1)
        assert np.median(shifted) < 0.005 and np.mean(shifted < 0.03) > 0.95
        assert np.median(unshifted) > 3 * np.median(shifted)


def test_cli_writes_gt_for_a_split_folder(synthetic, tmp_path):
    split_dir = synthetic / "splits" / "synthetic"
    refs = read_split_file(split_dir / "test_files.txt")
    assert (
        export_gt_depth.main(["--data_path", str(synthetic), "--split", str(split_dir), "--gt_source", "annotated"])
        == 0
    )
    depths = load_gt_depths(split_dir / GT_FILE)
    assert len(depths) == len(refs)
    for ref, depth in zip(refs, depths):
        png = synthetic / ref.folder / "proj_depth" / "groundtruth" / "image_02" / f"{ref.frame_index:010d}.png"
        np.testing.assert_array_equal(depth, load_annotated_depth(png))
    # Velodyne GT (Eigen's convention: the Velodyne x), by split name from --splits_dir, to --output.
    out = tmp_path / "velodyne.npz"
    assert (
        export_gt_depth.main(
            [
                "--data_path",
                str(synthetic),
                "--split",
                "synthetic",
                "--splits_dir",
                str(synthetic / "splits"),
                "--gt_source",
                "velodyne",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    ref = refs[0]
    velo = synthetic / ref.folder / "velodyne_points" / "data" / f"{ref.frame_index:010d}.bin"
    np.testing.assert_array_equal(load_gt_depths(out)[0], generate_depth_map(synthetic / DATE, velo, vel_depth=True))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith("export_gt_depth: error:")
    return err


def test_cli_errors(synthetic, tmp_path, capsys):
    split_dir = synthetic / "splits" / "synthetic"
    assert export_gt_depth.main(["--data_path", str(synthetic), "--split", str(split_dir)]) == 2
    assert "--gt_source" in _one_error_line(capsys)
    eigen = tmp_path / "splits" / "eigen"
    eigen.mkdir(parents=True)
    shutil.copy(split_dir / "test_files.txt", eigen)
    assert export_gt_depth.main(["--data_path", str(synthetic), "--split", str(eigen), "--gt_source", "annotated"]) == 2
    assert "velodyne" in _one_error_line(capsys)
    assert export_gt_depth.main(["--data_path", str(synthetic), "--split", "nonexistent"]) == 2
    assert "split 'nonexistent' not found: no folder" in _one_error_line(capsys)
    no_calib = tmp_path / "kitti"
    shutil.copytree(synthetic / DATE, no_calib / DATE)
    (no_calib / DATE / "calib_cam_to_cam.txt").unlink()
    assert (
        export_gt_depth.main(
            ["--data_path", str(no_calib), "--split", str(eigen), "--output", str(tmp_path / "gt.npz")]
        )
        == 2
    )
    assert "calib_cam_to_cam.txt" in _one_error_line(capsys)
    assert not (tmp_path / "gt.npz").exists()


def test_split_resolution_and_parsing(tmp_path):
    (tmp_path / "eigen").mkdir()
    assert resolve_split_dir("eigen", tmp_path, files=()) == tmp_path / "eigen"
    assert resolve_split_dir(str(tmp_path / "eigen"), "/nonexistent", files=()) == tmp_path / "eigen"
    with pytest.raises(SplitError, match=r"split 'eigen' not found: .* lacks test_files\.txt"):
        resolve_split_dir("eigen", tmp_path, files=("test_files.txt",))
    split_file = tmp_path / "eigen" / "test_files.txt"
    split_file.write_text("2011_09_26/2011_09_26_drive_0002_sync 0000000069 l\n\n9 3 r\n")
    refs = read_split_file(split_file)
    assert [(r.folder, r.frame_index, r.cam) for r in refs] == [
        ("2011_09_26/2011_09_26_drive_0002_sync", 69, 2),
        ("9", 3, 3),
    ]
    split_file.write_text("image 0\n")
    with pytest.raises(SplitError, match=r"test_files\.txt:1"):
        read_split_file(split_file)


def test_gt_file_round_trip_keeps_one_map_per_image(tmp_path):
    same = [np.full((3, 4), i, np.float32) for i in range(2)]
    mixed = [np.zeros((375, 1242), np.float32), np.ones((370, 1224), np.float32)]
    for maps in (same, mixed):
        path = save_gt_depths(tmp_path / "gt_depths.npz", maps)
        assert len(load_gt_depths(path)) == len(maps)
        for loaded, original in zip(load_gt_depths(path), maps):
            np.testing.assert_array_equal(loaded, original)
    assert [p.name for p in tmp_path.iterdir()] == ["gt_depths.npz"]


OFFICIAL_SPLITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "splits"


@pytest.mark.skipif(not OFFICIAL_SPLITS.is_dir(), reason="Monodepth2's split files are not available")
@pytest.mark.parametrize(
    ("name", "count"), [("eigen/test_files.txt", 697), ("eigen_benchmark/test_files.txt", 652),
                        ("odom/test_files_09.txt", 1590), ("odom/test_files_10.txt", 1200)],
)  # fmt: skip
def test_official_split_files_parse(name, count):
    refs = read_split_file(OFFICIAL_SPLITS / name)
    assert len(refs) == count and {ref.cam for ref in refs} == {2}


class _RunsAShellCommand:
    """What a malicious gt_depths.npz pickles: unpickling it would run ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_gt_depths_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    data = np.empty(2, dtype=object)
    data[0], data[1] = np.zeros((3, 4), np.float32), _RunsAShellCommand(marker)
    np.savez_compressed(tmp_path / "gt_depths.npz", data=data)
    with pytest.raises(GtDepthError, match=r"refusing a pickled (posix|os)\.system"):
        load_gt_depths(tmp_path / "gt_depths.npz")
    assert not marker.exists()


def test_monodepth2s_object_array_files_are_read_without_running_pickles(tmp_path):
    """Official gt_depths.npz files are an object array under ``data``: numeric maps load, in order."""
    maps = [np.full((3, 4), 1.5, np.float32), np.arange(6, dtype=np.float64).reshape(2, 3)]
    data = np.empty(2, dtype=object)
    data[0], data[1] = maps
    np.savez_compressed(tmp_path / "gt_depths.npz", data=data)
    loaded = load_gt_depths(tmp_path / "gt_depths.npz")
    assert [m.dtype for m in loaded] == [np.float32, np.float32]
    for got, want in zip(loaded, maps):
        np.testing.assert_array_equal(got, want)


def test_our_gt_depths_files_hold_no_pickle(tmp_path):
    path = save_gt_depths(tmp_path / "gt_depths.npz", [np.ones((2, 2)), np.zeros((1, 3))])
    with np.load(path, allow_pickle=False) as archive:  # would raise on an object array
        assert sorted(archive.files) == ["depths", "shapes"]
        assert archive["shapes"].tolist() == [[2, 2], [1, 3]]
