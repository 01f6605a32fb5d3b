"""What the ROS callback path costs on top of the bare pipeline, and bag throughput end to end.

    .venv/bin/python benchmarks/node_overhead.py [--backend onnxruntime|torch] [--device cpu|cuda]
        [--frames 12] [--repeats 30]

A random-initialised ResNet-18 Monodepth2 model at 640×192 runs on KITTI-size (1242×375) frames of
a synthetic drive converted to a bag with ``depth_ros.kitti_to_bag``. Measured, interleaved so that
load on the machine hits both alike:

* ``predict``: ``DepthEstimator.predict`` on the decoded RGB numpy image (with K);
* ``process``: ``DepthImageProcessor.process`` on the Image + CameraInfo messages, i.e. what the node
  and the bag processor run per frame: decode, predict, then the 32FC1 depth, CameraInfo, colour map
  and stride-2 point cloud messages (the defaults of config/depth.yaml).

The overhead is (process − predict) / predict of the medians; the goal is ≤ 10 %. Then
``process_bag`` runs over the whole bag (reading, copying and writing MCAP included). Scale
strategy ``fixed``: a random network shows no ground plane for ``camera_height``. Prints a markdown
table and writes ``benchmarks/results/node_overhead.json`` atomically.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rosbags.highlevel import AnyReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `make bench` runs this file as a script

from benchmarks._report import write_report
from depth_ros import kitti_to_bag
from depth_ros.checkpoint import ModelMetadata, save_weights_folder
from depth_ros.depth_processor import DepthImageProcessor, ProcessorConfig, create_estimator, percentiles
from depth_ros.messages import camera_info_to_K, image_to_rgb, rosbags_message_types
from depth_ros.networks import DepthDecoder, ResnetEncoder
from depth_ros.pipeline import DepthEstimator
from depth_ros.process_bag import process_bag
from training import synthetic_kitti

RESULTS = Path(__file__).resolve().parent / "results" / "node_overhead.json"
NET_WIDTH, NET_HEIGHT = 640, 192
OVERHEAD_GOAL = 0.10


def random_model(folder: Path) -> Path:
    """A random-initialised ResNet-18 encoder + nearest-upsampling decoder weights folder at 640×192."""
    torch.manual_seed(0)
    encoder = ResnetEncoder(18)
    states = {"encoder": encoder.state_dict(), "depth": DepthDecoder(encoder.num_ch_enc).state_dict()}
    return save_weights_folder(folder, states, ModelMetadata(height=NET_HEIGHT, width=NET_WIDTH))


def first_frame(bag: Path) -> tuple[object, object]:
    """(Image, CameraInfo) of the bag's first left colour frame, as rosbags messages."""
    image_topic, info_topic = kitti_to_bag.camera_topics(2)
    found: dict[str, object] = {}
    with AnyReader([bag]) as reader:
        for connection, _, raw in reader.messages():
            found.setdefault(connection.topic, reader.deserialize(raw, connection.msgtype))
            if image_topic in found and info_topic in found:
                return found[image_topic], found[info_topic]
    raise RuntimeError(f"{bag} lacks {image_topic} or {info_topic}")


class TimedPredict:
    """Wraps ``estimator.predict`` to record how long each call took (seconds)."""

    def __init__(self, predict: Callable[..., object]) -> None:
        self.predict = predict
        self.last_s = 0.0

    def __call__(self, *args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        result = self.predict(*args, **kwargs)
        self.last_s = time.perf_counter() - start
        return result


def measure(
    estimator: DepthEstimator, processor: DepthImageProcessor, image: object, info: object, repeats: int
) -> dict[str, float]:
    """Median ms of bare predict, of process, and of process's own work (process minus its predict call).

    The calls alternate, after one warm-up each, so that other load on the machine hits both alike.
    """
    rgb, K = image_to_rgb(image), camera_info_to_K(info)
    timed = TimedPredict(estimator.predict)
    estimator.predict = timed  # the processor now reports the predict time inside each process call
    samples: dict[str, list[float]] = {"predict": [], "process": [], "callback_own": []}
    timed(rgb, K_px=K)
    processor.process(image, info)
    for _ in range(repeats):
        timed(rgb, K_px=K)
        samples["predict"].append(timed.last_s)
        start = time.perf_counter()
        processor.process(image, info)
        samples["process"].append(time.perf_counter() - start)
        samples["callback_own"].append(samples["process"][-1] - timed.last_s)
    del estimator.predict
    return {f"{name}_ms": statistics.median(values) * 1e3 for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "torch"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--frames", type=int, default=12, help="frames of the synthetic drive (≥ 5)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls of predict and of process")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        drive = synthetic_kitti.generate(tmp / "kitti", drives=1, frames=args.frames, seed=0)[0]
        bag = kitti_to_bag.convert_drive(drive, tmp / "bag", cameras=[2], progress=False)
        model = random_model(tmp / "model")
        config = ProcessorConfig(
            model_path=str(model), backend=args.backend, device=args.device, scale_strategy="fixed"
        )
        estimator = create_estimator(config)
        processor = DepthImageProcessor(estimator, config, rosbags_message_types())
        image, info = first_frame(bag)
        timings = measure(estimator, processor, image, info, args.repeats)
        stages = estimator.predict(image_to_rgb(image), K_px=camera_info_to_K(info)).timings
        stats = process_bag(bag, tmp / "out", processor)

    overhead = timings["callback_own_ms"] / timings["predict_ms"]
    result = {
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        "backend": f"{estimator.backend.name} ({estimator.backend.device})",
        "input_size": f"{image.width}x{image.height}",
        "network_size": f"{NET_WIDTH}x{NET_HEIGHT}",
        "points_stride": config.points_stride,
        "repeats": args.repeats,
        **timings,
        "predict_stages_ms": {
            "preprocess": stages.preprocess_s * 1e3,
            "network": stages.network_s * 1e3,
            "postprocess": stages.postprocess_s * 1e3,
        },
        "overhead_fraction": overhead,
        "overhead_goal_fraction": OVERHEAD_GOAL,
        "bag_frames": stats.processed,
        "bag_frames_per_s": stats.frames_per_s,
        "bag_frame_latency_median_ms": percentiles(stats.latencies_s)[0] * 1e3,
        "bag_wall_ms_per_frame": stats.wall_s / max(stats.processed, 1) * 1e3,
    }
    print(f"## Node overhead ({result['backend']}, {result['input_size']} → {result['network_size']})\n")
    print(f"| measure (median of {args.repeats}) | value |\n|---|---|")
    print(f"| predict, bare pipeline | {timings['predict_ms']:.1f} ms |")
    print(f"| process, node callback path | {timings['process_ms']:.1f} ms |")
    print(f"| callback path's own work (process − its predict) | {timings['callback_own_ms']:.1f} ms |")
    print(f"| **overhead** (own work / bare predict) | **{overhead:.1%}** (goal ≤ {OVERHEAD_GOAL:.0%}) |")
    print(
        f"| process_bag per frame (decode, process, write), median | {result['bag_frame_latency_median_ms']:.1f} ms |"
    )
    print(f"| process_bag end to end, {stats.processed} frames | {stats.frames_per_s:.2f} frames/s |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_report(RESULTS, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
