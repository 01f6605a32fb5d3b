"""process_bag: a synthetic KITTI drive → rosbag2 → the node's callback path → an output bag, read back.

Bags come from ``training.synthetic_kitti`` through ``depth_ros.kitti_to_bag``. The network is either
TruthBackend (the synthetic ground truth, injected through ``DepthEstimator(backend, metadata, ...)``)
or, for the command line, a tiny random-initialised weights folder loaded by the real constructor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from depth_test_models import save_tiny_weights, tiny_network
from rosbags.highlevel import AnyReader
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_ros import kitti_to_bag
from depth_ros.backends import Backend
from depth_ros.checkpoint import ModelMetadata
from depth_ros.depth_processor import NO_SCALE_YET, DepthImageProcessor, ProcessorConfig
from depth_ros.messages import (
    camera_info_to_K,
    deserialize,
    image_to_depth,
    rosbags_message_types,
    rosbags_typestore,
    serialize,
    stamp_to_ns,
)
from depth_ros.pipeline import DepthEstimator
from depth_ros.process_bag import OUTPUT_TOPICS, BagError, NoFrameProcessedError, main, process_bag

FRAMES = 5  # synthetic_kitti.generate refuses fewer (its split files need 5 frames per drive)
WIDTH, HEIGHT = 416, 128
NET_WIDTH, NET_HEIGHT = 320, 96
OUT_WIDTH, OUT_HEIGHT = 208, 64  # published size: half the input, so K must be scaled
MODEL_UNITS_PER_M = 0.5  # the truth backend's depth unit is 2 m: only the scale strategy can make it metric
TRUTH_METADATA = ModelMetadata(height=NET_HEIGHT, width=NET_WIDTH, min_depth=0.1, max_depth=100.0)
IMAGE_TOPIC, INFO_TOPIC = kitti_to_bag.camera_topics(2)
CONFIG_YAML = Path(__file__).resolve().parents[1] / "config" / "depth.yaml"


@pytest.fixture(scope="module")
def drive(kitti_drive_416x128) -> Path:
    """The shared FRAMES-frame WIDTH×HEIGHT drive (conftest)."""
    assert len(list((kitti_drive_416x128 / "image_02" / "data").glob("*.png"))) == FRAMES
    return kitti_drive_416x128


@pytest.fixture(scope="module")
def bag(drive, tmp_path_factory) -> Path:
    """The drive's left colour camera as an MCAP bag (one image topic)."""
    return kitti_to_bag.convert_drive(drive, tmp_path_factory.mktemp("bags") / "left", cameras=[2], progress=False)


def true_depth_m(drive: Path, index: int) -> np.ndarray:
    """KITTI depth-benchmark PNG (uint16, metres × 256, 0 = invalid) → H×W metres, NaN invalid."""
    png = cv2.imread(str(drive / "proj_depth/groundtruth/image_02" / f"{index:010d}.png"), cv2.IMREAD_UNCHANGED)
    return np.where(png > 0, png / 256.0, np.nan)


class TruthBackend(Backend):
    """Returns the sigmoid disparity of the true depth (in model units) of whichever frame it is given.

    ``frames`` holds (network input, 1×h×w sigmoid disparity) per frame; ``run`` matches each batch
    item to the nearest network input.
    """

    name = "truth"
    device = "cpu"

    def __init__(self) -> None:
        self.frames: list[tuple[np.ndarray, np.ndarray]] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        inputs = np.stack([frame[0] for frame in self.frames])
        nearest = ((batch[:, None] - inputs[None]) ** 2).mean(axis=(2, 3, 4)).argmin(axis=1)
        return np.stack([self.frames[i][1] for i in nearest])


