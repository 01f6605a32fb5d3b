"""Monodepth2's datasets (KITTI raw, odometry, depth), split files and the pre-resized image cache."""

from training.datasets.image_cache import ImageCache
from training.datasets.kitti_dataset import KITTIDepthDataset, KITTIOdomDataset, KITTIRAWDataset
from training.datasets.mono_dataset import DatasetError, MonoDataset
from training.datasets.splits import SplitError, read_split_file, resolve_split_dir

# --dataset name → class (Monodepth2's trainer maps kitti and kitti_odom; kitti_depth is ours to wire).
DATASETS: dict[str, type[MonoDataset]] = {
    "kitti": KITTIRAWDataset,
    "kitti_odom": KITTIOdomDataset,
    "kitti_depth": KITTIDepthDataset,
}

__all__ = [
    "DATASETS",
    "DatasetError",
    "ImageCache",
    "KITTIDepthDataset",
    "KITTIOdomDataset",
    "KITTIRAWDataset",
    "MonoDataset",
    "SplitError",
    "read_split_file",
    "resolve_split_dir",
]
