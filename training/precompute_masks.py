"""Run Mask R-CNN once over a split's target frames and cache the selected object masks.

    python -m training.precompute_masks --data_path kitti_data --split eigen_zhou [--png] [--device cuda]

Each distinct (folder, frame, side) of the split's train and val files is loaded by the training
dataset's own loader (so it is exactly the trainer's un-augmented, unflipped ``("color", 0, 0)``: LANCZOS
to the training size, no crop), run through the COCO Mask R-CNN and reduced to the objects
``mask_adjustment.select_object_masks`` keeps. The K×H×W bool masks are stored compressed at
``<out>/<W>x<H>/<folder>/image_0{2|3}/<frame:010d>.npz`` (key ``masks``), written atomically; frames
whose file exists are skipped, so an interrupted run resumes. The trainer reads them with
``load_cached_masks``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision.transforms.functional as TF
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from depth_ros.networks.resnet_encoder import PretrainedWeightsError
from training.datasets import KITTIRAWDataset, SplitError, resolve_split_dir
from training.datasets.splits import TRAIN_FILE, VAL_FILE, read_frame_lines
from training.mask_adjustment import build_detector, detect_object_masks
from training.mask_cache import mask_cache_path, save_masks

Frame = tuple[str, int, str]  # (folder, frame index, side)


def read_target_frames(split: str, splits_dir: str | Path) -> list[Frame]:
    """Distinct (folder, frame, side) of a split's train and val files, in first-seen order.

    ``split`` is a name under ``splits_dir`` or a split folder, as for the trainer.
    """
    folder = resolve_split_dir(split, splits_dir)
    frames: dict[Frame, None] = {}
    for name in (TRAIN_FILE, VAL_FILE):
        for line in read_frame_lines(folder / name):
            frames[(line.folder, line.frame_index, line.side)] = None
    return list(frames)


class _TargetImages(Dataset):
    """Target frames exactly as the trainer's ``("color", 0, 0)``: index → (index, 3×H×W float RGB in [0, 1])."""

    def __init__(self, kitti: KITTIRAWDataset, frames: list[Frame]) -> None:
        self.kitti = kitti
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        return index, TF.to_tensor(self.kitti.load_pyramid(self.kitti.get_image_path(*self.frames[index]))[0])


def precompute_masks(
    data_path: str | Path,
    frames: list[Frame],
    cache_dir: str | Path,
    size: tuple[int, int],
    *,
    make_detector: Callable[[], torch.nn.Module] = build_detector,
    extension: str = ".jpg",
    batch_size: int = 4,
    num_workers: int = 2,
    device: str | torch.device = "cpu",
) -> int:
    """Detect and cache the masks of every frame not cached yet; returns how many frames were computed.

    The detector is built (``make_detector()``, weights loaded) only when some frame is pending.
    """
    pending = [f for f in frames if not mask_cache_path(cache_dir, *f, size).is_file()]
    if not pending:
        return 0
    # No frames: the dataset then skips its ground-truth probe; it only lends its image path and loader.
    kitti = KITTIRAWDataset(data_path, [], size[0], size[1], [0], num_scales=1, img_ext=extension)
    missing = [path for f in pending if not (path := kitti.get_image_path(*f)).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(pending)} images missing, first {missing[0]} (--png for .png images?)"
        )
    detector = make_detector().to(device)
    loader = DataLoader(_TargetImages(kitti, pending), batch_size=batch_size, num_workers=num_workers)
    skipped = len(frames) - len(pending)
    for indices, batch in tqdm(loader, desc=f"masks ({skipped} cached)", unit="batch"):
        for index, masks in zip(indices.tolist(), detect_object_masks(detector, batch.to(device))):
            save_masks(mask_cache_path(cache_dir, *pending[index], size), masks)
    return len(pending)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_path", required=True, type=Path, help="KITTI raw root")
    parser.add_argument("--split", required=True, help="split name under --splits_dir, or a split folder")
    parser.add_argument("--splits_dir", type=Path, default=Path(__file__).parent / "splits")
    parser.add_argument("--height", type=int, default=192, help="training input height in px")
    parser.add_argument("--width", type=int, default=640, help="training input width in px")
    parser.add_argument("--png", action="store_true", help="read .png images instead of .jpg")
    parser.add_argument("--out", type=Path, default=None, help="cache directory (default <data_path>/mask_cache)")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--num_workers", type=int, default=2, help="image decoding workers")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out if args.out is not None else args.data_path / "mask_cache"
    try:
        frames = read_target_frames(args.split, args.splits_dir)
        computed = precompute_masks(
            args.data_path,
            frames,
            out,
            (args.height, args.width),
            extension=".png" if args.png else ".jpg",
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            device=args.device,
        )
    except (FileNotFoundError, ValueError, SplitError, PretrainedWeightsError) as exc:
        sys.exit(f"precompute_masks: error: {exc}")
    print(f"{computed} frames computed, {len(frames) - computed} already cached, in {out}")


if __name__ == "__main__":
    main()
