"""Training speed on CPU: seconds per step and images/s at 640×192, ResNet-18, with and without the image cache.

Generates one synthetic KITTI-raw drive at the native 1242×375 in a temporary folder, converts its images to
JPEG the way Monodepth2's data preparation does (quality 92, 4:2:0), then times full training steps (data
loading with 2 DataLoader workers, forward, backward, Adam) of the monocular model (frames 0, −1, +1) after
one warm-up step. The cached runs fill the cache first, untimed. Prints a markdown table and writes
``benchmarks/results/train_speed.json``.

    python benchmarks/train_speed.py [--steps 3] [--batch_sizes 4 12]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_report
from training.options import Options
from training.synthetic_kitti import generate
from training.trainer import Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.json"
JPEG_QUALITY = 92  # Monodepth2's README: convert -quality 92 -sampling-factor 2x2,1x1,1x1
JPEG_SUBSAMPLING_420 = 2


def make_data(root: Path, frames: int) -> Path:
    """One synthetic drive as JPEGs, and a split folder listing every frame with both neighbours."""
    drive = generate(root, drives=1, frames=frames, seed=0)[0]
    for png in drive.glob("image_0[23]/data/*.png"):
        Image.open(png).convert("RGB").save(png.with_suffix(".jpg"), quality=JPEG_QUALITY,
                                             subsampling=JPEG_SUBSAMPLING_420)
        png.unlink()
    split = root / "splits" / "speed"
    split.mkdir(parents=True)
    folder = f"{drive.parent.name}/{drive.name}"
    lines = "".join(f"{folder} {i} {'lr'[i % 2]}\n" for i in range(1, frames - 1))
    (split / "train_files.txt").write_text(lines)
    (split / "val_files.txt").write_text(lines)  # never used: no log event is reached
    return split


def time_config(root: Path, split: Path, batch_size: int, cached: bool, steps: int, num_workers: int) -> dict:
    """Median wall time of ``steps`` training steps (after one warm-up step) and mean wait for their data."""
    opt = Options(
        data_path=str(root), split=str(split), height=192, width=640, batch_size=batch_size, num_layers=18,
        weights_init="scratch", num_workers=num_workers, log_dir=str(root / "logs"), model_name="speed",
        cache_dir=str(root / "cache") if cached else None,
    )
    trainer = Trainer(opt)
    if cached:
        dataset = trainer.train_loader.dataset
        for index in range(len(dataset)):  # fill the cache, untimed
            dataset[index]
    trainer.model.train()
    batches = iter(trainer.train_loader)
    trainer.train_step(next(batches))  # warm-up: worker start, allocator, first-call overheads
    step_s, data_s = [], []
    for _ in range(steps):
        start = time.perf_counter()
        batch = next(batches)
        loaded = time.perf_counter()
        trainer.train_step(batch)
        step_s.append(time.perf_counter() - start)
        data_s.append(loaded - start)
    for writer in trainer.writers.values():
        writer.close()
    step_median_s = statistics.median(step_s)  # robust to a step slowed by other load on a shared machine
    return {
        "batch_size": batch_size,
        "cache": cached,
        "s_per_step": round(step_median_s, 3),
        "images_per_s": round(batch_size / step_median_s, 2),
        "data_wait_s_per_step": round(statistics.mean(data_s), 3),
        "step_times_s": [round(t, 3) for t in step_s],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        root = Path(tmp)
        split = make_data(root, frames=max(args.batch_sizes) * (args.steps + 1) + 2)
        for batch_size in args.batch_sizes:
            for cached in (False, True):
                results.append(time_config(root, split, batch_size, cached, args.steps, args.num_workers))
                print(f"batch {batch_size}, cache {'on' if cached else 'off'}: {results[-1]['s_per_step']} s/step",
                      file=sys.stderr)

    print("| batch | cache | s/step | images/s | data wait s/step |")
    print("|---:|:---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['batch_size']} | {'on' if r['cache'] else 'off'} | {r['s_per_step']:.2f} | "
              f"{r['images_per_s']:.2f} | {r['data_wait_s_per_step']:.2f} |")
    report = {
        "benchmark": "train_speed",
        "model": "monodepth2 mono (frames 0 -1 1), ResNet-18 depth + separate ResNet-18 pose, scratch init",
        "input": "640x192 from synthetic 1242x375 JPEG (quality 92, 4:2:0)",
        "device": "cpu",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "num_workers": args.num_workers,
        "timed_steps": args.steps,
        "results": results,
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
