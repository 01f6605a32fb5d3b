"""Depth for an image or a folder of images, with Monodepth2's ``test_simple.py`` outputs.

    python -m depth_ros.infer --weights models/mono+stereo_640x192 --input assets/ --output out/ --scale stereo
    python -m depth_ros.infer --weights model.onnx --input frame.png --output out/ --backend onnxruntime
    python -m depth_ros.infer --weights DIR --input imgs/ --ext png --output out/ \\
        --scale camera_height --camera-height 1.65 --intrinsics 721.5 721.5 609.6 172.9

For each image ``<name>.<ext>`` it writes, atomically:

* ``<name>_disp.npy``: the scaled disparity at the network resolution, shape 1×1×h×w (as test_simple);
* ``<name>_disp.jpeg``: that disparity resized to the input resolution and colour-mapped (magma,
  minimum to 95th percentile);
* ``<name>_depth.npy``: H×W float32 depth in metres at the input resolution, only when the scale
  strategy makes it metric (stereo, fixed, camera_height).

Inputs named ``*_disp.jpeg``/``*_disp.jpg`` (earlier outputs) are skipped. Bad input prints one
line per problem and exits with status 2.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from depth_ros.atomic_io import atomic_write_set
from depth_ros.backends import BACKEND_KINDS, BackendUnavailable
from depth_ros.checkpoint import CheckpointError
from depth_ros.encodings import sixteen_to_eight_bit
from depth_ros.geometry import GroundPlaneError
from depth_ros.pipeline import (
    SCALE_STRATEGIES,
    DepthEstimator,
    DepthPrediction,
    InputError,
    NetworkOutputError,
    resize_disparity,
)
from depth_ros.visualize import colorize_disparity

PROG = "python -m depth_ros.infer"
OUTPUT_SUFFIX = "_disp"


def read_rgb(path: Path) -> np.ndarray:
    """An image file → H×W×3 uint8 RGB (PIL, converted to RGB as test_simple does).

    16-bit grey images are scaled to 8 bits as the bag path reads ``mono16`` (÷257), not clipped to white;
    floating-point images are refused (their value range is unknown) rather than clipped to black and white.
    """
    try:
        with Image.open(path) as image:
            if image.mode == "F":
                raise InputError(
                    f"{path}: a floating-point image (PIL mode F) has no known value range; save it as 8 or 16 bit"
                )
            if image.mode == "I" or image.mode.startswith("I;16"):
                pixels = np.asarray(image)
                if pixels.min() < 0 or pixels.max() > np.iinfo(np.uint16).max:
                    raise InputError(f"{path}: a 32-bit integer image (PIL mode {image.mode}) beyond 16 bits")
                return np.repeat(sixteen_to_eight_bit(pixels)[:, :, None], 3, axis=2)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None


def list_inputs(path: Path, ext: str) -> list[Path]:
    """``path`` itself, or the ``*.<ext>`` files of a folder without earlier ``*_disp`` outputs, sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"--input {path} does not exist")
    files = sorted(p for p in path.glob(f"*.{ext.lstrip('.')}") if not p.stem.endswith(OUTPUT_SUFFIX))
    if not files:
        raise InputError(f"no *.{ext.lstrip('.')} images in {path}")
    return files


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_outputs(prediction: DepthPrediction, stem: str, output_dir: Path) -> list[Path]:
    """Write the test_simple-style files of one prediction as a set (all or none replaced); return their paths."""
    height, width = prediction.depth_m.shape
    disparity = prediction.disparity
    preview = Image.fromarray(colorize_disparity(resize_disparity(disparity, width, height)))
    jpeg = io.BytesIO()
    preview.save(jpeg, format="JPEG")
    files = {
        output_dir / f"{stem}{OUTPUT_SUFFIX}.npy": _npy_bytes(disparity[None, None]),
        output_dir / f"{stem}{OUTPUT_SUFFIX}.jpeg": jpeg.getvalue(),
    }
    if prediction.is_metric:
        files[output_dir / f"{stem}_depth.npy"] = _npy_bytes(prediction.depth_m)
    return atomic_write_set(files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, type=Path, help="weights folder, .onnx or .engine (with sidecar)")
    parser.add_argument("--input", required=True, type=Path, help="an image file or a folder of images")
    parser.add_argument("--output", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--ext", default="jpg", help="image extension to glob in a folder (default %(default)s)")
    parser.add_argument("--backend", choices=BACKEND_KINDS, default="auto", help="default %(default)s")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the backend's choice)")
    parser.add_argument("--fp16", action="store_true", help="half precision (torch on CUDA, TensorRT)")
    parser.add_argument("--scale", choices=SCALE_STRATEGIES, default="relative", help="default %(default)s")
    parser.add_argument("--scale-factor", type=float, help="metres per model unit, for --scale fixed")
    parser.add_argument("--camera-height", type=float, help="camera height above the ground (m), --scale camera_height")
    parser.add_argument(
        "--intrinsics",
        type=float,
        nargs=4,
        metavar=("FX", "FY", "CX", "CY"),
        help="pixel intrinsics of the input images, for --scale camera_height with models without learned K",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    K_px = None
    if args.intrinsics is not None:
        fx, fy, cx, cy = args.intrinsics
        K_px = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    try:
        inputs = list_inputs(args.input, args.ext)
        estimator = DepthEstimator.from_model(
            args.weights,
            backend=args.backend,
            device=args.device,
            fp16=args.fp16,
            scale_strategy=args.scale,
            scale_factor=args.scale_factor,
            camera_height_m=args.camera_height,
        )
    except (InputError, CheckpointError, BackendUnavailable, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"{PROG}: error: cannot create the output folder {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    failures = 0
    for path in tqdm(inputs, desc="depth", unit="image", disable=len(inputs) == 1):
        try:
            prediction = estimator.predict(read_rgb(path), K_px=K_px)
        except (InputError, NetworkOutputError, GroundPlaneError) as exc:
            failures += 1
            tqdm.write(f"{PROG}: error: {path}: {exc}", file=sys.stderr)
            continue
        try:
            write_outputs(prediction, path.stem, args.output)
        except OSError as exc:  # read-only or full: every later image would fail the same way
            print(f"{PROG}: error: cannot write the outputs of {path} into {args.output}: {exc.strerror or exc} "
                  f"(earlier outputs of that image are left as they were)", file=sys.stderr)  # fmt: skip
            return 2
    print(
        f"{len(inputs) - failures}/{len(inputs)} images → {args.output} ({estimator.backend.name} on "
        f"{estimator.backend.device}, scale {args.scale})"
    )
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
