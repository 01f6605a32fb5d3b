"""Run the depth node's callback path over a recorded bag and write a bag with its outputs.

Usage::

    python -m depth_ros.process_bag IN_BAG OUT_BAG [--image-topic T] [--camera-info-topic T]
        [--config config/depth.yaml] [--model PATH] [--backend auto|torch|onnxruntime|tensorrt]
        [-p NAME:=VALUE ...] [--no-progress]

``IN_BAG`` is a rosbag2 (MCAP or SQLite; a directory or a single storage file) or a ROS 1 ``.bag``.
The image topic is the bag's only ``sensor_msgs/msg/Image`` topic unless ``--image-topic`` names one;
the CameraInfo topic is the one beside it (``<namespace>/camera_info``) or the bag's only one, unless
``--camera-info-topic`` names one. Each image is paired with the latest CameraInfo logged at or
before it and goes through :class:`~depth_ros.depth_processor.DepthImageProcessor` exactly as in
the node, with message classes from the rosbags typestore.

``OUT_BAG`` is a new MCAP rosbag2 (version 8, readable by Humble) holding every input topic
(ROS 1 messages converted to ROS 2) plus the node's outputs under the names it publishes when not
namespaced: ``/depth/image``, ``/depth/camera_info``, ``/depth/colorized`` and, with
``publish_points``, ``/points``; each output is logged at its input image's log time. The bag is
written under a temporary name and renamed when complete. Parameters come from the YAML file
(``depth_node: ros__parameters:``) with ``--model``, ``--backend`` and ``-p`` overrides.

Exit status: 0 when done (bad frames are skipped, counted and reported); 1 when every frame was
skipped, in which case no output bag is written (a bag without depth would look like a result);
2 with one error line when the bag, the topics, the parameters or the model are unusable, in which
case no output is left behind either.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from rosbags.convert.converter import create_connections_converters
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag1 import ReaderError as ReaderError1
from rosbags.rosbag2 import ReaderError as ReaderError2
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore
from tqdm import tqdm

from depth_ros.atomic_io import staged_directory
from depth_ros.backends import BackendUnavailable
from depth_ros.checkpoint import CheckpointError
from depth_ros.depth_processor import (
    NO_SCALE_YET,
    DepthImageProcessor,
    FrameError,
    ProcessorConfig,
    ThrottledErrorLog,
    create_estimator,
    percentiles,
)
from depth_ros.interface import CAMERA_INFO_TYPE, IMAGE_TYPE, NODE_NAME, OUTPUT_QOS, OUTPUTS, published_outputs
from depth_ros.messages import rosbags_message_types, rosbags_qos, rosbags_typestore, serialize

__all__ = [
    "OUTPUT_TOPICS",
    "BagError",
    "NoFrameProcessedError",
    "ProcessStats",
    "inspect_bag",
    "load_parameters",
    "main",
    "process_bag",
    "select_topics",
]

# DepthOutputs field → topic, as the node publishes them without a namespace.
OUTPUT_TOPICS = {output.field: f"/{output.topic}" for output in OUTPUTS}
# Serialised ROS 2 bytes of a message, or why they could not be had.
Cdr = bytes | memoryview | FrameError


class BagError(Exception):
    """The input bag as a whole cannot be processed: unreadable, foreign, or its topics do not fit."""


class NoFrameProcessedError(Exception):
    """Every image of the bag was skipped: no output bag is written. ``stats`` says why."""

    def __init__(self, stats: ProcessStats) -> None:
        super().__init__(f"every frame was skipped, no output written: {stats.summary()}")
        self.stats = stats


@dataclasses.dataclass
class ProcessStats:
    """What :func:`process_bag` did. Latencies are the per-frame seconds of decode + process + write."""

    image_topic: str
    camera_info_topic: str | None
    images: int = 0
    processed: int = 0
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    latencies_s: list[float] = dataclasses.field(default_factory=list)
    wall_s: float = 0.0

    @property
    def frames_per_s(self) -> float:
        """Processed frames per second of wall time (reading and copying included)."""
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        """One line: frames processed and skipped (by kind), throughput and per-frame latency."""
        skipped = sum(self.skipped.values())
        kinds = f" ({', '.join(f'{k}: {n}' for k, n in sorted(self.skipped.items()))})" if skipped else ""
        line = f"{self.processed} of {self.images} frames of {self.image_topic} processed, {skipped} skipped{kinds}"
        if self.skipped["scale"]:
            line = f"{line}; scale: {NO_SCALE_YET}"
        if not self.processed:
            return line
        median_s, p90_s = percentiles(self.latencies_s)
        return (
            f"{line}; {self.frames_per_s:.1f} frames/s, latency median {median_s * 1e3:.1f} ms, "
            f"p90 {p90_s * 1e3:.1f} ms"
        )


# --------------------------------------------------------------------------------------------------
# Topics


def _topics_of(connections: Sequence[Connection], msgtype: str) -> list[str]:
    return sorted({c.topic for c in connections if c.msgtype == msgtype})


def select_topics(
    connections: Sequence[Connection],
    image_topic: str | None = None,
    camera_info_topic: str | None = None,
    *,
    use_camera_info: bool = True,
) -> tuple[str, str | None]:
    """(image topic, CameraInfo topic or None) to process; BagError when they are missing or ambiguous."""
    images = _topics_of(connections, IMAGE_TYPE)
    listed = ", ".join(images) or "none"
    if image_topic is None:
        if len(images) != 1:
            problem = "no" if not images else f"{len(images)}"
            raise BagError(
                f"the bag has {problem} {IMAGE_TYPE} topics (image topics: {listed}); choose one with --image-topic"
            )
        image_topic = images[0]
    elif image_topic not in images:
        raise BagError(f"{image_topic!r} is not a {IMAGE_TYPE} topic of the bag (image topics: {listed})")
    if not use_camera_info:
        return image_topic, None

    infos = _topics_of(connections, CAMERA_INFO_TYPE)
    if camera_info_topic is not None:
        if camera_info_topic not in infos:
            raise BagError(
                f"{camera_info_topic!r} is not a {CAMERA_INFO_TYPE} topic of the bag "
                f"(CameraInfo topics: {', '.join(infos) or 'none'})"
            )
        return image_topic, camera_info_topic
    beside = image_topic.rsplit("/", 1)[0] + "/camera_info"
    if beside in infos:
        return image_topic, beside
    if len(infos) > 1:
        raise BagError(
            f"none of the {CAMERA_INFO_TYPE} topics ({', '.join(infos)}) is beside {image_topic}; "
            f"choose one with --camera-info-topic (or set use_camera_info false)"
        )
    return image_topic, infos[0] if infos else None


@contextlib.contextmanager
def _open_bag(path: Path) -> Iterator[AnyReader]:
    """An open AnyReader of ``path``; BagError (one line) for a missing, truncated, empty or foreign file."""
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        storage = sorted(p.name for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
        hint = f"pass the storage file itself ({', '.join(storage)})" if storage else "it holds no .mcap or .db3 file"
        raise BagError(f"cannot read bag {path}: the folder has no metadata.yaml (a rosbag2 folder needs it); {hint}")
    try:
        reader = AnyReader([path], default_typestore=rosbags_typestore())
        reader.open()
    except (AnyReaderError, FileNotFoundError) as exc:
        raise BagError(f"cannot read bag {path}: {exc}") from None
    except UnicodeDecodeError:  # what rosbags 0.11.9 raises for a binary ".bag" file
        raise BagError(f"cannot read bag {path}: not a ROS 1 bag (it does not start with '#ROSBAG V2.0')") from None
    try:
        yield reader
    finally:
        reader.close()


def inspect_bag(
    in_path: str | Path, config: ProcessorConfig, image_topic: str | None = None, camera_info_topic: str | None = None
) -> tuple[str, str | None]:
    """The (image, CameraInfo) topics :func:`process_bag` will use: checks the bag before a model is loaded."""
    with _open_bag(Path(in_path)) as reader:
        return select_topics(reader.connections, image_topic, camera_info_topic, use_camera_info=config.use_camera_info)


# --------------------------------------------------------------------------------------------------
# Processing


def _log_to_stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def process_bag(
    in_path: str | Path,
    out_path: str | Path,
    processor: DepthImageProcessor,
    *,
    image_topic: str | None = None,
    camera_info_topic: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = _log_to_stderr,
) -> ProcessStats:
    """Process every image of ``in_path`` with ``processor`` and write ``out_path`` (MCAP, version 8).

    ``processor`` must build rosbags messages (``rosbags_message_types()``). A frame that raises
    :class:`FrameError`, or whose bytes cannot be decoded, is skipped, counted in
    ``ProcessStats.skipped`` and logged through ``log`` once per kind. Raises BagError for an
    unusable bag, :class:`NoFrameProcessedError` when the bag has images but every one was skipped, and
    FileExistsError when ``out_path`` exists; then nothing is left at ``out_path``.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if out_path.exists():
        raise FileExistsError(f"{out_path} exists already; not overwriting it")
    config = processor.config
    with _open_bag(in_path) as reader:
        image_topic, camera_info_topic = select_topics(
            reader.connections, image_topic, camera_info_topic, use_camera_info=config.use_camera_info
        )
        clashes = sorted({c.topic for c in reader.connections} & set(OUTPUT_TOPICS.values()))
        if clashes:
            raise BagError(f"the bag already has the output topic(s) {', '.join(clashes)}")
        stats = ProcessStats(image_topic, camera_info_topic)
        errors = ThrottledErrorLog(log)
        # ROS 1 messages are converted to ROS 2 (Humble) types; rosbag2 messages are copied as they are.
        typestore = reader.typestore if reader.is2 else get_typestore(Stores.ROS2_HUMBLE)
        start = time.perf_counter()
        with (
            staged_directory(out_path) as staging,
            Writer(staging, version=8, storage_plugin=StoragePlugin.MCAP) as writer,
            tqdm(
                total=sum(c.msgcount for c in reader.connections if c.topic == image_topic),
                unit="frame",
                desc=image_topic,
                disable=not progress,
            ) as bar,
        ):
            copies, converters = create_connections_converters(reader.connections, typestore, reader, writer)
            outputs = {
                output.field: writer.add_connection(
                    OUTPUT_TOPICS[output.field], output.msgtype, typestore=rosbags_typestore(),
                    offered_qos_profiles=[rosbags_qos(OUTPUT_QOS)],
                )
                for output in published_outputs(config.publish_points)
            }  # fmt: skip

            def run_frame(log_time_ns: int, cdr: Cdr, info: Any) -> None:
                """Process one image with the latest CameraInfo; write its outputs at the image's log time."""
                frame_start = time.perf_counter()
                stats.images += 1
                bar.update()
                try:
                    result = processor.process(_decode(typestore, cdr, IMAGE_TYPE), _valid(info))
                except FrameError as exc:
                    stats.skipped[exc.kind] += 1
                    errors.report(exc)
                    return
                for name, connection in outputs.items():
                    writer.write(connection, log_time_ns, serialize(getattr(result, name)))
                stats.processed += 1
                stats.latencies_s.append(time.perf_counter() - frame_start)

            # An image waits until the log time moves on, so that a CameraInfo logged at the same time
            # just after it still pairs with it.
            pending: tuple[int, Cdr] | None = None
            info: Any = None
            try:
                for connection, log_time_ns, raw in reader.messages():
                    if pending is not None and log_time_ns > pending[0]:
                        run_frame(*pending, info)
                        pending = None
                    cdr = _convert(converters[connection.msgtype], raw, connection.topic, log_time_ns)
                    if not isinstance(cdr, FrameError):
                        writer.write(copies[(connection.id, connection.owner)], log_time_ns, cdr)
                    if connection.topic == camera_info_topic:
                        info = _decode_or_error(typestore, cdr, CAMERA_INFO_TYPE)
                    elif connection.topic == image_topic:
                        if pending is not None:
                            run_frame(*pending, info)
                        pending = (log_time_ns, cdr)
            except (AnyReaderError, ReaderError1, ReaderError2) as exc:
                raise BagError(f"cannot read bag {in_path}: {exc}") from None
            if pending is not None:
                run_frame(*pending, info)
            stats.wall_s = time.perf_counter() - start
            if stats.images and not stats.processed:
                raise NoFrameProcessedError(stats)  # inside the staging: the depth-less bag is removed
    return stats


