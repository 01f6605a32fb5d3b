"""Command-line options: every option of Monodepth2's ``options.py`` (same names, same defaults) plus ours.

Monodepth2's options are documented in its repository; ours are ``--splits_dir``, ``--cache_dir``, ``--seed``,
``--max_steps``, ``--warmup_steps``, ``--amp``, ``--no_pretrained_download``, the optimiser recipe (``--optimizer``,
``--weight_decay``, ``--scheduler``) and the paper's four extension switches, each independent of the others:
``--mask_rcnn`` (with ``--mask_cache``, ``--mask_adjust_smoothness``), ``--espcn``, ``--learn_intrinsics`` and
``--weather_aug``. The paper's recipe is ``--optimizer adamw --weight_decay 0.05 --scheduler cosine``.

``Options`` is a plain dataclass: build it with :func:`parse_options` (command line) or directly
(``Options(data_path=..., weights_init="scratch")``) in tests and scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.datasets.splits import DEFAULT_SPLITS_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]

SPLIT_NAMES = ("eigen_zhou", "eigen_full", "odom", "benchmark")
DATASET_NAMES = ("kitti", "kitti_odom", "kitti_depth", "kitti_test")
EVAL_SPLITS = ("eigen", "eigen_benchmark", "benchmark", "odom_9", "odom_10")
MODEL_NAMES = ("encoder", "depth", "pose_encoder", "pose")
LOADABLE_MODELS = (*MODEL_NAMES, "predictive_mask", "intrinsics")  # the last two exist only in some runs


class OptionsError(ValueError):
    """An option value, or a combination of options, that training cannot run with."""


def _opt(default: Any = None, help: str = "", *, type: Any = None, choices: Sequence | None = None,
         nargs: str | None = None) -> Any:
    """A dataclass field carrying its argparse settings (``type`` is the element type for lists)."""
    metadata = {"help": help, "type": type, "choices": choices, "nargs": nargs}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _flag(help: str) -> Any:
    return dataclasses.field(default=False, metadata={"help": help, "flag": True})


@dataclasses.dataclass
class Options:
    """All training and evaluation options. Sizes in pixels, depths in model units (metres for KITTI)."""

    # ---- paths
    data_path: str = _opt(str(REPO_ROOT / "kitti_data"), "path to the KITTI data", type=str)
    log_dir: str = _opt(str(Path("~/tmp")), "log directory (runs go to <log_dir>/<model_name>)", type=str)
    splits_dir: str = _opt(str(DEFAULT_SPLITS_DIR), "folder holding Monodepth2's splits/ (see its README)", type=str)
    cache_dir: str | None = _opt(None, "pre-resized image cache folder (off when unset)", type=str)

    # ---- training
    model_name: str = _opt("mdp", "the name of the folder to save the model in", type=str)
    split: str = _opt("eigen_zhou", f"one of {', '.join(SPLIT_NAMES)} (looked up in --splits_dir) or a folder "
                      "holding train_files.txt and val_files.txt", type=str)
    num_layers: int = _opt(18, "number of resnet layers", type=int, choices=(18, 34, 50, 101, 152))
    dataset: str = _opt("kitti", "dataset to train on", type=str, choices=DATASET_NAMES)
    png: bool = _flag("if set, trains from raw KITTI png files (instead of jpgs)")
    height: int = _opt(192, "input image height (multiple of 32)", type=int)
    width: int = _opt(640, "input image width (multiple of 32)", type=int)
    disparity_smoothness: float = _opt(1e-3, "disparity smoothness weight", type=float)
    scales: list[int] = _opt([0, 1, 2, 3], "scales used in the loss", type=int, nargs="+")  # noqa: RUF009 (_opt returns a field)
    min_depth: float = _opt(0.1, "minimum depth", type=float)
    max_depth: float = _opt(100.0, "maximum depth", type=float)
    use_stereo: bool = _flag("if set, uses stereo pair for training")
    frame_ids: list[int] = _opt([0, -1, 1], "frames to load (the first must be 0)", type=int, nargs="+")  # noqa: RUF009 (_opt returns a field)

    # ---- optimisation
    batch_size: int = _opt(12, "batch size (per process under torchrun)", type=int)
    learning_rate: float = _opt(1e-4, "learning rate", type=float)
    num_epochs: int = _opt(20, "number of epochs", type=int)
    scheduler_step_size: int = _opt(15, "step size of the scheduler (epochs)", type=int)
    warmup_steps: int = _opt(0, "raise the learning rate linearly from lr/N to lr over the first N steps (0: off, as "
                             "Monodepth2); from-scratch runs at high rates need it: Adam's first steps otherwise "
                             "saturate the disparity sigmoid at 0 (constant depth) before the pose network moves",
                             type=int)
    seed: int = _opt(0, "seed of python, numpy and torch random generators", type=int)
    max_steps: int | None = _opt(None, "stop after this many steps (smoke runs, benchmarks)", type=int)
    optimizer: str = _opt("adam", "adam (Monodepth2) or adamw (decoupled weight decay, the paper's recipe)",
                          type=str, choices=("adam", "adamw"))
    weight_decay: float = _opt(0.0, "weight decay (the paper: 0.05 with adamw); with adam it is Adam's coupled L2 "
                               "term; never applied to the learned intrinsics", type=float)
    scheduler: str = _opt("step", "step: StepLR(scheduler_step_size, 0.1); cosine: CosineAnnealingLR(T_max="
                          "num_epochs, eta_min=0); both stepped once per epoch", type=str, choices=("step", "cosine"))

    # ---- ablations
    v1_multiscale: bool = _flag("if set, uses monodepth v1 multiscale")
    avg_reprojection: bool = _flag("if set, uses average reprojection loss")
    disable_automasking: bool = _flag("if set, doesn't do auto-masking")
    predictive_mask: bool = _flag("if set, uses a predictive masking scheme as in Zhou et al")
    no_ssim: bool = _flag("if set, disables ssim in the loss")
    weights_init: str = _opt("pretrained", "pretrained or scratch", type=str, choices=("pretrained", "scratch"))
    pose_model_input: str = _opt("pairs", "how many images the pose network gets", type=str,
                                 choices=("pairs", "all"))
    pose_model_type: str = _opt("separate_resnet", "normal or shared", type=str,
                                choices=("posecnn", "separate_resnet", "shared"))

    # ---- system
    no_cuda: bool = _flag("if set disables CUDA")
    num_workers: int = _opt(12, "number of dataloader workers", type=int)
    amp: str = _opt("bf16", "autocast precision of the networks on CUDA (ignored on CPU); losses stay fp32",
                    type=str, choices=("off", "bf16", "fp16"))
    no_pretrained_download: bool = _flag("never download ImageNet weights (use the torch hub cache only)")

    # ---- loading
    load_weights_folder: str | None = _opt(None, "name of model to load", type=str)
    no_resume: bool = _flag("with --load_weights_folder: start at step 0 with a fresh schedule (fine-tuning) even "
                            "when the folder holds trainer_state.pth, from which a run otherwise resumes exactly")
    models_to_load: list[str] = _opt(list(MODEL_NAMES), "models to load", type=str, nargs="+")  # noqa: RUF009 (_opt returns a field)

    # ---- logging
    log_frequency: int = _opt(250, "number of batches between each tensorboard log", type=int)
    save_frequency: int = _opt(1, "number of epochs between each save", type=int)

    # ---- extensions
    mask_rcnn: bool = _flag("warp with the Mask R-CNN-adjusted disparity: each detected object flattened to its "
                            "ground-contact disparity (extension; COCO weights from the torch hub cache)")
    mask_cache: str | None = _opt(None, "with --mask_rcnn: read the masks precomputed by training.precompute_masks "
                                  "from this folder instead of running Mask R-CNN during training", type=str)
    mask_adjust_smoothness: bool = _flag("with --mask_rcnn: the smoothness loss also sees the adjusted disparity")
    espcn: bool = _flag("ESPCN sub-pixel upsampling in the depth decoder instead of nearest (extension)")
    learn_intrinsics: bool = _flag("learn the camera intrinsics from the pose bottleneck instead of the dataset's "
                                   "(extension; add 'intrinsics' to --models_to_load to resume the head)")
    intrinsics_warmup_steps: int = _opt(0, "with --learn_intrinsics: freeze the head for the first N steps of "
                                        "the run (a fresh head: its generic prior, the same K for every sample), so "
                                        "the pose network learns the camera's motion before K can absorb it (0: "
                                        "learn K from the first step, as WildNet)",
                                        type=int)
    weather_aug: bool = _flag("rain/snow/fog/sun-flare augmentation of the network inputs (extension)")

    # ---- evaluation
    eval_stereo: bool = _flag("if set evaluates in stereo mode")
    eval_mono: bool = _flag("if set evaluates in mono mode")
    disable_median_scaling: bool = _flag("if set disables median scaling in evaluation")
    pred_depth_scale_factor: float = _opt(1.0, "if set multiplies predictions by this number", type=float)
    ext_disp_to_eval: str | None = _opt(None, "optional path to a .npy disparities file to evaluate", type=str)
    eval_split: str = _opt("eigen", "which split to run eval on", type=str, choices=EVAL_SPLITS)
    save_pred_disps: bool = _flag("if set saves predicted disparities")
    no_eval: bool = _flag("if set disables evaluation")
    eval_eigen_to_benchmark: bool = _flag("if set assume we are loading eigen results from npy but we want "
                                          "to evaluate using the new benchmark")
    eval_out_dir: str | None = _opt(None, "if set will output the disparities to this folder", type=str)
    post_process: bool = _flag("if set will perform the flipping post processing from the original monodepth paper")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)



def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one argument per :class:`Options` field, same name, same default."""
    parser = argparse.ArgumentParser(description="Monodepth2 options (depth_ros)")
    for field in dataclasses.fields(Options):
        meta = field.metadata
        name = f"--{field.name}"
        if meta.get("flag"):
            parser.add_argument(name, action="store_true", help=meta["help"])
            continue
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        kwargs = {k: meta[k] for k in ("type", "choices", "nargs") if meta.get(k) is not None}
        parser.add_argument(name, default=default, help=meta["help"], **kwargs)
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse a command line (``sys.argv[1:]`` when None) into :class:`Options` (not yet validated)."""
    return Options(**vars(build_parser().parse_args(argv)))


def validate_options(opt: Options) -> None:
    """Raise OptionsError (one line) for values or combinations that training cannot run with."""
    if opt.height % 32 or opt.width % 32:
        raise OptionsError(f"--height and --width must be multiples of 32, got {opt.height}×{opt.width}")
    if not opt.frame_ids or opt.frame_ids[0] != 0:
        raise OptionsError(f"--frame_ids must start with 0, got {opt.frame_ids}")
    if len(set(opt.frame_ids)) != len(opt.frame_ids):
        raise OptionsError(f"--frame_ids must not repeat a frame, got {opt.frame_ids}")
    if opt.frame_ids == [0] and not opt.use_stereo:
        raise OptionsError("--frame_ids 0 alone needs --use_stereo (there is no source frame to warp)")
    if not opt.scales or any(s not in range(4) for s in opt.scales):
        raise OptionsError(f"--scales must be a subset of 0 1 2 3, got {opt.scales}")
    if opt.predictive_mask and not opt.disable_automasking:
        raise OptionsError("--predictive_mask requires --disable_automasking (as in Monodepth2)")
    if opt.dataset == "kitti_test":
        raise OptionsError("--dataset kitti_test is not a training dataset (use kitti, kitti_odom or kitti_depth)")
    if not 0 < opt.min_depth < opt.max_depth:
        raise OptionsError(f"need 0 < --min_depth < --max_depth, got {opt.min_depth} and {opt.max_depth}")
    if opt.warmup_steps < 0:
        raise OptionsError(f"--warmup_steps must be non-negative, got {opt.warmup_steps}")
    if opt.max_steps is not None and opt.max_steps < 1:
        raise OptionsError(f"--max_steps must be at least 1, got {opt.max_steps}")
    unknown = sorted(set(opt.models_to_load) - set(LOADABLE_MODELS))
    if unknown:
        raise OptionsError(f"--models_to_load: unknown model(s) {unknown}; known: {list(LOADABLE_MODELS)}")
    if opt.weight_decay < 0:
        raise OptionsError(f"--weight_decay must be non-negative, got {opt.weight_decay}")
    if not opt.mask_rcnn and (opt.mask_cache is not None or opt.mask_adjust_smoothness):
        raise OptionsError("--mask_cache and --mask_adjust_smoothness configure --mask_rcnn; add --mask_rcnn")
    if opt.intrinsics_warmup_steps < 0:
        raise OptionsError(f"--intrinsics_warmup_steps must be non-negative, got {opt.intrinsics_warmup_steps}")
    if opt.intrinsics_warmup_steps and not opt.learn_intrinsics:
        raise OptionsError("--intrinsics_warmup_steps holds the head of --learn_intrinsics; add --learn_intrinsics")
    if opt.learn_intrinsics and not any(f != 0 for f in opt.frame_ids):
        raise OptionsError("--learn_intrinsics reads the pose network, which needs a temporal source frame")