def truth_processor(drive: Path, **config: object) -> DepthImageProcessor:
    """camera_height scaling over TruthBackend: the true depth × MODEL_UNITS_PER_M, as disparity at 320×96."""
    backend = TruthBackend()
    estimator = DepthEstimator(backend, TRUTH_METADATA, scale_strategy="camera_height", camera_height_m=1.65)
    min_disp, max_disp = 1.0 / TRUTH_METADATA.max_depth, 1.0 / TRUTH_METADATA.min_depth
    for index, png in enumerate(sorted((drive / "image_02" / "data").glob("*.png"))):
        depth_model = true_depth_m(drive, index) * MODEL_UNITS_PER_M
        disparity = np.where(np.isfinite(depth_model), 1.0 / depth_model, min_disp)  # invalid = sky, far
        disparity = cv2.resize(disparity, (NET_WIDTH, NET_HEIGHT), interpolation=cv2.INTER_AREA)
        sigmoid = (np.clip(disparity, min_disp, max_disp) - min_disp) / (max_disp - min_disp)
        rgb = cv2.imread(str(png))[:, :, ::-1]
        backend.frames.append((estimator.preprocess(rgb), sigmoid[None].astype(np.float32)))
    return DepthImageProcessor(estimator, ProcessorConfig(**config), rosbags_message_types())


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic → [(log time ns, message)] of a bag."""
    topics: dict[str, list[tuple[int, object]]] = {}
    with AnyReader([path]) as reader:
        for connection, log_time_ns, raw in reader.messages():
            topics.setdefault(connection.topic, []).append((log_time_ns, reader.deserialize(raw, connection.msgtype)))
    return topics


def test_every_frame_gets_metric_depth_matching_the_synthetic_truth(drive, bag, tmp_path):
    """The must-show round trip: KITTI-format drive → bag → process_bag → output bag read back with rosbags.

    Route to metric depth: scale_strategy ``camera_height`` (1.65 m, the synthetic rig's height) on a
    TruthBackend that returns the true (scale-distorted) disparity at the network resolution (320×96):
    the true depth × 0.5, i.e. a depth unit of 2 m. Only the pipeline's ground-plane scale recovery can
    make it metric again. The depth is published at half the input size, so the CameraInfo must be
    scaled too.
    """
    processor = truth_processor(drive, output_width=OUT_WIDTH, output_height=OUT_HEIGHT)
    stats = process_bag(bag, tmp_path / "out", processor)
    assert (stats.images, stats.processed, sum(stats.skipped.values())) == (FRAMES, FRAMES, 0)

    inputs, outputs = read_bag(bag), read_bag(tmp_path / "out")
    for topic in inputs:  # input topics copied unchanged
        assert [(t, serialize(m)) for t, m in outputs[topic]] == [(t, serialize(m)) for t, m in inputs[topic]]
    assert set(outputs) == set(inputs) | set(OUTPUT_TOPICS.values())
    images, depths, infos = inputs[IMAGE_TOPIC], outputs["/depth/image"], outputs["/depth/camera_info"]
    assert len(depths) == len(infos) == len(outputs["/depth/colorized"]) == len(outputs["/points"]) == FRAMES

    K_input = camera_info_to_K(inputs[INFO_TOPIC][0][1])
    for index, ((log_time, image), (depth_time, depth), (_, info)) in enumerate(zip(images, depths, infos)):
        assert depth_time == log_time
        for msg in (depth, info):
            assert stamp_to_ns(msg.header) == stamp_to_ns(image.header)
            assert msg.header.frame_id == image.header.frame_id == "camera_color_left"
        assert (depth.encoding, depth.width, depth.height) == ("32FC1", OUT_WIDTH, OUT_HEIGHT)
        assert (info.width, info.height) == (OUT_WIDTH, OUT_HEIGHT)
        np.testing.assert_allclose(camera_info_to_K(info), K_input * [[0.5], [0.5], [1.0]])

        truth = cv2.resize(true_depth_m(drive, index), (OUT_WIDTH, OUT_HEIGHT), interpolation=cv2.INTER_NEAREST)
        predicted = image_to_depth(depth)
        valid = np.isfinite(truth)
        assert valid.mean() > 0.5
        relative_error = np.abs(predicted[valid] - truth[valid]) / truth[valid]
        assert np.median(relative_error) < 0.05, f"frame {index}: median relative error {np.median(relative_error):.3f}"


def write_bag(path: Path, messages: list[tuple[str, str, int, bytes]]) -> Path:
    """An MCAP bag of (topic, msgtype, log time ns, CDR bytes) messages."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for topic, msgtype, log_time_ns, raw in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=rosbags_typestore())
            writer.write(connections[topic], log_time_ns, raw)
    return path


def test_bad_frames_are_skipped_counted_and_logged_once_per_kind(drive, bag, tmp_path):
    messages = []
    with AnyReader([bag]) as reader:
        images_seen = 0
        for connection, log_time_ns, raw in reader.messages():
            if connection.topic == IMAGE_TOPIC:
                images_seen += 1
                if images_seen in (2, 3):  # wrong byte count
                    image = deserialize(raw, connection.msgtype)
                    image.data = image.data[:-100]
                    raw = serialize(image)
                elif images_seen == 4:  # not CDR at all
                    raw = b"\x00\x01\x00\x00not an image"
            messages.append((connection.topic, connection.msgtype, log_time_ns, bytes(raw)))
    corrupt = write_bag(tmp_path / "corrupt", messages)
    lines: list[str] = []
    stats = process_bag(corrupt, tmp_path / "out", truth_processor(drive), log=lines.append)
    assert (stats.images, stats.processed) == (FRAMES, FRAMES - 3)
    assert dict(stats.skipped) == {"image": 2, "decode": 1}
    assert len(lines) == 2 and "byte count" in lines[0] and "decode" in lines[1]
    with AnyReader([tmp_path / "out"]) as reader:
        counts = {connection.topic: connection.msgcount for connection in reader.connections}
    assert counts["/depth/image"] == FRAMES - 3
    assert counts[IMAGE_TOPIC] == FRAMES  # the input is still copied whole
    assert "3 skipped (decode: 1, image: 2)" in stats.summary()


def without_road(processor: DepthImageProcessor, frames: range) -> DepthImageProcessor:
    """The truth processor with ``frames`` replaced by a wall 10 model units away: no ground to fit a scale to."""
    backend = processor.estimator.backend
    for index in frames:
        network_input, sigmoid = backend.frames[index]
        backend.frames[index] = (network_input, np.full_like(sigmoid, 0.1 - 0.01) / (10.0 - 0.01))
    return processor


def test_frames_before_the_road_is_first_seen_are_skipped_and_the_summary_says_the_fix(drive, bag, tmp_path):
    lines: list[str] = []
    processor = without_road(truth_processor(drive), range(2))
    stats = process_bag(bag, tmp_path / "out", processor, log=lines.append)
    assert (stats.processed, dict(stats.skipped)) == (FRAMES - 2, {"scale": 2})
    assert len(lines) == 1 and "no ground visible" in lines[0] and NO_SCALE_YET in lines[0]
    assert NO_SCALE_YET in stats.summary()
    assert len(read_bag(tmp_path / "out")["/depth/image"]) == FRAMES - 2


def test_a_bag_whose_road_is_never_seen_writes_no_output(drive, bag, tmp_path):
    processor = without_road(truth_processor(drive), range(FRAMES))
    with pytest.raises(NoFrameProcessedError, match="scale_strategy to 'fixed'") as error:
        process_bag(bag, tmp_path / "out", processor, log=lambda line: None)
    assert dict(error.value.stats.skipped) == {"scale": FRAMES}
    assert list(tmp_path.iterdir()) == []  # neither the bag nor its staging folder


def test_camera_info_logged_after_its_image_at_the_same_time_still_pairs(drive, bag, tmp_path):
    """kitti_to_bag logs image then CameraInfo at the same time: the very first frame needs it."""
    stats = process_bag(bag, tmp_path / "out", truth_processor(drive, use_camera_info=True))
    assert stats.processed == FRAMES and stats.camera_info_topic == INFO_TOPIC


def test_ros1_bag_is_read_and_converted(tmp_path):
    typestore = get_typestore(Stores.ROS1_NOETIC)
    types = typestore.types
    header = types["std_msgs/msg/Header"](
        seq=7, stamp=types["builtin_interfaces/msg/Time"](sec=100, nanosec=5), frame_id="cam"
    )
    rgb = np.random.default_rng(1).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    image = types["sensor_msgs/msg/Image"](
        header=header, height=32, width=64, encoding="rgb8", is_bigendian=0, step=192, data=rgb.reshape(-1)
    )
    K = [60.0, 0.0, 31.5, 0.0, 60.0, 15.5, 0.0, 0.0, 1.0]
    info = types["sensor_msgs/msg/CameraInfo"](
        header=header, height=32, width=64, distortion_model="plumb_bob", D=np.zeros(5), K=np.array(K),
        R=np.eye(3).reshape(-1), P=np.array([*K[:3], 0.0, *K[3:6], 0.0, *K[6:], 0.0]), binning_x=0,
        binning_y=0, roi=types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )  # fmt: skip
    with Writer1(tmp_path / "in.bag") as writer:
        for topic, msg in (("/cam/image_raw", image), ("/cam/camera_info", info)):
            connection = writer.add_connection(topic, msg.__msgtype__, typestore=typestore)
            writer.write(connection, 100_000_000_005, typestore.serialize_ros1(msg, msg.__msgtype__))

    backend = TruthBackend()
    estimator = DepthEstimator(backend, TRUTH_METADATA, scale_strategy="fixed", scale_factor=1.0)
    backend.frames.append((estimator.preprocess(rgb), np.full((1, NET_HEIGHT, NET_WIDTH), 0.5, np.float32)))
    processor = DepthImageProcessor(estimator, ProcessorConfig(), rosbags_message_types())
    stats = process_bag(tmp_path / "in.bag", tmp_path / "out", processor)
    assert stats.processed == 1 and stats.camera_info_topic == "/cam/camera_info"
    outputs = read_bag(tmp_path / "out")
    np.testing.assert_allclose(outputs["/cam/camera_info"][0][1].k, K)  # ROS 2 field names
    depth_info = outputs["/depth/camera_info"][0][1]
    assert stamp_to_ns(depth_info.header) == 100_000_000_005 and depth_info.header.frame_id == "cam"
    np.testing.assert_allclose(depth_info.k, K)


# --------------------------------------------------------------------------------------------------
# Command line


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A random-initialised ResNet-18 weights folder at 192×64."""
    return save_tiny_weights(tmp_path_factory.mktemp("model") / "weights", tiny_network())


def test_command_line_with_a_real_model(bag, tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(bag), str(out), "--config", str(CONFIG_YAML), "--model", str(tiny_model), "--backend", "torch"]
    rc = main([*args, "-p", "scale_strategy:=fixed", "-p", "publish_points:=false", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert f"{FRAMES} of {FRAMES} frames of {IMAGE_TOPIC} processed, 0 skipped" in capsys.readouterr().out
    outputs = read_bag(out)
    assert len(outputs["/depth/image"]) == FRAMES and "/points" not in outputs
    assert (outputs["/depth/image"][0][1].width, outputs["/depth/image"][0][1].height) == (WIDTH, HEIGHT)


def test_command_line_exits_1_and_writes_nothing_when_every_frame_is_skipped(bag, tiny_model, tmp_path, capsys):
    """A random network sees no road: camera_height never finds a scale (``-p scale_strategy:=fixed`` is the fix)."""
    out = tmp_path / "out"
    rc = main([str(bag), str(out), "--model", str(tiny_model), "--backend", "torch", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1 and not out.exists() and "wrote" not in captured.out
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("process_bag: error: every frame was skipped, no output written: 0 of 5 frames"), last
    assert "scale_strategy to 'fixed'" in last


def test_a_bag_folder_without_metadata_names_the_file_and_the_way_out(bag, tmp_path, capsys):
    copy = Path(shutil.copytree(bag, tmp_path / "copy"))
    (copy / "metadata.yaml").unlink()
    mcap = next(copy.glob("*.mcap")).name
    assert main([str(copy), str(tmp_path / "out"), "--model", "unused", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no metadata.yaml" in err and f"pass the storage file itself ({mcap})" in err


def _truncated(bag: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(bag, tmp_path / "truncated"))
    mcap = next(copy.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    return copy


def _single_truncated_file(bag: Path, tmp_path: Path) -> Path:
    mcap = next(bag.glob("*.mcap"))
    path = tmp_path / "cut.mcap"
    path.write_bytes(mcap.read_bytes()[:-10])
    return path


def _empty(bag: Path, tmp_path: Path) -> Path:
    path = tmp_path / "empty.mcap"
    path.touch()
    return path


def _foreign_file(bag: Path, tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a bag\n")
    return path


def _foreign_ros1(bag: Path, tmp_path: Path) -> Path:
    path = tmp_path / "fake.bag"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    return path


def _directory_without_metadata(bag: Path, tmp_path: Path) -> Path:
    path = tmp_path / "photos"
    path.mkdir()
    (path / "a.png").write_bytes(b"png")
    return path


@pytest.mark.parametrize(
    ("make_input", "match"),
    [
        (_truncated, "File end magic is invalid"),
        (_single_truncated_file, "File end magic is invalid"),
        (_empty, "seems to be empty"),
        (lambda bag, tmp_path: tmp_path / "missing", "missing"),
        (_foreign_file, "Unrecognized storage format"),
        (_foreign_ros1, "cannot read bag"),
        (_directory_without_metadata, "metadata"),
    ],
    ids=["truncated-bag", "truncated-mcap", "empty", "missing", "foreign-file", "foreign-bag", "foreign-dir"],
)
def test_unreadable_bags_exit_2_with_one_line_and_no_output(bag, tmp_path, capsys, make_input, match):
    source = make_input(bag, tmp_path)
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    assert main([str(source), str(out_dir / "out"), "--model", "/no/model/needed", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("process_bag: error: cannot read bag") and match in err, err
    assert list(out_dir.iterdir()) == []


def test_several_image_topics_need_image_topic(drive, tmp_path, capsys):
    stereo = kitti_to_bag.convert_drive(drive, tmp_path / "stereo", cameras=[2, 3], progress=False)
    assert main([str(stereo), str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "2 sensor_msgs/msg/Image topics" in err and "--image-topic" in err
    assert "/kitti/camera_color_left/image_raw, /kitti/camera_color_right/image_raw" in err
    assert not (tmp_path / "out").exists()


def test_topic_choice_errors(drive, bag, tmp_path):
    processor = truth_processor(drive)
    with pytest.raises(BagError, match=r"'/nope' is not a sensor_msgs/msg/Image topic .*image topics: /kitti/camera"):
        process_bag(bag, tmp_path / "a", processor, image_topic="/nope")
    with pytest.raises(BagError, match="'/tf_static' is not a sensor_msgs/msg/CameraInfo topic"):
        process_bag(bag, tmp_path / "b", processor, camera_info_topic="/tf_static")
    tf_only = write_bag(tmp_path / "tf_only", [("/x", "std_msgs/msg/String", 1, serialize_string("hi"))])
    with pytest.raises(BagError, match="the bag has no sensor_msgs/msg/Image topics"):
        process_bag(tf_only, tmp_path / "c", processor)
    assert not any((tmp_path / name).exists() for name in "abc")


def serialize_string(text: str) -> bytes:
    return serialize(rosbags_typestore().types["std_msgs/msg/String"](data=text))


def test_existing_output_and_bad_parameters_exit_2(bag, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main([str(bag), str(tmp_path / "taken"), "--no-progress"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main([str(bag), str(tmp_path / "out"), "-p", "points_stride:=0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'points_stride' must be an integer ≥ 1" in err
    assert main([str(bag), str(tmp_path / "out"), "--no-progress"]) == 2
    assert "'model_path' must be set" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_output_bag_is_written_under_a_temporary_name(drive, bag, tmp_path, monkeypatch):
    """A crash mid-bag leaves nothing at the output path (nor a temporary directory beside it)."""
    processor = truth_processor(drive)
    calls = []

    def crash(image_msg, camera_info_msg=None):
        calls.append(image_msg)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return DepthImageProcessor.process(processor, image_msg, camera_info_msg)

    monkeypatch.setattr(processor, "process", crash)
    out_dir = tmp_path / "results"
    with pytest.raises(RuntimeError, match="simulated crash"):
        process_bag(bag, out_dir / "out", processor)
    assert list(out_dir.iterdir()) == []