def _convert(converter: Callable[[bytes], memoryview], raw: bytes, topic: str, log_time_ns: int) -> Cdr:
    """Bag bytes → ROS 2 CDR bytes (identity for rosbag2), or the FrameError of a ROS 1 message that fails."""
    try:
        return converter(raw)
    except SerdeError as exc:
        return FrameError("decode", f"{topic} at {log_time_ns} ns: {exc}")


def _decode(typestore: Any, cdr: Cdr, msgtype: str) -> Any:
    """Deserialise CDR bytes; FrameError("decode") for bytes that are not a valid ``msgtype``."""
    if isinstance(cdr, FrameError):
        raise cdr
    try:
        return typestore.deserialize_cdr(cdr, msgtype)
    except SerdeError as exc:
        raise FrameError("decode", f"{msgtype}: {exc}") from None


def _decode_or_error(typestore: Any, cdr: Cdr, msgtype: str) -> Any:
    """:func:`_decode`, returning the FrameError instead of raising it (for a CameraInfo kept for later frames)."""
    try:
        return _decode(typestore, cdr, msgtype)
    except FrameError as exc:
        return exc


def _valid(info: Any) -> Any:
    """The CameraInfo to pair with an image, raising the FrameError of one that could not be decoded."""
    if isinstance(info, FrameError):
        raise info
    return info


