"""Monodepth2's training loop: data, steps, logging, checkpoints, DistributedDataParallel.

One step (Godard et al., ICCV 2019; the official ``trainer.py``) runs :class:`~training.model.MonodepthModel`,
:class:`~training.view_synthesis.ViewSynthesis` and :class:`~training.loss.SelfSupervisedLoss`, then the
optimiser of :mod:`training.optimization` (Adam 1e-4, StepLR(15, 0.1) stepped at the end of each epoch, or the
paper's AdamW + cosine annealing; an optional linear warm-up over the first ``--warmup_steps`` steps).
:class:`Trainer` adds TensorBoard logs, checkpoints in the official weights-folder layout, hooks called after
every step (``after_step_hooks``: what studies and benchmarks record), and DistributedDataParallel under torchrun.

The paper's extensions (Mishra et al.; see each switch in ``options.py``), all composable:

- ``--mask_rcnn``: the Mask R-CNN-adjusted disparity is warped (:mod:`training.view_synthesis`); masks come from
  Mask R-CNN run once per step on the un-augmented scale-0 target under no_grad, or from ``--mask_cache``
  through the dataset. Logged depth metrics use the raw disparity.
- ``--espcn``: the depth decoder upsamples with ESPCN blocks (recorded in the checkpoint metadata).
- ``--learn_intrinsics``: the learned K replaces the dataset's (:mod:`training.intrinsics`);
  ``--intrinsics_warmup_steps`` freezes the head for the run's first steps.
- ``--weather_aug``: the training dataset adds one weather draw per sample to the network inputs.

Depth is in model units (metres when trained with a metric stereo baseline); intrinsics ``("K", s)`` are in
pixels of scale s.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from depth_ros.atomic_io import atomic_write_text
from depth_ros.checkpoint import (
    CheckpointError,
    ModelMetadata,
    load_module_state,
    load_state_file,
    save_weights_folder,
)
from training.augment import WeatherAugmentation
from training.datasets import DATASETS, DatasetError, ImageCache, MonoDataset, read_split_file, resolve_split_dir
from training.datasets.mono_dataset import OBJECT_MASKS, STEREO_FRAME, FrameId, collate_samples
from training.datasets.splits import TRAIN_FILE, VAL_FILE
from training.distributed import DistributedContext
from training.intrinsics import LEARNED_K, IntrinsicsAverage, generic_focal_prior, hold_intrinsics_head
from training.loss import LossSettings, SelfSupervisedLoss
from training.mask_adjustment import build_detector, detect_object_masks
from training.mask_cache import load_cached_masks
from training.model import NUM_DATASET_SCALES, MonodepthModel
from training.optimization import build_optimizer, build_scheduler, scaled_learning_rate, warmup_factor
from training.options import Options, validate_options
from training.random_state import capture_random_state, restore_random_state, seed_everything
from training.tensorboard_log import write_summaries
from training.view_synthesis import ViewSynthesis, add_adjusted_disparities

# Log every log_frequency batches during the first EARLY_LOG_STEPS steps, then every EARLY_LOG_STEPS steps.
EARLY_LOG_STEPS = 2000
TRAINER_STATE_FILE = "trainer_state.pth"  # beside adam.pth: step, epoch, scheduler, random generators

Batch = dict
Outputs = dict
# Called after every optimisation step with (step, batch on the device, outputs, losses).
AfterStepHook = Callable[[int, Batch, Outputs, dict], None]


def format_duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))


def batch_to_device(batch: Batch, device: torch.device, channels_last: bool = False) -> Batch:
    """Move every tensor of a batch; network inputs (``color_aug``) optionally to channels_last."""
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and isinstance(key, tuple) and key[0] == "color_aug":
                value = value.contiguous(memory_format=torch.channels_last)
        moved[key] = value
    return moved


def _require_a_batch(loader: DataLoader, name: str) -> None:
    """Both loaders drop the last partial batch: a split smaller than one batch would yield nothing."""
    if len(loader) == 0:
        size = len(loader.dataset)
        raise DatasetError(f"the {name} split has {size} items: less than one batch of {loader.batch_size}")


def _as_float32(outputs: Outputs) -> Outputs:
    """Cast half/bfloat16 network outputs (AMP) to float32 so that warping and losses run in full precision."""
    cast = {}
    for key, value in outputs.items():
        if isinstance(value, dict):
            value = _as_float32(value)
        elif isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16):
            value = value.float()
        cast[key] = value
    return cast


# =========================================================================================== trainer


class Trainer:
    """Builds everything from :class:`Options` and runs ``train()``.

    Under torchrun (``WORLD_SIZE`` > 1) it joins the process group (nccl on CUDA, gloo on CPU), shards the
    training set with a DistributedSampler, wraps the model in DistributedDataParallel, and leaves logging,
    validation, progress and checkpoints to rank 0. ``--batch_size`` is per process. Checkpoints hold the
    unwrapped state dicts (no ``module.`` prefix).

    ``make_detector`` builds the Mask R-CNN of ``--mask_rcnn`` without ``--mask_cache`` (default: the COCO
    model from the torch hub cache, :func:`~training.mask_adjustment.build_detector`); it must return an
    eval-mode detector (tests and benchmarks pass fakes or untrained ones).
    """

    def __init__(self, opt: Options, *, make_detector: Callable[[], nn.Module] | None = None) -> None:
        validate_options(opt)
        self.opt = opt
        self.dist = DistributedContext.from_env()
        self.use_cuda = torch.cuda.is_available() and not opt.no_cuda
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if self.use_cuda else "cpu")
        if self.dist.enabled and not dist.is_initialized():
            if self.use_cuda:
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.use_cuda else "gloo")
        # Per-rank streams (identity tie-break noise, augmentation without workers); DDP broadcasts rank 0's
        # initial weights, so the model starts identical everywhere regardless.
        seed_everything(opt.seed + self.dist.rank)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(opt.amp) if self.use_cuda else None

        self.frame_ids: list[FrameId] = [*opt.frame_ids, *([STEREO_FRAME] if opt.use_stereo else [])]
        self.source_frame_ids = self.frame_ids[1:]
        self.log_path = Path(opt.log_dir).expanduser() / opt.model_name

        self.train_loader, self.val_loader, self.train_sampler = self._build_loaders()
        self.val_iter = None

        self.model = MonodepthModel(
            num_layers=opt.num_layers,
            pretrained=opt.weights_init == "pretrained",
            allow_download=not opt.no_pretrained_download,
            scales=opt.scales,
            frame_ids=self.frame_ids,
            pose_model_type=opt.pose_model_type,
            pose_model_input=opt.pose_model_input,
            predictive_mask=opt.predictive_mask,
            upsample="espcn" if opt.espcn else "nearest",
            learn_intrinsics=opt.learn_intrinsics,
            initial_focal=generic_focal_prior(opt.width, opt.height),
        ).to(self.device)
        if self.use_cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.detector: nn.Module | None = None
        if opt.mask_rcnn and opt.mask_cache is None:
            if make_detector is None:
                make_detector = partial(build_detector, allow_download=not opt.no_pretrained_download)
            self.detector = make_detector().to(self.device)
        self.intrinsics_average = IntrinsicsAverage()
        self.view_synthesis = ViewSynthesis(
            opt.height,
            opt.width,
            opt.scales,
            self.source_frame_ids,
            min_depth=opt.min_depth,
            max_depth=opt.max_depth,
            v1_multiscale=opt.v1_multiscale,
            automasking=not opt.disable_automasking,
            posecnn_depth_scaling=opt.pose_model_type == "posecnn",
            adjusted_disparity=opt.mask_rcnn,
            learned_intrinsics=opt.learn_intrinsics,
        ).to(self.device)
        self.loss = SelfSupervisedLoss(
            LossSettings(
                scales=tuple(opt.scales),
                disparity_smoothness=opt.disparity_smoothness,
                use_ssim=not opt.no_ssim,
                automasking=not opt.disable_automasking,
                avg_reprojection=opt.avg_reprojection,
                predictive_mask=opt.predictive_mask,
                v1_multiscale=opt.v1_multiscale,
                smooth_adjusted_disparity=opt.mask_adjust_smoothness,
            ),
            self.source_frame_ids,
            opt.height,
            opt.width,
        ).to(self.device)

        self.optimizer = build_optimizer(self.model, opt)
        self.epoch = 0  # the epoch being trained
        self.step = 0  # optimisation steps done
        self.epoch_batches_done = 0  # of the current epoch
        self.epoch_loader_state = self.train_loader.generator.get_state()  # the shuffling generator at its start
        self._resume_random_state: dict | None = None  # restored once the resumed epoch's done batches are skipped
        self.after_step_hooks: list[AfterStepHook] = []
        resume_state = self.load_model(opt.load_weights_folder) if opt.load_weights_folder else None
        self.scheduler = build_scheduler(self.optimizer, opt)  # after a loaded Adam's rates are reset
        if resume_state is not None:
            self.resume(resume_state)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.train_model: nn.Module = self.model
        if self.dist.enabled:
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.dist.local_rank] if self.use_cuda else None
            )

        steps_per_epoch = len(self.train_loader)
        self.num_total_steps = steps_per_epoch * opt.num_epochs
        if opt.max_steps is not None:
            self.num_total_steps = min(self.num_total_steps, opt.max_steps)
        self.writers: dict[str, SummaryWriter] = {}
        if self.dist.is_main:
            self.writers = {mode: SummaryWriter(str(self.log_path / mode)) for mode in ("train", "val")}
            self.save_opts()
            self._print(
                f"Training model {opt.model_name} on {self.device} ({self.dist.world_size} process(es)); "
                f"{len(self.train_loader.dataset)} training and {len(self.val_loader.dataset)} validation items, "
                f"{steps_per_epoch} steps per epoch; logs and models in {self.log_path}"
            )

    # ------------------------------------------------------------------------------------- data
    def make_dataset(self, filenames: list[str], is_train: bool) -> MonoDataset:
        """A dataset of this run (size, frames, extension, cache) over ``filenames``."""
        opt = self.opt
        cache = ImageCache(opt.cache_dir, opt.width, opt.height, NUM_DATASET_SCALES) if opt.cache_dir else None
        return DATASETS[opt.dataset](
            opt.data_path,
            filenames,
            opt.height,
            opt.width,
            self.frame_ids,
            NUM_DATASET_SCALES,
            is_train=is_train,
            img_ext=".png" if opt.png else ".jpg",
            image_cache=cache,
            weather=WeatherAugmentation() if opt.weather_aug and is_train else None,
            object_masks=partial(load_cached_masks, opt.mask_cache, size=(opt.height, opt.width))
            if opt.mask_cache is not None
            else None,
        )

    def _build_loaders(self) -> tuple[DataLoader, DataLoader | None, DistributedSampler | None]:
        opt = self.opt
        split_dir = resolve_split_dir(opt.split, opt.splits_dir)
        train_set = self.make_dataset(read_split_file(split_dir / TRAIN_FILE), is_train=True)
        train_set.verify_split()
        sampler = None
        if self.dist.enabled:
            sampler = DistributedSampler(
                train_set, self.dist.world_size, self.dist.rank, shuffle=True, seed=opt.seed, drop_last=True
            )
        common = {
            "batch_size": opt.batch_size,
            "num_workers": opt.num_workers,
            "pin_memory": self.use_cuda,
            "drop_last": True,  # the loss is a per-batch mean; Monodepth2's layers also baked the batch size in
            # New workers every epoch, seeded from the loader's generator: an epoch's data and augmentation then
            # depend only on that generator's state at its start, which checkpoints keep (exact resume).
            "persistent_workers": False,
            "collate_fn": collate_samples,  # pads the cached object masks of --mask_cache
        }
        generator = torch.Generator().manual_seed(opt.seed + self.dist.rank)  # shuffling and worker seeds
        train_loader = DataLoader(
            train_set, shuffle=sampler is None, sampler=sampler, generator=generator, **common
        )
        _require_a_batch(train_loader, "training")
        val_loader = None
        if self.dist.is_main:
            val_set = self.make_dataset(read_split_file(split_dir / VAL_FILE), is_train=False)
            val_set.verify_split()
            val_loader = DataLoader(
                val_set, shuffle=True, generator=torch.Generator().manual_seed(opt.seed + 1), **common
            )
            _require_a_batch(val_loader, "validation")
        return train_loader, val_loader, sampler

    # ------------------------------------------------------------------------------------- steps
    def object_masks(self, inputs: Batch) -> list[torch.Tensor] | torch.Tensor:
        """Scale-0 object masks of the batch's targets: cached (B×N×H×W bool) or detected on the un-augmented
        ``("color", 0, 0)`` (B × K_i×H×W bool), one detector call per batch."""
        if self.detector is None:
            return inputs[OBJECT_MASKS]
        return detect_object_masks(self.detector, inputs[("color", 0, 0)])

    def process_batch(self, inputs: Batch, model: nn.Module) -> tuple[Outputs, dict[str, torch.Tensor]]:
        """Predictions, warped images and losses of one batch (already on the device)."""
        if self.amp_dtype is None:
            outputs = model(inputs)
        else:
            with torch.autocast(self.device.type, dtype=self.amp_dtype):
                outputs = _as_float32(model(inputs))
        if self.opt.mask_rcnn:
            add_adjusted_disparities(outputs, self.object_masks(inputs), self.opt.scales)
        self.view_synthesis(inputs, outputs)
        losses = self.loss(inputs, outputs)
        return outputs, losses

    def train_step(self, batch: Batch) -> tuple[Batch, Outputs, dict[str, torch.Tensor]]:
        """One optimisation step on a batch from the loader; returns the batch on the device, outputs, losses."""
        inputs = batch_to_device(batch, self.device, channels_last=self.use_cuda)
        outputs, losses = self.process_batch(inputs, self.train_model)
        if LEARNED_K in outputs:
            self.intrinsics_average.update(outputs[LEARNED_K])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        if self.step < self.opt.intrinsics_warmup_steps:
            hold_intrinsics_head(self.model)
        with scaled_learning_rate(self.optimizer, warmup_factor(self.step, self.opt.warmup_steps)):
            self.scaler.step(self.optimizer)
        self.scaler.update()
        return inputs, outputs, losses

    def train(self) -> None:
        """Run all epochs (or until ``max_steps``), saving every ``save_frequency`` epochs."""
        opt = self.opt
        start = time.time()
        images_per_step = opt.batch_size * self.dist.world_size
        # One progress display: a bar on a terminal, Monodepth2's console lines elsewhere (logs, CI, pipes).
        progress = tqdm(
            total=self.num_total_steps * images_per_step,
            initial=min(self.step, self.num_total_steps) * images_per_step,
            unit="img",
            disable=None if self.dist.is_main else True,
            dynamic_ncols=True,
        )
        try:
            for epoch in range(self.epoch, opt.num_epochs):
                self.epoch = epoch
                if self.train_sampler is not None:
                    self.train_sampler.set_epoch(self.epoch)
                finished = self.run_epoch(progress, start)
                if not finished:  # the epoch ran to its end
                    self.scheduler.step()
                if (self.epoch + 1) % opt.save_frequency == 0 or finished:
                    self.save_model()
                if finished:
                    break
        finally:
            progress.close()
            for writer in self.writers.values():
                writer.close()
            if self.dist.enabled and dist.is_initialized():
                dist.destroy_process_group()

    def run_epoch(self, progress: tqdm, start: float) -> bool:
        """The rest of the current epoch (all of it unless resumed mid-epoch); True when ``max_steps`` was reached.

        Every ``after_step_hooks`` entry is called after each step with (step, batch on the device, outputs,
        losses), ``step`` counting from 0.
        """
        if self.max_steps_reached():
            return True
        self.model.train()
        if self.epoch_batches_done == 0:
            self.intrinsics_average.reset()  # the checkpoint records the learned K averaged over its epoch
            self.epoch_loader_state = self.train_loader.generator.get_state()
        else:  # resumed mid-epoch: the same shuffle, and the batches trained on before the checkpoint skipped
            self.train_loader.generator.set_state(self.epoch_loader_state)
        images_per_step = self.opt.batch_size * self.dist.world_size
        batches = iter(self.train_loader)
        for _ in range(self.epoch_batches_done):
            next(batches)
        if self._resume_random_state is not None:
            restore_random_state(self._resume_random_state)
            self._resume_random_state = None
        for batch_idx, batch in enumerate(batches, start=self.epoch_batches_done):
            before = time.time()
            inputs, outputs, losses = self.train_step(batch)
            progress.update(images_per_step)
            for hook in self.after_step_hooks:
                hook(self.step, inputs, outputs, losses)

            early = batch_idx % self.opt.log_frequency == 0 and self.step < EARLY_LOG_STEPS
            if self.dist.is_main and (early or self.step % EARLY_LOG_STEPS == 0):
                loss = losses["loss"].item()  # a device sync (only at log events): the duration covers the step
                duration = time.time() - before
                if progress.disable:
                    self.log_time(batch_idx, images_per_step / duration, loss, time.time() - start)
                else:
                    progress.set_postfix(epoch=self.epoch, loss=f"{loss:.5f}")
                self.log("train", inputs, outputs, losses)
                self.val()
            self.step += 1
            self.epoch_batches_done = batch_idx + 1
            if self.max_steps_reached():
                return True
        self.epoch_batches_done = 0
        return False

    def max_steps_reached(self) -> bool:
        return self.opt.max_steps is not None and self.step >= self.opt.max_steps

    @torch.no_grad()
    def val(self) -> None:
        """Losses (and depth metrics when the batch has GT) of one validation batch, logged; rank 0 only."""
        self.model.eval()
        if self.val_iter is None:
            self.val_iter = iter(self.val_loader)
        try:
            batch = next(self.val_iter)
        except StopIteration:
            self.val_iter = iter(self.val_loader)
            batch = next(self.val_iter)
        inputs = batch_to_device(batch, self.device, channels_last=self.use_cuda)
        outputs, losses = self.process_batch(inputs, self.model)  # unwrapped: no collective on one rank
        self.log("val", inputs, outputs, losses)
        self.model.train()

    # ------------------------------------------------------------------------------------- logging
    def _print(self, text: str) -> None:
        if self.dist.is_main:
            tqdm.write(text)

    def log_time(self, batch_idx: int, images_per_s: float, loss: float, elapsed_s: float) -> None:
        """Monodepth2's console line: epoch, batch, speed, loss, time elapsed and left."""
        done = max(self.step, 1) / self.num_total_steps
        left_s = elapsed_s / done - elapsed_s if self.step > 0 else 0.0
        self._print(
            f"epoch {self.epoch:>3} | batch {batch_idx:>6} | examples/s: {images_per_s:5.1f} | loss: {loss:.5f} | "
            f"time elapsed: {format_duration(elapsed_s)} | time left: {format_duration(left_s)}"
        )

    def log(self, mode: str, inputs: Batch, outputs: Outputs, losses: Mapping[str, torch.Tensor]) -> None:
        """TensorBoard summaries of a batch (:func:`~training.tensorboard_log.write_summaries`)."""
        write_summaries(self.writers[mode], self.step, self.opt, self.frame_ids, inputs, outputs, losses)

    # ------------------------------------------------------------------------------------- checkpoints
    def save_opts(self) -> None:
        """``<log_dir>/<model_name>/models/opt.json``: every option of this run."""
        atomic_write_text(self.log_path / "models" / "opt.json", self.opt.to_json())

    def save_model(self) -> Path | None:
        """``models/weights_<epoch>/``: the official ``.pth`` files (unwrapped), ``adam.pth``, our metadata, and
        ``trainer_state.pth`` (where to resume: step, epoch, scheduler, the generators' states)."""
        if not self.dist.is_main:
            return None
        opt = self.opt
        folder = self.log_path / "models" / f"weights_{self.epoch}"
        metadata = ModelMetadata(
            height=opt.height,
            width=opt.width,
            use_stereo=opt.use_stereo,
            num_layers=opt.num_layers,
            decoder_upsample="espcn" if opt.espcn else "nearest",
            min_depth=opt.min_depth,
            max_depth=opt.max_depth,
            intrinsics_norm=self.intrinsics_average.mean(),
        )
        states = {name: net.state_dict() for name, net in self.model.named_networks().items()}
        extra = {"adam.pth": self.optimizer.state_dict(), TRAINER_STATE_FILE: self.trainer_state()}
        save_weights_folder(folder, states, metadata, extra_files=extra)
        self._print(f"Saved {folder}")
        return folder

    def trainer_state(self) -> dict:
        """Where an exact resume starts: the epoch and its batches already done, with the shuffling generator's
        state at that epoch's start, the step, the scheduler, the global generators and the learned-K average."""
        mid_epoch = self.epoch_batches_done > 0
        return {
            "step": self.step,
            "epoch": self.epoch if mid_epoch else self.epoch + 1,
            "epoch_batches_done": self.epoch_batches_done,
            "loader_generator": self.epoch_loader_state if mid_epoch else self.train_loader.generator.get_state(),
            "scheduler": self.scheduler.state_dict(),
            "random": capture_random_state(),
            "intrinsics_average": self.intrinsics_average.state_dict(),
        }

    def resume(self, state: Mapping) -> None:
        """Continue from a :meth:`trainer_state`: the schedule's rate replaces ``--learning_rate``."""
        self.step, self.epoch = state["step"], state["epoch"]
        self.epoch_batches_done = state["epoch_batches_done"]
        self.epoch_loader_state = state["loader_generator"]
        self.train_loader.generator.set_state(self.epoch_loader_state)
        self.scheduler.load_state_dict(state["scheduler"])
        for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
            group["lr"] = lr
        self._resume_random_state = state["random"]
        self.intrinsics_average.load_state_dict(state["intrinsics_average"])
        self._print(f"Resuming at step {self.step} (epoch {self.epoch}, batch {self.epoch_batches_done})")

    def load_model(self, weights_folder: str | Path) -> dict | None:
        """Load ``models_to_load`` from a weights folder, and ``adam.pth`` when present; return the folder's
        ``trainer_state.pth`` to resume from, or None.

        A folder this trainer saved holds ``trainer_state.pth``: the run then resumes exactly where that one
        stopped (same step, epoch, schedule and random draws; :meth:`resume`), unless ``--no_resume``. Otherwise
        (fine-tuning, an official Monodepth2 folder) it starts at step 0 and the learning rate is reset to
        ``--learning_rate``: a loaded optimiser state would otherwise bring back the saved rate (Monodepth2's
        fine-tuning silently kept 1e-4 on modern PyTorch).
        """
        folder = Path(weights_folder).expanduser()
        if not folder.is_dir():
            raise CheckpointError(f"--load_weights_folder {folder} does not exist")
        networks = self.model.named_networks()
        self._print(f"Loading model(s) {' '.join(self.opt.models_to_load)} from {folder}")
        for name in self.opt.models_to_load:
            if name not in networks:
                raise CheckpointError(f"cannot load {name}: this run has no {name} network")
            path = folder / f"{name}.pth"
            load_module_state(networks[name], load_state_file(path), str(path))
        adam_path = folder / "adam.pth"
        if adam_path.is_file():
            try:
                self.optimizer.load_state_dict(load_state_file(adam_path))
            except ValueError as exc:
                raise CheckpointError(f"{adam_path} does not fit this run's networks: {exc}") from exc
        else:
            self._print(f"{adam_path} not found: Adam starts from scratch")
        for group in self.optimizer.param_groups:
            group["lr"] = self.opt.learning_rate
            group["initial_lr"] = self.opt.learning_rate
        state_path = folder / TRAINER_STATE_FILE
        if self.opt.no_resume or not state_path.is_file():
            return None
        missing = sorted(set(networks) - set(self.opt.models_to_load))
        if missing or not adam_path.is_file():
            raise CheckpointError(
                f"{folder} is a resumable checkpoint but {', '.join(missing) or 'adam.pth'} would not be loaded: "
                "load every network to resume, or pass --no_resume to fine-tune from the loaded ones"
            )
        return load_state_file(state_path)
