"""Train Monodepth2 (self-supervised monocular / stereo depth) on KITTI.

One process (CPU or one GPU)::

    python training/train.py --data_path kitti_data --model_name mono_640x192
    python -m training.train --data_path kitti_data --model_name mono_640x192      # the same

Several GPUs (or CPU processes) on one machine, ``--batch_size`` per process::

    torchrun --standalone --nproc_per_node=4 training/train.py --data_path kitti_data --model_name mono_640x192

Stereo and mono+stereo, as in Monodepth2::

    python training/train.py --model_name stereo --frame_ids 0 --use_stereo --split eigen_full
    python training/train.py --model_name mono+stereo --frame_ids 0 -1 1 --use_stereo

Split files come from Monodepth2's ``splits/`` folder copied into ``training/splits/`` (or ``--split FOLDER``).
Without network access, place the ImageNet ResNet weights in the torch hub cache first (the error says where)
or train with ``--weights_init scratch``. Logs: ``tensorboard --logdir <log_dir>/<model_name>``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth_ros.checkpoint import CheckpointError
from depth_ros.kitti import KittiFormatError
from depth_ros.networks.resnet_encoder import PretrainedWeightsError
from training.datasets import DatasetError, SplitError
from training.options import OptionsError, parse_options
from training.trainer import Trainer

# Errors a user can fix from the command line: reported on one line, without a traceback.
USER_ERRORS = (OptionsError, SplitError, DatasetError, PretrainedWeightsError, CheckpointError, KittiFormatError)


def main(argv: Sequence[str] | None = None) -> int:
    opt = parse_options(argv)
    try:
        trainer = Trainer(opt)
        trainer.train()
    except USER_ERRORS as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