# --------------------------------------------------------------------------------------------------
# Command line


def load_parameters(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` (or of ``/**``) in a ROS 2 parameter YAML file."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read parameter file {path}: {exc}") from None
    for key in (node_name, f"/{node_name}", "/**"):
        section = document.get(key) if isinstance(document, dict) else None
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return section["ros__parameters"]
    raise ValueError(f"parameter file {path} has no '{node_name}: ros__parameters:' mapping")


def _parse_override(text: str) -> tuple[str, Any]:
    """``NAME:=VALUE`` (VALUE parsed as YAML, as ``ros2 run … -p`` does) → (name, value)."""
    name, sep, value = text.partition(":=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:=VALUE, got {text!r}")
    return name, yaml.safe_load(value) if value else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring for the exit status."""
    parser = argparse.ArgumentParser(
        prog="process_bag",
        description="Run depth_node's callback path over a bag and write an MCAP bag with its outputs.",
    )
    parser.add_argument("in_bag", type=Path, help="rosbag2 directory, .mcap, .db3 or ROS 1 .bag")
    parser.add_argument("out_bag", type=Path, help="output rosbag2 directory (must not exist)")
    parser.add_argument("--image-topic", help=f"{IMAGE_TYPE} topic (default: the bag's only one)")
    parser.add_argument("--camera-info-topic", help=f"{CAMERA_INFO_TYPE} topic (default: the one beside the image)")
    parser.add_argument("--config", type=Path, help="node parameter YAML (default: the built-in defaults)")
    parser.add_argument("--model", help="model path (overrides model_path)")
    parser.add_argument("--backend", help="inference backend (overrides backend)")
    parser.add_argument(
        "-p", "--param", action="append", default=[], type=_parse_override, metavar="NAME:=VALUE",
        help="override one parameter, e.g. -p scale_strategy:=fixed",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    args = parser.parse_args(argv)

    def fail(message: object, status: int = 2) -> int:
        print(f"process_bag: error: {message}", file=sys.stderr)
        return status

    try:
        parameters = load_parameters(args.config) if args.config else {}
        parameters.update(args.param)
        parameters.update({k: v for k, v in (("model_path", args.model), ("backend", args.backend)) if v is not None})
        config = ProcessorConfig.from_parameters(parameters)
        if args.out_bag.exists():
            raise FileExistsError(f"{args.out_bag} exists already; not overwriting it")
        inspect_bag(args.in_bag, config, args.image_topic, args.camera_info_topic)
        processor = DepthImageProcessor(create_estimator(config), config, rosbags_message_types())
        stats = process_bag(
            args.in_bag,
            args.out_bag,
            processor,
            image_topic=args.image_topic,
            camera_info_topic=args.camera_info_topic,
            progress=not args.no_progress,
        )
    except NoFrameProcessedError as exc:
        return fail(exc, status=1)
    except (BagError, ValueError, CheckpointError, BackendUnavailable, OSError, WriterError) as exc:
        return fail(exc)
    print(f"process_bag: wrote {args.out_bag}: {stats.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
