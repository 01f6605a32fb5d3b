"""DepthEstimator: training-exact preprocessing, evaluation-exact postprocessing, scale strategies, bad input,
ground-plane scale recovery on synthetic KITTI, and the ``depth_ros.infer`` CLI."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from depth_test_models import HEIGHT, WIDTH, ConstantBackend, save_tiny_weights, tiny_network
from PIL import Image

from depth_ros import infer
from depth_ros.checkpoint import CheckpointError, ModelMetadata
from depth_ros.geometry import (
    STEREO_SCALE_FACTOR,
    GroundPlaneError,
    disp_to_depth,
    recover_scale_from_camera_height,
    scale_intrinsics,
)
from depth_ros.kitti import rectified_intrinsics
from depth_ros.pipeline import DepthEstimator, InputError, resize_disparity, to_rgb
from depth_ros.preprocess import resize_rgb, rgb_to_tensor

UNKNOWN_FACTOR = 0.37  # the unknown scale of a "relative" depth map in the camera-height tests


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def network():
    return tiny_network(seed=0)


@pytest.fixture(scope="module")
def official_folder(network, tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("official") / "mono_tiny", network, official=True, use_stereo=True)


@pytest.fixture(scope="module")
def torch_estimator(official_folder):
    return DepthEstimator.from_model(official_folder, backend="torch", device="cpu")


def constant_estimator(disparity=None, **kwargs) -> DepthEstimator:
    """An estimator over ConstantBackend with a smooth disparity ramp (or ``disparity``)."""
    if disparity is None:
        disparity = np.linspace(0.05, 0.6, HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH)
    metadata = kwargs.pop("metadata", ModelMetadata(HEIGHT, WIDTH, use_stereo=True))
    return DepthEstimator(ConstantBackend(disparity), metadata, **kwargs)


# ------------------------------------------------------------------------------------------- preprocessing


def test_preprocessing_is_resize_rgb_then_to_tensor_exactly():
    estimator = constant_estimator()
    rgb = random_rgb(375, 1242)
    expected = rgb_to_tensor(np.array(resize_rgb(rgb, WIDTH, HEIGHT)))[0].numpy()
    np.testing.assert_array_equal(estimator.preprocess(rgb), expected)


@pytest.mark.parametrize(
    ("encoding", "convert"),
    [
        ("bgr8", lambda rgb: rgb[:, :, ::-1]),
        ("rgba8", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])),
        ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 7, np.uint8)])),
        ("rgb8", lambda rgb: rgb.astype(np.float32) / 255.0),
    ],
)
def test_encodings_give_the_same_rgb(encoding, convert):
    rgb = random_rgb(20, 30)
    np.testing.assert_array_equal(to_rgb(convert(rgb), encoding), rgb)


def test_mono8_is_replicated_to_three_channels():
    grey = random_rgb(20, 30)[:, :, 0]
    expected = np.repeat(grey[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(to_rgb(grey, "mono8"), expected)
    np.testing.assert_array_equal(to_rgb(grey[:, :, None], "mono8"), expected)


@pytest.mark.parametrize(
    ("image", "encoding", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), "yuv422", "unsupported encoding 'yuv422'"),
        (np.zeros((0, 10, 3), np.uint8), "rgb8", "empty image"),
        (np.zeros((4, 4, 4), np.uint8), "rgb8", "rgb8 image must be H×W×3, got shape (4, 4, 4)"),
        (np.zeros((4, 4, 3), np.uint8), "bgra8", "bgra8 image must be H×W×4"),
        (np.zeros((4, 4, 3), np.uint8), "mono8", "mono8 image must be H×W or H×W×1"),
        (np.zeros(48, np.uint8), "rgb8", "must be H×W×3, got shape (48,)"),
        (np.zeros((4, 4, 3), np.int16), "rgb8", "dtype must be uint8 or float"),
        (np.full((4, 4, 3), np.nan, np.float32), "rgb8", "NaN or Inf"),
        (np.full((4, 4, 3), np.inf, np.float64), "rgb8", "NaN or Inf"),
        (np.full((4, 4, 3), 200.0, np.float32), "rgb8", "float images must hold values in [0, 1]"),
        ([[1, 2, 3]], "rgb8", "expected a numpy array, got list"),
    ],
)
def test_bad_images_raise_input_error(image, encoding, message):
    with pytest.raises(InputError) as info:
        constant_estimator().predict(image, encoding=encoding)
    assert message in str(info.value)


def test_bad_intrinsics_and_empty_batch_raise_input_error():
    estimator = constant_estimator(scale_strategy="camera_height", camera_height_m=1.65)
    with pytest.raises(InputError, match="K_px must be a finite 3×3"):
        estimator.predict(random_rgb(64, 192), K_px=np.full((3, 3), np.nan))
    with pytest.raises(InputError, match="needs intrinsics"):
        estimator.predict(random_rgb(64, 192))
    with pytest.raises(InputError, match="at least one image"):
        estimator.predict_batch([])


# ----------------------------------------------------------------------------------------- network + post


def test_official_folder_gives_the_bare_network_disparity(torch_estimator, network):
    """Same weights, same resize: the pipeline's scaled disparity is Monodepth2's test_simple one."""
    rgb = random_rgb(100, 300, seed=1)
    with torch.inference_mode():
        sigmoid = network(rgb_to_tensor(np.array(resize_rgb(rgb, WIDTH, HEIGHT)))).numpy()
    expected, _ = disp_to_depth(sigmoid[0, 0], 0.1, 100.0)
    prediction = torch_estimator.predict(rgb)
    metadata = torch_estimator.metadata  # read from encoder.pth: no depth_ros.json in an official folder
    assert (metadata.height, metadata.width, metadata.use_stereo) == (HEIGHT, WIDTH, True)
    np.testing.assert_allclose(prediction.disparity, expected, rtol=0, atol=1e-6)
    assert prediction.depth_m.shape == rgb.shape[:2] and prediction.depth_m.dtype == np.float32


@pytest.mark.parametrize(("height", "width"), [(64, 192), (37, 53), (375, 1242), (200, 100)])
def test_depth_is_at_the_input_resolution_by_resizing_disparity_then_inverting(height, width):
    estimator = constant_estimator()
    prediction = estimator.predict(random_rgb(height, width))
    assert prediction.depth_m.shape == (height, width)
    assert prediction.disparity.shape == (HEIGHT, WIDTH)
    expected = 1.0 / cv2.resize(prediction.disparity, (width, height), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(prediction.depth_m, expected, rtol=1e-6)


def test_scale_strategies():
    rgb = random_rgb(50, 120)
    relative = constant_estimator().predict(rgb)
    assert (relative.scale, relative.scale_strategy, relative.is_metric) == (1.0, "relative", False)
    stereo = constant_estimator(scale_strategy="stereo").predict(rgb)
    assert stereo.is_metric and stereo.scale == STEREO_SCALE_FACTOR == 5.4
    np.testing.assert_allclose(stereo.depth_m, 5.4 * relative.depth_m, rtol=1e-6)
    fixed = constant_estimator(scale_strategy="fixed", scale_factor=2.5).predict(rgb)
    assert (fixed.scale_strategy, fixed.is_metric) == ("fixed", True)
    np.testing.assert_allclose(fixed.depth_m, 2.5 * relative.depth_m, rtol=1e-6)
    np.testing.assert_array_equal(fixed.disparity, relative.disparity)  # the scale is applied after


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale_strategy": "stereo", "metadata": ModelMetadata(HEIGHT, WIDTH)}, "only metric for models trained"),
        ({"scale_strategy": "fixed"}, "needs a positive scale_factor"),
        ({"scale_strategy": "fixed", "scale_factor": -1.0}, "needs a positive scale_factor"),
        ({"scale_strategy": "camera_height"}, "needs camera_height_m > 0"),
        ({"scale_strategy": "median"}, "scale_strategy must be one of"),
    ],
)
def test_misconfigured_scale_is_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        constant_estimator(**kwargs)


def test_predict_batch_equals_single_predictions_and_uses_one_network_call():
    estimator = constant_estimator(scale_strategy="stereo")
    images = [random_rgb(64, 192, 1), random_rgb(120, 90, 2), random_rgb(375, 1242, 3)]
    batch = estimator.predict_batch(images)
    assert len(estimator.backend.batches) == 1 and estimator.backend.batches[0].shape == (3, 3, HEIGHT, WIDTH)
    for image, prediction in zip(images, batch):
        single = estimator.predict(image)
        np.testing.assert_array_equal(prediction.depth_m, single.depth_m)
        assert prediction.timings.total_s > 0


def test_learned_intrinsics_are_reported_at_the_input_size():
    K_norm = [[0.58, 0.0, 0.5], [0.0, 1.92, 0.5], [0.0, 0.0, 1.0]]
    metadata = ModelMetadata(HEIGHT, WIDTH, intrinsics_norm=K_norm)
    prediction = constant_estimator(metadata=metadata).predict(random_rgb(375, 1242), K_px=np.eye(3))
    np.testing.assert_allclose(prediction.intrinsics_px, scale_intrinsics(np.array(K_norm), 1242, 375))
    caller_K = np.array([[700.0, 0, 600], [0, 700, 180], [0, 0, 1]])
    assert (
        constant_estimator().predict(random_rgb(375, 1242), K_px=caller_K).intrinsics_px.tolist() == caller_K.tolist()
    )


# ---------------------------------------------------------------------------------------- bad checkpoints


class _Payload:
    """Pickles to a call that would create ``marker`` on load: code execution hidden in a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_code_in_a_checkpoint_is_refused_and_not_run(tmp_path, network):
    folder = save_tiny_weights(tmp_path / "evil", network)
    marker = tmp_path / "pwned"
    state = dict(network.decoder.state_dict())
    state["payload"] = _Payload(marker)
    torch.save(state, folder / "depth.pth")
    with pytest.raises(CheckpointError, match=r"refusing .*depth\.pth: it holds objects other than tensors"):
        DepthEstimator.from_model(folder, backend="torch")
    assert not marker.exists()
    torch.load(folder / "depth.pth", weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path, network):
    folder = save_tiny_weights(tmp_path / "cut", network)
    data = (folder / "encoder.pth").read_bytes()
    (folder / "encoder.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        DepthEstimator.from_model(folder, backend="torch")


@pytest.mark.parametrize(("saved", "claimed"), [("espcn", "nearest"), ("nearest", "espcn")])
def test_decoder_of_the_wrong_kind_is_a_clear_error(tmp_path, saved, claimed):
    folder = save_tiny_weights(tmp_path / saved, tiny_network(upsample=saved))
    metadata = (folder / "depth_ros.json").read_text().replace(f'"{saved}"', f'"{claimed}"')
    (folder / "depth_ros.json").write_text(metadata)
    with pytest.raises(CheckpointError, match=f"holds a depth decoder with '{saved}' upsampling but the network was"):
        DepthEstimator.from_model(folder, backend="torch")


# ---------------------------------------------------------------------------------- camera-height scale


@pytest.fixture(scope="module")
def synthetic_drive(kitti_drive_416x128):
    """The shared 416×128 synthetic KITTI drive: true depth maps (m, 0 = none) and the rectified K of image_02."""
    from training import synthetic_kitti

    drive = kitti_drive_416x128
    depth_files = sorted((drive / "proj_depth" / "groundtruth" / "image_02").glob("*.png"))
    depths = [cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256.0 for path in depth_files]
    return depths, rectified_intrinsics(drive.parent, 2), synthetic_kitti.CAMERA_HEIGHT_M


def median_relative_error(depth_m: np.ndarray, true_m: np.ndarray) -> float:
    valid = true_m > 0
    return float(np.median(np.abs(depth_m[valid] - true_m[valid]) / true_m[valid]))


def test_camera_height_recovers_the_metric_scale_of_true_depth(synthetic_drive):
    depths, K_px, camera_height_m = synthetic_drive
    assert camera_height_m == 1.65
    for true_m in depths:
        relative = np.where(true_m > 0, true_m * UNKNOWN_FACTOR, np.nan)
        scale = recover_scale_from_camera_height(relative, K_px, camera_height_m)
        assert median_relative_error(relative * scale, true_m) < 0.05
        assert scale == pytest.approx(1 / UNKNOWN_FACTOR, rel=0.02)


def test_camera_height_through_the_pipeline(synthetic_drive):
    """A backend that returns the true (unknown-scale) disparity at 64×192; input images are 128×416."""
    depths, K_px, camera_height_m = synthetic_drive
    for true_m in depths[:2]:
        relative = np.where(true_m > 0, true_m * UNKNOWN_FACTOR, 100.0)
        disparity = cv2.resize(1.0 / relative, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        sigmoid = (disparity - 1 / 100.0) / (1 / 0.1 - 1 / 100.0)
        estimator = constant_estimator(sigmoid, scale_strategy="camera_height", camera_height_m=camera_height_m)
        prediction = estimator.predict(np.zeros((*true_m.shape, 3), np.uint8), K_px=K_px)
        assert prediction.is_metric and prediction.scale_strategy == "camera_height"
        assert median_relative_error(prediction.depth_m, true_m) < 0.05


class SwitchableBackend(ConstantBackend):
    """Returns ``self.disparity``, which the test swaps between frames."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.disparity, (len(batch), 1, *self.disparity.shape)).copy()


def test_camera_height_scale_is_a_running_median_that_survives_frames_without_road(synthetic_drive):
    depths, K_px, camera_height_m = synthetic_drive
    true_m = depths[0]
    K_network = K_px.copy()
    K_network[0] *= WIDTH / true_m.shape[1]
    K_network[1] *= HEIGHT / true_m.shape[0]
    road = cv2.resize(np.where(true_m > 0, true_m, 100.0), (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST)
    wall = np.full((HEIGHT, WIDTH), 10.0)

    def sigmoid_of(depth: np.ndarray) -> np.ndarray:
        return ((1.0 / depth - 1 / 100.0) / (1 / 0.1 - 1 / 100.0)).astype(np.float32)

    backend = SwitchableBackend(sigmoid_of(road * UNKNOWN_FACTOR))
    estimator = DepthEstimator(
        backend, ModelMetadata(HEIGHT, WIDTH), scale_strategy="camera_height", camera_height_m=camera_height_m,
        scale_window=3,
    )
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    first = estimator.predict(image, K_px=K_network).scale
    backend.disparity = sigmoid_of(road * UNKNOWN_FACTOR * 2)
    second = estimator.predict(image, K_px=K_network).scale
    assert second == pytest.approx((first + first / 2) / 2, rel=1e-6), "median of two = their mean"
    backend.disparity = sigmoid_of(wall)
    assert estimator.predict(image, K_px=K_network).scale == pytest.approx(second), "no road: reuse the median"
    fresh = DepthEstimator(backend, ModelMetadata(HEIGHT, WIDTH), scale_strategy="camera_height", camera_height_m=1.65)
    with pytest.raises(GroundPlaneError):
        fresh.predict(image, K_px=K_network)


def test_no_ground_plane_is_a_clear_error():
    K_px = np.array([[200.0, 0, 96], [0, 200.0, 32], [0, 0, 1]])
    wall = np.full((HEIGHT, WIDTH), 10.0)  # fronto-parallel: no near-horizontal surface at all
    with pytest.raises(GroundPlaneError, match="near-horizontal surface points"):
        recover_scale_from_camera_height(wall, K_px, 1.65)
    with pytest.raises(ValueError, match="camera_height_m must be a positive"):
        recover_scale_from_camera_height(wall, K_px, 0.0)


# --------------------------------------------------------------------------------------------- infer CLI


def write_png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path)
    return path


def test_infer_writes_test_simple_outputs(tmp_path, official_folder):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_png(inputs / "a.png", random_rgb(100, 300, 1))
    write_png(inputs / "b.png", random_rgb(70, 50, 2))
    write_png(inputs / "a_disp.png", random_rgb(10, 10))  # an earlier output: skipped
    out = tmp_path / "out"
    argv = ["--weights", str(official_folder), "--input", str(inputs), "--output", str(out), "--ext", "png"]
    assert infer.main([*argv, "--backend", "torch"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_disp.jpeg", "a_disp.npy", "b_disp.jpeg", "b_disp.npy"]
    disp = np.load(out / "a_disp.npy")
    assert disp.shape == (1, 1, HEIGHT, WIDTH)
    assert Image.open(out / "a_disp.jpeg").size == (300, 100)

    assert infer.main([*argv, "--backend", "torch", "--scale", "stereo"]) == 0
    depth = np.load(out / "b_depth.npy")
    assert depth.shape == (70, 50) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, 5.4 / resize_disparity(np.load(out / "b_disp.npy")[0, 0], 50, 70), rtol=1e-6)


def test_infer_bad_input_exits_2_with_one_line(tmp_path, official_folder, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    base = ["--weights", str(official_folder), "--output", str(tmp_path / "out"), "--backend", "torch"]
    assert infer.main([*base, "--input", str(broken)]) == 2
    assert infer.main([*base, "--input", str(tmp_path / "missing.png")]) == 2
    assert infer.main(["--weights", str(tmp_path), "--input", str(broken), "--output", str(tmp_path)]) == 2
    assert infer.main([*base, "--input", str(broken), "--scale", "fixed"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 4
    assert "cannot read image" in errors[0] and "does not exist" in errors[1]
    assert "scale_factor" in errors[3]


def test_infer_reads_16_bit_grey_as_the_bag_path_does_and_refuses_float_images(tmp_path):
    """PIL's convert("RGB") clipped a 16-bit PNG to white and a float TIFF to black and white (#22)."""
    grey16 = (np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)  # 0 … 64 773
    cv2.imwrite(str(tmp_path / "grey16.png"), grey16)
    rgb = infer.read_rgb(tmp_path / "grey16.png")
    expected = ((grey16.astype(np.uint32) + 128) // 257).astype(np.uint8)  # mono16 in a bag
    assert rgb.shape == (40, 60, 3) and (rgb == expected[:, :, None]).all() and rgb.max() > 200 > 50 > rgb.min()
    cv2.imwrite(str(tmp_path / "float.tiff"), np.random.default_rng(0).random((40, 60), dtype=np.float32))
    with pytest.raises(InputError, match="floating-point image"):
        infer.read_rgb(tmp_path / "float.tiff")


def test_infer_output_that_is_a_file_or_cannot_be_written_is_one_line(tmp_path, official_folder, capsys, monkeypatch):
    image = write_png(tmp_path / "a.png", random_rgb(40, 60, 3))
    taken = tmp_path / "taken"
    taken.write_text("a file the user keeps")
    base = ["--weights", str(official_folder), "--input", str(image), "--backend", "torch"]
    assert infer.main([*base, "--output", str(taken)]) == 2
    assert taken.read_text() == "a file the user keeps"

    def full_disk(files):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(infer, "atomic_write_set", full_disk)
    assert infer.main([*base, "--output", str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.strip().splitlines() if "error:" in line]
    assert len(errors) == 2 and "cannot create the output folder" in errors[0]
    assert "cannot write the outputs of" in errors[1] and "No space left on device" in errors[1]
