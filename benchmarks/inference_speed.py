"""Inference speed of the depth network per backend at 640×192, and what the pipeline adds around it.

    python benchmarks/inference_speed.py [--repeats 20] [--batch-repeats 6]

Rows: PyTorch CPU (eager under inference_mode, and a traced + frozen TorchScript module), ONNX Runtime
CPU at each graph optimisation level, plus PyTorch/ONNX Runtime CUDA and TensorRT where available;
batch 1 and 8. Latency is per network call (median and p90), throughput images/s from the median.
The variants are timed round-robin (one call of each in turn), so load from other processes on a
shared machine hits them alike. Then the full pipeline (a 1242×375 uint8 image → depth at 1242×375)
is timed on the `auto` backend with preprocessing, network and postprocessing apart, and compared
with the bare network call. A ResNet-18 with random weights stands in for a trained one (same cost).

Prints a markdown table; writes benchmarks/results/inference_speed.json atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script (`make bench`) without installing the package
    sys.path.insert(0, str(REPO))

from benchmarks._report import write_report  # noqa: E402
from depth_ros.backends import Backend, create_backend, probe_availability  # noqa: E402
from depth_ros.backends.onnx_backend import OnnxRuntimeBackend  # noqa: E402
from depth_ros.backends.torch_backend import TorchBackend  # noqa: E402
from depth_ros.checkpoint import ModelMetadata, save_weights_folder  # noqa: E402
from depth_ros.export import export_weights  # noqa: E402
from depth_ros.networks import DepthDecoder, DepthNetwork, ResnetEncoder  # noqa: E402
from depth_ros.pipeline import DepthEstimator  # noqa: E402

HEIGHT, WIDTH = 192, 640
CAMERA_HEIGHT, CAMERA_WIDTH = 375, 1242
BATCH_SIZES = (1, 8)
ORT_SPEEDUP_GOAL = 1.3
PIPELINE_OVERHEAD_GOAL = 0.10
RESULTS = REPO / "benchmarks" / "results" / "inference_speed.json"


@dataclasses.dataclass
class Row:
    backend: str
    device: str
    variant: str
    batch: int
    median_ms: float
    p90_ms: float
    images_per_s: float


def physical_cores() -> int:
    """Physical cores (what onnxruntime's default thread pool uses): distinct (physical id, core id) pairs."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return os.cpu_count() or 1
    cores, socket = set(), ""
    for line in lines:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "physical id":
            socket = value
        elif key == "core id":
            cores.add((socket, value))
    return len(cores) or os.cpu_count() or 1


def frozen_torchscript(network: torch.nn.Module) -> torch.nn.Module:
    """Trace, freeze and optimise for inference (folds BatchNorm into convolutions, fuses ops).

    TorchScript is deprecated in favour of torch.compile, but it is the freezing lever that needs no
    compiler toolchain; its deprecation warnings are silenced here.
    """
    example = torch.rand(1, 3, HEIGHT, WIDTH)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.filterwarnings("ignore", message=r".*is deprecated", category=FutureWarning)
        traced = torch.jit.trace(network.eval(), example)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


def round_robin(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each callable, interleaved: call 1 of each, then call 2 of each, …"""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def network_variants(network: DepthNetwork, onnx_path: Path) -> dict[str, Backend]:
    """Every backend configuration to time, keyed "backend device variant"."""
    variants: dict[str, Backend] = {
        "torch cpu eager": TorchBackend(network, "cpu"),
        "torch cpu jit-frozen": TorchBackend(frozen_torchscript(network), "cpu"),
    }
    for level in ("all", "extended", "basic", "disable"):
        variants[f"onnxruntime cpu opt={level}"] = OnnxRuntimeBackend(onnx_path, optimization=level)
    availability = probe_availability()
    if availability.torch_cuda:
        variants["torch cuda fp32"] = TorchBackend(network, "cuda")
        variants["torch cuda fp16"] = TorchBackend(network, "cuda", fp16=True)
    if availability.onnxruntime_cuda:
        variants["onnxruntime cuda opt=all"] = OnnxRuntimeBackend(onnx_path, device="cuda")
    if availability.tensorrt:
        for precision in ("fp32", "fp16"):
            variants[f"tensorrt cuda {precision}"] = create_backend(
                "tensorrt", onnx_path, fp16=precision == "fp16", max_batch=max(BATCH_SIZES)
            )
    return variants


def time_networks(variants: dict[str, Backend], repeats: dict[int, int]) -> list[Row]:
    rows = []
    for batch_size in BATCH_SIZES:
        batch = torch.rand(batch_size, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0)).numpy()
        calls = {name: (lambda b=backend, x=batch: b.run(x)) for name, backend in variants.items()}
        for name, seconds in round_robin(calls, repeats[batch_size]).items():
            backend, device, variant = name.split(" ", 2)
            median = float(np.median(seconds))
            rows.append(
                Row(
                    backend,
                    device,
                    variant,
                    batch_size,
                    median * 1e3,
                    float(np.percentile(seconds, 90)) * 1e3,
                    batch_size / median,
                )
            )
    return rows


def time_pipeline(estimator: DepthEstimator, repeats: int) -> dict[str, float]:
    """Median seconds of each stage of ``predict`` on a camera-sized image, vs the bare network call."""
    image = np.random.default_rng(0).integers(0, 256, (CAMERA_HEIGHT, CAMERA_WIDTH, 3), dtype=np.uint8)
    network_input = estimator.preprocess(image)[None]
    timings = []

    def predict() -> None:
        timings.append(estimator.predict(image).timings)

    seconds = round_robin({"pipeline": predict, "network": lambda: estimator.backend.run(network_input)}, repeats)
    timings = timings[-repeats:]
    result = {
        "backend": f"{estimator.backend.name} {estimator.backend.device}",
        "pipeline_ms": float(np.median(seconds["pipeline"])) * 1e3,
        "bare_network_ms": float(np.median(seconds["network"])) * 1e3,
        "preprocess_ms": float(np.median([t.preprocess_s for t in timings])) * 1e3,
        "network_ms": float(np.median([t.network_s for t in timings])) * 1e3,
        "postprocess_ms": float(np.median([t.postprocess_s for t in timings])) * 1e3,
    }
    result["overhead"] = result["pipeline_ms"] / result["bare_network_ms"] - 1.0
    return result


def markdown(rows: list[Row], pipeline: dict[str, float]) -> str:
    lines = [
        "| backend | device | variant | batch | median ms | p90 ms | images/s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.backend} | {r.device} | {r.variant} | {r.batch} | {r.median_ms:.1f} | {r.p90_ms:.1f} "
        f"| {r.images_per_s:.2f} |"
        for r in rows
    ]
    lines += [
        "",
        f"Pipeline on {pipeline['backend']} (1242×375 uint8 → depth at 1242×375): "
        f"{pipeline['pipeline_ms']:.1f} ms = preprocess {pipeline['preprocess_ms']:.1f} + network "
        f"{pipeline['network_ms']:.1f} + postprocess {pipeline['postprocess_ms']:.1f}; bare network "
        f"{pipeline['bare_network_ms']:.1f} ms → overhead {pipeline['overhead']:+.1%} "
        f"(goal ≤ {PIPELINE_OVERHEAD_GOAL:.0%})",
    ]
    return "\n".join(lines)


def speedups(rows: list[Row]) -> dict[str, float]:
    """ONNX Runtime (default options, and the best level) vs PyTorch eager on CPU, per batch size."""
    result = {}
    for batch in BATCH_SIZES:
        by_name = {f"{r.backend} {r.variant}": r.median_ms for r in rows if r.batch == batch and r.device == "cpu"}
        ort_best = min(v for k, v in by_name.items() if k.startswith("onnxruntime"))
        result[f"ort_default_vs_torch_b{batch}"] = by_name["torch eager"] / by_name["onnxruntime opt=all"]
        result[f"ort_best_vs_torch_b{batch}"] = by_name["torch eager"] / ort_best
        result[f"ort_best_vs_torch_jit_b{batch}"] = by_name["torch jit-frozen"] / ort_best
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per variant at batch 1")
    parser.add_argument("--batch-repeats", type=int, default=6, help="timed calls per variant at batch 8")
    args = parser.parse_args()
    load_before = os.getloadavg()
    torch.set_num_threads(physical_cores())  # PyTorch's intra-op pool = physical cores, as onnxruntime's
    torch.manual_seed(0)
    encoder = ResnetEncoder(18)
    network = DepthNetwork(encoder, DepthDecoder(encoder.num_ch_enc)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_weights_folder(
            Path(tmp) / "weights",
            {"encoder": encoder.state_dict(), "depth": network.decoder.state_dict()},
            ModelMetadata(HEIGHT, WIDTH, use_stereo=True),
        )
        onnx_path = Path(tmp) / "depth.onnx"
        export_weights(weights, onnx_path)
        rows = time_networks(network_variants(network, onnx_path), {1: args.repeats, 8: args.batch_repeats})
        estimator = DepthEstimator.from_model(onnx_path, backend="auto", scale_strategy="stereo")
        pipeline = time_pipeline(estimator, args.repeats)
    ratios = speedups(rows)
    print(markdown(rows, pipeline))
    print()
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}× (goal ≥ {ORT_SPEEDUP_GOAL}× for ort vs torch)")
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "logical_cpus": os.cpu_count(),
            "physical_cores": physical_cores(),
            "torch_threads": torch.get_num_threads(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "versions": {
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
        },
        "input": {"network": [HEIGHT, WIDTH], "camera_image": [CAMERA_HEIGHT, CAMERA_WIDTH]},
        "rows": [dataclasses.asdict(r) for r in rows],
        "ort_vs_torch": ratios,
        "pipeline": pipeline,
        "goals": {
            "ort_vs_torch_at_least": ORT_SPEEDUP_GOAL,
            "ort_default_met_b1": ratios["ort_default_vs_torch_b1"] >= ORT_SPEEDUP_GOAL,
            "pipeline_overhead_at_most": PIPELINE_OVERHEAD_GOAL,
            "pipeline_overhead_met": pipeline["overhead"] <= PIPELINE_OVERHEAD_GOAL,
        },
    }
    write_report(RESULTS, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
