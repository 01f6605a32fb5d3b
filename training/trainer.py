"""Monodepth2's self-supervised training: networks, view synthesis, the minimum-reprojection loss, the loop.

One step (Godard et al., ICCV 2019; the official ``trainer.py``):

1. The depth network predicts sigmoid disparities at ``scales`` from the augmented target frame 0; the pose
   network predicts ``T_source_from_target`` for every temporal source frame (pairs in temporal order, the
   prediction inverted for past frames); the stereo frame ``"s"`` uses the dataset's fixed ``stereo_T``.
2. :class:`ViewSynthesis`: each scale's disparity is upsampled to the full resolution (bilinear,
   align_corners=False) and converted to depth, then every un-augmented source frame is warped into the
   target view with the scale-0 intrinsics (``--v1_multiscale``: at the scale's own resolution).
3. :class:`SelfSupervisedLoss`: per pixel, the minimum over [identity losses + 1e-5·N(0,1), reprojection
   losses] of 0.85·SSIM + 0.15·L1 (auto-masking), plus 1e-3/2^s edge-aware smoothness of the mean-normalised
   native-scale disparity; the total is the mean over scales.
4. :class:`Trainer`: Adam 1e-4, StepLR(15, 0.1) stepped at the end of each epoch (or the paper's AdamW + cosine
   annealing), an optional linear warm-up of the rate over the first ``--warmup_steps`` steps, TensorBoard logs,
   checkpoints in the official weights-folder layout, and DistributedDataParallel under torchrun.

The paper's extensions (Mishra et al.; see each switch in ``options.py``), all composable:

- ``--mask_rcnn``: per scale, the native disparity with every detected object flattened to its ground-contact
  disparity (``("disp_adjusted", s)``, :func:`add_adjusted_disparities`) replaces ``("disp", s)`` for warping,
  hence for the reprojection loss; smoothness keeps the raw disparity unless ``--mask_adjust_smoothness``.
  Masks come from Mask R-CNN run once per step on the un-augmented scale-0 target under no_grad (lower scales
  resize them), or from ``--mask_cache`` through the dataset. Logged depth metrics use the raw disparity.
- ``--espcn``: the depth decoder upsamples with ESPCN blocks (recorded in the checkpoint metadata).
- ``--learn_intrinsics``: an :class:`IntrinsicsHead` on the pose bottleneck predicts a normalised K per pose
  pair; the pairs' mean (WildNet) is the camera's K as seen unflipped: its principal point is mirrored for
  flipped samples (as the dataset mirrors its K), scaled to pixels at the warping resolution, and replaces the
  dataset's K. ``--intrinsics_warmup_steps`` freezes the head for the run's first steps.
- ``--weather_aug``: the training dataset adds one weather draw per sample to the network inputs.

Frame ids are ints (temporal offsets) or ``"s"`` (the other stereo camera). Depth is in model units (metres
when trained with a metric stereo baseline); intrinsics ``("K", s)`` are in pixels of scale s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
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
    save_state_file,
    save_weights_folder,
)
from depth_ros.geometry import disp_to_depth, scale_intrinsics
from depth_ros.networks import DepthDecoder, IntrinsicsHead, PoseCNN, PoseDecoder, ResnetEncoder
from training.augment import WeatherAugmentation
from training.datasets import DATASETS, DatasetError, ImageCache, MonoDataset, read_split_file, resolve_split_dir
from training.datasets.mono_dataset import OBJECT_MASKS, STEREO_FRAME, FrameId, collate_samples
from training.layers import (
    SSIM,
    BackprojectDepth,
    Project3D,
    compute_reprojection_loss,
    get_smooth_loss,
    mean_normalized,
    sample_image,
    transformation_from_parameters,
)
from training.mask_adjustment import adjust_disparity, build_detector, detect_object_masks, resize_masks
from training.metrics import MAX_DEPTH, METRIC_NAMES, MIN_DEPTH, compute_errors
from training.options import Options, validate_options
from training.precompute_masks import load_cached_masks

NUM_DATASET_SCALES = 4  # Monodepth2 always loads a 4-level pyramid, whatever --scales says
DISPCONV_OFFSET = 10  # the depth decoder's ``decoder.10..13`` are the disparity heads of scales 0..3
IDENTITY_TIE_BREAK_STD = 1e-5
PREDICTIVE_MASK_WEIGHT = 0.2
STEP_LR_GAMMA = 0.1
# Training-time depth metrics (logging only, not the paper protocol): GT size and Garg crop at that size.
LOG_GT_SHAPE = (375, 1242)
LOG_GT_CROP = (slice(153, 371), slice(44, 1197))
LOG_METRIC_TAGS = ("de/abs_rel", "de/sq_rel", "de/rms", "de/log_rms", "da/a1", "da/a2", "da/a3")
# Log every log_frequency batches during the first EARLY_LOG_STEPS steps, then every EARLY_LOG_STEPS steps.
EARLY_LOG_STEPS = 2000
MAX_LOGGED_IMAGES = 4
ADJUSTED_DISP = "disp_adjusted"  # outputs[(ADJUSTED_DISP, s)]: the Mask R-CNN-adjusted ("disp", s)
LEARNED_K = "intrinsics_norm"  # outputs[LEARNED_K]: B×4×4 learned normalised intrinsics
# Generic intrinsics prior of the learned head, never the dataset's: square pixels and fx = 0.6·W, i.e. a
# horizontal field of view of 2·atan(0.5/0.6) ≈ 80°.
PRIOR_FOCAL_OVER_WIDTH = 0.6
K_ENTRIES = {"fx": (0, 0), "fy": (1, 1), "cx": (0, 2), "cy": (1, 2)}  # logged intrinsics, (row, column)

Batch = dict
Outputs = dict


# =========================================================================================== networks


def temporal_frame_ids(frame_ids: Sequence[FrameId]) -> list[int]:
    """The frame ids that need a predicted pose: every id but 0 and ``"s"``, in the given order."""
    return [f for f in frame_ids[1:] if f != STEREO_FRAME]


class MonodepthModel(nn.Module):
    """Every trainable network of a run, so that one call (one DDP forward) does a step's predictions.

    Submodule names are the official checkpoint files: ``encoder``, ``depth``, ``pose_encoder`` (separate
    ResNet only), ``pose`` (when a source frame is temporal), ``predictive_mask`` (ablation). They are
    registered in Monodepth2's parameter order, so an official ``adam.pth`` lines up.

    ``forward(inputs)`` reads ``("color_aug", f, 0)`` (B×3×H×W in [0, 1]) and returns ``("disp", s)`` for
    s = 0..3 (B×1×H/2^s×W/2^s sigmoid disparity; the loss reads only ``scales``), and per temporal source f:
    ``("axisangle", 0, f)`` and ``("translation", 0, f)`` (B×1×3, the output slot used), ``("pose_inverted",
    f)`` (bool) and ``("cam_T_cam", 0, f)`` (B×4×4 ``T_source_from_target``, always float32), and
    ``"predictive_mask"`` (``{("disp", s): B×N×h×w}``, N = number of source frames), and with
    ``learn_intrinsics`` ``LEARNED_K`` (B×4×4 normalised K, float32: the mean of the head's predictions over
    the pose network's runs, one per pair). ``initial_focal`` is the head's (fx/W, fy/H) before training.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        pretrained: bool,
        allow_download: bool,
        scales: Sequence[int],
        frame_ids: Sequence[FrameId],
        pose_model_type: str = "separate_resnet",
        pose_model_input: str = "pairs",
        predictive_mask: bool = False,
        upsample: str = "nearest",
        learn_intrinsics: bool = False,
        initial_focal: tuple[float, float] = (PRIOR_FOCAL_OVER_WIDTH, PRIOR_FOCAL_OVER_WIDTH),
    ) -> None:
        super().__init__()
        self.frame_ids = list(frame_ids)
        self.temporal_ids = temporal_frame_ids(frame_ids)
        self.pose_model_type = pose_model_type
        self.pose_model_input = pose_model_input
        num_pose_frames = 2 if pose_model_input == "pairs" else 1 + len(self.temporal_ids)

        self.encoder = ResnetEncoder(num_layers, pretrained=pretrained, allow_download=allow_download)
        # Always all four disparity heads (Monodepth2 builds only ``scales``, which shifts the decoder's keys and
        # makes a checkpoint trained with fewer scales unloadable by inference); unused heads stay frozen.
        self.depth = DepthDecoder(self.encoder.num_ch_enc, range(NUM_DATASET_SCALES), upsample=upsample)
        for scale in set(range(NUM_DATASET_SCALES)) - set(scales):
            self.depth.decoder[DISPCONV_OFFSET + scale].requires_grad_(False)
        self.pose_encoder: ResnetEncoder | None = None
        self.pose: nn.Module | None = None
        if self.temporal_ids:
            if pose_model_type == "separate_resnet":
                self.pose_encoder = ResnetEncoder(
                    num_layers, pretrained=pretrained, num_input_images=num_pose_frames, allow_download=allow_download
                )
                self.pose = PoseDecoder(self.pose_encoder.num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
            elif pose_model_type == "shared":
                self.pose = PoseDecoder(self.encoder.num_ch_enc, num_pose_frames)
            elif pose_model_type == "posecnn":
                self.pose = PoseCNN(num_pose_frames)
            else:
                raise ValueError(f"unknown pose_model_type {pose_model_type!r}")
        self.predictive_mask: DepthDecoder | None = None
        if predictive_mask:
            self.predictive_mask = DepthDecoder(
                self.encoder.num_ch_enc, scales, num_output_channels=len(self.frame_ids) - 1
            )
        self.intrinsics: IntrinsicsHead | None = None
        if learn_intrinsics:
            if self.pose is None:
                raise ValueError("learning the intrinsics needs a pose network (a temporal source frame)")
            self.intrinsics = IntrinsicsHead(self.pose.bottleneck_channels, initial_focal)
        # The ResNets' unused ImageNet classifier stays in the state dict (official keys) but is frozen, so that
        # DistributedDataParallel does not wait for its gradients (and Adam, as in Monodepth2, never updates it).
        for net in (self.encoder, self.pose_encoder):
            if net is not None:
                net.encoder.fc.requires_grad_(False)

    def named_networks(self) -> dict[str, nn.Module]:
        """The networks that exist in this run, by checkpoint file name."""
        names = ("encoder", "depth", "pose_encoder", "pose", "predictive_mask", "intrinsics")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def forward(self, inputs: Batch) -> Outputs:
        frame_features: dict[FrameId, list[torch.Tensor]] = {}
        if self.pose_model_type == "shared":
            # Every frame goes through the depth encoder in one batch; the pose decoder reuses the features.
            batch = inputs[("color_aug", 0, 0)].shape[0]
            stacked = self.encoder(torch.cat([inputs[("color_aug", f, 0)] for f in self.frame_ids]))
            per_level = [level.split(batch) for level in stacked]
            frame_features = {f: [level[i] for level in per_level] for i, f in enumerate(self.frame_ids)}
            features = frame_features[0]
        else:
            features = self.encoder(inputs[("color_aug", 0, 0)])
        outputs: Outputs = self.depth(features)
        if self.predictive_mask is not None:
            outputs["predictive_mask"] = self.predictive_mask(features)
        if self.pose is not None:
            outputs.update(self.predict_poses(inputs, frame_features))
        return outputs

    def _run_pose(
        self, inputs: Batch, frames: Sequence[int], frame_features: Mapping[FrameId, list[torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pose network on ``frames`` (in that order) → axisangle, translation B×F×1×3 and its bottleneck B×C×1×1.

        The bottleneck (what the intrinsics head reads) is the spatial mean of the pose decoder's squeezed
        features, or of PoseCNN's last feature map.
        """
        if self.pose_model_type == "posecnn":
            features = self.pose.features(torch.cat([inputs[("color_aug", f, 0)] for f in frames], 1))
            return (*self.pose.predict(features), features.mean(dim=(2, 3), keepdim=True))
        if self.pose_model_type == "shared":
            squeezed = self.pose.squeeze([frame_features[f] for f in frames])
        else:
            images = torch.cat([inputs[("color_aug", f, 0)] for f in frames], 1)
            squeezed = self.pose.squeeze([self.pose_encoder(images)])
        return (*self.pose.predict(squeezed), self.pose.bottleneck(squeezed))

    def predict_poses(self, inputs: Batch, frame_features: Mapping[FrameId, list[torch.Tensor]]) -> Outputs:
        """``T_source_from_target`` per temporal source frame.

        Pairs (default): the pair is fed in temporal order ([f, 0] for a past frame, [0, f] for a future one),
        so the network always predicts forward motion; output slot 0 is used and inverted for past frames.
        All: every temporal frame in ``frame_ids`` order, one slot per source, no inversion.
        With the intrinsics head, ``LEARNED_K`` is the mean of its predictions from every run's bottleneck.
        """
        outputs: Outputs = {}
        bottlenecks = []
        if self.pose_model_input == "pairs":
            slots = {}
            for f in self.temporal_ids:
                axisangle, translation, bottleneck = self._run_pose(
                    inputs, [f, 0] if f < 0 else [0, f], frame_features
                )
                slots[f] = (axisangle[:, 0], translation[:, 0], f < 0)
                bottlenecks.append(bottleneck)
        else:
            axisangle, translation, bottleneck = self._run_pose(inputs, [0, *self.temporal_ids], frame_features)
            slots = {f: (axisangle[:, i], translation[:, i], False) for i, f in enumerate(self.temporal_ids)}
            bottlenecks.append(bottleneck)
        if self.intrinsics is not None:
            with torch.autocast(bottlenecks[0].device.type, enabled=False):  # a camera matrix: float32
                outputs[LEARNED_K] = torch.stack([self.intrinsics(b.float()) for b in bottlenecks]).mean(0)
        for f, (axisangle, translation, invert) in slots.items():
            outputs[("axisangle", 0, f)] = axisangle
            outputs[("translation", 0, f)] = translation
            outputs[("pose_inverted", f)] = invert
            with torch.autocast(axisangle.device.type, enabled=False):  # 4×4 products in float32 under AMP
                outputs[("cam_T_cam", 0, f)] = transformation_from_parameters(
                    axisangle.float(), translation.float(), invert=invert
                )
        return outputs


# =========================================================================================== view synthesis


def upsample_to(disp: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """B×C×h×w → B×C×height×width, bilinear with align_corners=False (Monodepth2's full-res multiscale)."""
    return F.interpolate(disp, [height, width], mode="bilinear", align_corners=False)


class ViewSynthesis(nn.Module):
    """Warps every source frame into the target view with the predicted depth and poses (no parameters).

    Adds to ``outputs``, per scale s and source f: ``("depth", 0, s)`` (B×1×h×w, model units),
    ``("sample", f, s)`` (B×h×w×2 grid), ``("color", f, s)`` (the warped un-augmented source) and, with
    auto-masking, ``("color_identity", f, s)`` (the unwarped source). h×w is the full resolution unless
    ``v1_multiscale``, where it is scale s's and the scale-s intrinsics are used.

    ``posecnn_depth_scaling``: Monodepth2's PoseCNN ablation multiplies the predicted translation by the
    image's mean inverse depth before warping. ``adjusted_disparity`` (``--mask_rcnn``): warp with
    ``(ADJUSTED_DISP, s)`` instead of ``("disp", s)``. ``learned_intrinsics``: use ``outputs[LEARNED_K]``
    scaled to the warping resolution instead of the dataset's ``("K", s)``.
    """

    def __init__(
        self,
        height: int,
        width: int,
        scales: Sequence[int],
        source_frame_ids: Sequence[FrameId],
        *,
        min_depth: float,
        max_depth: float,
        v1_multiscale: bool = False,
        automasking: bool = True,
        posecnn_depth_scaling: bool = False,
        adjusted_disparity: bool = False,
        learned_intrinsics: bool = False,
    ) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.scales = list(scales)
        self.source_frame_ids = list(source_frame_ids)
        self.min_depth, self.max_depth = min_depth, max_depth
        self.v1_multiscale = v1_multiscale
        self.automasking = automasking
        self.posecnn_depth_scaling = posecnn_depth_scaling
        self.disp_key = ADJUSTED_DISP if adjusted_disparity else "disp"
        self.learned_intrinsics = learned_intrinsics
        source_scales = sorted(set(self.scales)) if v1_multiscale else [0]
        self.backproject = nn.ModuleDict(
            {str(s): BackprojectDepth(height // 2**s, width // 2**s) for s in source_scales}
        )
        self.project = nn.ModuleDict({str(s): Project3D(height // 2**s, width // 2**s) for s in source_scales})

    def source_pose(self, inputs: Batch, outputs: Outputs, frame_id: FrameId, depth: torch.Tensor) -> torch.Tensor:
        """B×4×4 ``T_source_from_target`` for one source frame."""
        if frame_id == STEREO_FRAME:
            return inputs["stereo_T"]
        if not self.posecnn_depth_scaling:
            return outputs[("cam_T_cam", 0, frame_id)]
        mean_inv_depth = (1.0 / depth).mean(dim=(2, 3))  # B×1
        translation = outputs[("translation", 0, frame_id)].float() * mean_inv_depth[:, :, None]
        return transformation_from_parameters(
            outputs[("axisangle", 0, frame_id)].float(), translation, invert=outputs[("pose_inverted", frame_id)]
        )

    def camera(self, inputs: Batch, outputs: Outputs, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        """K and its inverse (B×4×4, pixels of ``scale``): the dataset's, or the learned one scaled to that size.

        The learned K is the camera's, as seen unflipped: for a horizontally flipped sample its principal point
        is mirrored (cx → 1 − cx), as the dataset mirrors its own K.
        """
        if not self.learned_intrinsics:
            return inputs[("K", scale)], inputs[("inv_K", scale)]
        K_norm = mirror_principal_point(outputs[LEARNED_K], inputs["flipped"])
        K = scale_intrinsics(K_norm, self.width // 2**scale, self.height // 2**scale)
        return K, torch.linalg.inv(K)

    def forward(self, inputs: Batch, outputs: Outputs) -> Outputs:
        for scale in self.scales:
            disp = outputs[(self.disp_key, scale)]
            if self.v1_multiscale:
                source_scale = scale
            else:
                disp = upsample_to(disp, self.height, self.width)
                source_scale = 0
            _, depth = disp_to_depth(disp, self.min_depth, self.max_depth)
            outputs[("depth", 0, scale)] = depth
            K, inv_K = self.camera(inputs, outputs, source_scale)
            points = self.backproject[str(source_scale)](depth, inv_K)
            for frame_id in self.source_frame_ids:
                T = self.source_pose(inputs, outputs, frame_id, depth)
                grid = self.project[str(source_scale)](points, K, T)
                source = inputs[("color", frame_id, source_scale)]
                outputs[("sample", frame_id, scale)] = grid
                outputs[("color", frame_id, scale)] = sample_image(source, grid)
                if self.automasking:
                    outputs[("color_identity", frame_id, scale)] = source
        return outputs


# =========================================================================================== loss


def minimum_reprojection(
    reprojection: torch.Tensor, identity: torch.Tensor | None = None, avg_reprojection: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-pixel loss to optimise from B×N×H×W reprojection and optional B×N×H×W identity losses.

    Auto-masking (``identity`` given): the minimum over the concatenation [identity + 1e-5·N(0,1),
    reprojection], so a pixel where an unwarped source already matches better contributes that
    (un-optimisable) identity value; there is no binary mask and no renormalisation. ``avg_reprojection``
    first averages each group over sources. Returns the loss (B×H×W, or B×1×H×W when a single candidate is
    left) and, with identity, ``identity_selection`` B×H×W: 1.0 where a warped source won.
    """
    if avg_reprojection:
        reprojection = reprojection.mean(1, keepdim=True)
        identity = identity.mean(1, keepdim=True) if identity is not None else None
    if identity is None:
        combined = reprojection
    else:
        identity = identity + torch.randn_like(identity) * IDENTITY_TIE_BREAK_STD
        combined = torch.cat([identity, reprojection], 1)
    if combined.shape[1] == 1:
        return combined, None
    to_optimise, index = torch.min(combined, dim=1)
    selection = (index > identity.shape[1] - 1).float() if identity is not None else None
    return to_optimise, selection


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """The loss switches of Monodepth2 (defaults = the paper's full model)."""

    scales: tuple[int, ...] = (0, 1, 2, 3)
    disparity_smoothness: float = 1e-3
    use_ssim: bool = True
    automasking: bool = True
    avg_reprojection: bool = False
    predictive_mask: bool = False
    v1_multiscale: bool = False
    smooth_adjusted_disparity: bool = False  # --mask_adjust_smoothness: smoothness of (ADJUSTED_DISP, s)


class SelfSupervisedLoss(nn.Module):
    """Monodepth2's total loss from a batch and the outputs of :class:`ViewSynthesis`.

    Per scale s (``source_scale`` = 0, or s with v1 multiscale), against the un-augmented target
    ``("color", 0, source_scale)``: the minimum-reprojection photometric term (mean over B·H·W) plus
    ``disparity_smoothness / 2^s`` × edge-aware smoothness of the native scale-s disparity divided by its
    mean, with the scale-s image. Returns ``{"loss": mean over scales, "loss/s": per scale}`` and writes
    ``identity_selection/s`` into ``outputs`` with auto-masking.
    """

    def __init__(self, settings: LossSettings, source_frame_ids: Sequence[FrameId], height: int, width: int) -> None:
        super().__init__()
        self.settings = settings
        self.source_frame_ids = list(source_frame_ids)
        self.height, self.width = height, width
        self.ssim = SSIM() if settings.use_ssim else None

    def photometric(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return compute_reprojection_loss(pred, target, self.ssim)

    def forward(self, inputs: Batch, outputs: Outputs) -> dict[str, torch.Tensor]:
        cfg = self.settings
        losses: dict[str, torch.Tensor] = {}
        total = 0.0
        identity_losses: dict[int, torch.Tensor] = {}  # per source scale: the same for every scale without v1
        for scale in cfg.scales:
            source_scale = scale if cfg.v1_multiscale else 0
            target = inputs[("color", 0, source_scale)]
            reprojection = torch.cat(
                [self.photometric(outputs[("color", f, scale)], target) for f in self.source_frame_ids], 1
            )
            identity = None
            loss = 0.0
            if cfg.automasking:
                if source_scale not in identity_losses:
                    identity_losses[source_scale] = torch.cat(
                        [self.photometric(inputs[("color", f, source_scale)], target) for f in self.source_frame_ids],
                        1,
                    )
                identity = identity_losses[source_scale]
            elif cfg.predictive_mask:
                mask = outputs["predictive_mask"][("disp", scale)]
                if not cfg.v1_multiscale:
                    mask = upsample_to(mask, self.height, self.width)
                reprojection = reprojection * mask
                loss = loss + PREDICTIVE_MASK_WEIGHT * F.binary_cross_entropy(mask, torch.ones_like(mask))
            to_optimise, selection = minimum_reprojection(reprojection, identity, cfg.avg_reprojection)
            if selection is not None:
                outputs[f"identity_selection/{scale}"] = selection
            loss = loss + to_optimise.mean()
            disp = outputs[(ADJUSTED_DISP if cfg.smooth_adjusted_disparity else "disp", scale)]
            smoothness = get_smooth_loss(mean_normalized(disp), inputs[("color", 0, scale)])
            loss = loss + cfg.disparity_smoothness * smoothness / 2**scale
            losses[f"loss/{scale}"] = loss
            total = total + loss
        losses["loss"] = total / len(cfg.scales)
        return losses


def add_adjusted_disparities(
    outputs: Outputs, masks: Sequence[torch.Tensor] | torch.Tensor, scales: Sequence[int]
) -> Outputs:
    """``(ADJUSTED_DISP, s)`` for every scale: ``("disp", s)`` B×1×h×w with each object flattened to its
    ground-contact disparity (``mask_adjustment.adjust_disparity``).

    ``masks``: the scale-0 object masks, B × (K_i×H×W bool) or B×N×H×W bool, resized to each scale by area.
    """
    for scale in scales:
        disp = outputs[("disp", scale)]
        outputs[(ADJUSTED_DISP, scale)] = adjust_disparity(disp, resize_masks(masks, tuple(disp.shape[2:])))
    return outputs


# =========================================================================================== logging helpers


def training_depth_metrics(depth_pred: torch.Tensor, depth_gt: torch.Tensor) -> dict[str, float]:
    """Monodepth2's indicative training-time depth errors (not the paper protocol).

    ``depth_pred`` B×1×h×w is resized (bilinear) to 375×1242 and clamped to [1e-3, 80]; pixels with GT > 0
    inside the fixed crop rows 153:371, cols 44:1197 are scaled by **one** median ratio for the whole
    batch, clamped again and scored. Keys are the TensorBoard tags ``de/abs_rel`` … ``da/a3``.
    """
    pred = upsample_to(depth_pred.detach().float(), *LOG_GT_SHAPE).clamp(MIN_DEPTH, MAX_DEPTH)
    gt = depth_gt.float()
    crop = torch.zeros_like(gt, dtype=torch.bool)
    crop[:, :, LOG_GT_CROP[0], LOG_GT_CROP[1]] = True
    mask = (gt > 0) & crop
    gt_valid, pred_valid = gt[mask], pred[mask]
    if gt_valid.numel() == 0:
        return {}
    pred_valid = (pred_valid * (gt_valid.median() / pred_valid.median())).clamp(MIN_DEPTH, MAX_DEPTH)
    errors = compute_errors(gt_valid.cpu().numpy(), pred_valid.cpu().numpy())
    return {tag: errors[name] for tag, name in zip(LOG_METRIC_TAGS, METRIC_NAMES)}


def normalize_image(x: torch.Tensor) -> torch.Tensor:
    """Min-max normalise to [0, 1] for display (a constant image becomes ~0)."""
    low, high = x.min(), x.max()
    span = high - low if high != low else 1e5
    return (x - low) / span


def format_duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))


# =========================================================================================== distributed


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Process layout read from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); one process without."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> DistributedContext:
        return cls(
            rank=int(os.environ.get("RANK", 0)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
        )

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


# =========================================================================================== optimisation


def build_optimizer(model: MonodepthModel, opt: Options) -> torch.optim.Optimizer:
    """Adam (Monodepth2; ``weight_decay`` is then Adam's coupled L2 term) or AdamW (decoupled), ``learning_rate``.

    Parameters are in the model's registration order. The intrinsics head, when there is one, gets its own
    group with weight decay 0: decay would pull its weights, hence K, towards the prior.
    """
    head = list(model.intrinsics.parameters()) if model.intrinsics is not None else []
    head_ids = {id(p) for p in head}
    groups = [{"params": [p for p in model.parameters() if id(p) not in head_ids]}]
    if head:
        groups.append({"params": head, "weight_decay": 0.0})
    optimizer_class = torch.optim.AdamW if opt.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(groups, lr=opt.learning_rate, weight_decay=opt.weight_decay)


def hold_intrinsics_head(model: MonodepthModel) -> None:
    """Drop the intrinsics head's gradients after backward: the optimiser skips parameters without one (no Adam
    moment or weight-decay update either), so its parameters stay where they are for this step
    (``--intrinsics_warmup_steps``). Dropped after backward, not detached before it: DistributedDataParallel expects a
    gradient for every parameter. A fresh head's weights are zero, so its K is then the prior for every sample and no
    gradient reaches the pose network through it; a loaded head's K still follows the pose bottleneck."""
    for parameter in model.intrinsics.parameters():
        parameter.grad = None


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Multiplier of the scheduled learning rate at ``step`` (0-based): (step + 1)/warmup_steps during the
    warm-up, then 1."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


@contextlib.contextmanager
def scaled_learning_rate(optimizer: torch.optim.Optimizer, factor: float) -> Iterator[None]:
    """Every group's rate × ``factor`` inside the block, restored after it, so the epoch scheduler never sees it."""
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, scheduled):
        group["lr"] = lr * factor
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled):
            group["lr"] = lr


def step_size_for_budget(max_steps: int, steps_per_epoch: int, drop_at: float = 0.75) -> int:
    """``--scheduler_step_size`` (epochs) that drops the rate after ``drop_at`` of a ``max_steps`` budget, as
    Monodepth2's 15 of 20 epochs; at least 1."""
    return max(1, round(drop_at * max_steps / steps_per_epoch))


def build_scheduler(optimizer: torch.optim.Optimizer, opt: Options) -> torch.optim.lr_scheduler.LRScheduler:
    """StepLR(scheduler_step_size, 0.1), or CosineAnnealingLR(T_max=num_epochs, eta_min=0); stepped per epoch.

    Stepped at the END of every epoch (see ``Trainer.train``): with StepLR, epochs 0..step-1 run at the initial
    rate and the rest at 0.1×, the paper's 15 + 5 epochs (Monodepth2 steps at the start of each epoch, which
    on PyTorch ≥ 1.1 gives 14 + 6, issue #431; on the authors' 0.4.1 it gave 15 + 5, as here). With cosine,
    epoch e runs at lr·(1 + cos(π·e/num_epochs))/2.
    """
    if opt.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt.num_epochs, eta_min=0.0)
    return torch.optim.lr_scheduler.StepLR(optimizer, opt.scheduler_step_size, STEP_LR_GAMMA)


def generic_focal_prior(width: int, height: int) -> tuple[float, float]:
    """(fx/W, fy/H) of the learned intrinsics before training: square pixels, fx = 0.6·W (≈ 80° field of view)."""
    return PRIOR_FOCAL_OVER_WIDTH, PRIOR_FOCAL_OVER_WIDTH * width / height


def mirror_principal_point(K_norm: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """B×4×4 normalised K with cx → 1 − cx where ``flipped`` (B bool): the K of the horizontally mirrored image."""
    mirrored = K_norm.clone()
    mirrored[:, 0, 2] = 1.0 - K_norm[:, 0, 2]
    return torch.where(flipped.to(K_norm.device).reshape(-1, 1, 1), mirrored, K_norm)


class IntrinsicsAverage:
    """Running mean of the learned normalised K over training samples (the camera's K, as seen unflipped)."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def reset(self) -> None:
        self.total, self.count = None, 0

    def update(self, K_norm: torch.Tensor) -> None:
        """Add a batch of B×4×4 normalised K."""
        batch_total = K_norm.detach()[:, :3, :3].to(torch.float64).sum(0)
        self.total = batch_total if self.total is None else self.total + batch_total
        self.count += K_norm.shape[0]

    def mean(self) -> list[list[float]] | None:
        """3×3 mean normalised K (row 0 in units of the width, row 1 of the height), None before any update."""
        return None if self.total is None else (self.total / self.count).tolist()


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
        if opt.load_weights_folder:
            self.load_model(opt.load_weights_folder)
        self.scheduler = build_scheduler(self.optimizer, opt)
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
        self.epoch = 0
        self.step = 0

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
        train_set = self.make_dataset(read_split_file(split_dir / "train_files.txt"), is_train=True)
        train_set.verify_first_sample()
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
            "persistent_workers": opt.num_workers > 0,
            "collate_fn": collate_samples,  # pads the cached object masks of --mask_cache
        }
        generator = torch.Generator().manual_seed(opt.seed + self.dist.rank)  # shuffling and worker seeds
        train_loader = DataLoader(
            train_set, shuffle=sampler is None, sampler=sampler, generator=generator, **common
        )
        _require_a_batch(train_loader, "training")
        val_loader = None
        if self.dist.is_main:
            val_set = self.make_dataset(read_split_file(split_dir / "val_files.txt"), is_train=False)
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
            unit="img",
            disable=None if self.dist.is_main else True,
            dynamic_ncols=True,
        )
        try:
            for self.epoch in range(opt.num_epochs):
                if self.train_sampler is not None:
                    self.train_sampler.set_epoch(self.epoch)
                finished = self.run_epoch(progress, start)
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
        """One epoch of training; True when ``max_steps`` was reached."""
        self.model.train()
        self.intrinsics_average.reset()  # the checkpoint records the learned K averaged over its epoch
        images_per_step = self.opt.batch_size * self.dist.world_size
        for batch_idx, batch in enumerate(self.train_loader):
            before = time.time()
            inputs, outputs, losses = self.train_step(batch)
            progress.update(images_per_step)

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
            if self.opt.max_steps is not None and self.step >= self.opt.max_steps:
                return True
        return False

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
        """TensorBoard scalars (losses, depth metrics with GT, learned vs dataset K) and images of up to 4 items.

        The depth metrics score the network's own scale-0 depth (not the Mask R-CNN-adjusted one), as
        evaluation does. ``intrinsics/<fx|fy|cx|cy>`` (the learned camera K, as seen unflipped) and
        ``intrinsics/dataset_<…>`` (the dataset K of the batch, cx mirrored on flipped samples) are batch means in
        pixels at the training size.
        """
        writer = self.writers[mode]
        scalars = {name: value.item() for name, value in losses.items()}
        if "depth_gt" in inputs:
            _, depth = disp_to_depth(outputs[("disp", 0)], self.opt.min_depth, self.opt.max_depth)
            scalars.update(training_depth_metrics(depth, inputs["depth_gt"]))
        if LEARNED_K in outputs:
            learned = scale_intrinsics(outputs[LEARNED_K], self.opt.width, self.opt.height).mean(0)
            dataset = inputs[("K", 0)].mean(0)
            for name, (row, col) in K_ENTRIES.items():
                scalars[f"intrinsics/{name}"] = learned[row, col].item()
                scalars[f"intrinsics/dataset_{name}"] = dataset[row, col].item()
        for name, value in scalars.items():
            writer.add_scalar(name, value, self.step)
        for j in range(min(MAX_LOGGED_IMAGES, self.opt.batch_size)):
            for s in self.opt.scales:
                for frame_id in self.frame_ids:
                    writer.add_image(f"color_{frame_id}_{s}/{j}", inputs[("color", frame_id, s)][j], self.step)
                    if s == 0 and frame_id != 0:
                        writer.add_image(f"color_pred_{frame_id}_{s}/{j}", outputs[("color", frame_id, s)][j],
                                         self.step)
                writer.add_image(f"disp_{s}/{j}", normalize_image(outputs[("disp", s)][j]), self.step)
                if self.opt.predictive_mask:
                    for f_idx, frame_id in enumerate(self.source_frame_ids):
                        writer.add_image(f"predictive_mask_{frame_id}_{s}/{j}",
                                         outputs["predictive_mask"][("disp", s)][j, f_idx][None], self.step)
                elif not self.opt.disable_automasking:
                    writer.add_image(f"automask_{s}/{j}", outputs[f"identity_selection/{s}"][j][None], self.step)

    # ------------------------------------------------------------------------------------- checkpoints
    def save_opts(self) -> None:
        """``<log_dir>/<model_name>/models/opt.json``: every option of this run."""
        atomic_write_text(self.log_path / "models" / "opt.json", self.opt.to_json())

    def save_model(self) -> Path | None:
        """``models/weights_<epoch>/``: the official ``.pth`` files (unwrapped), ``adam.pth``, our metadata."""
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
        save_weights_folder(folder, states, metadata)
        save_state_file(folder / "adam.pth", self.optimizer.state_dict())
        return folder

    def load_model(self, weights_folder: str | Path) -> None:
        """Load ``models_to_load`` from a weights folder, and ``adam.pth`` when present.

        The learning rate is then reset to ``--learning_rate``: a loaded optimiser state would otherwise bring
        back the saved rate (Monodepth2's fine-tuning silently kept 1e-4 on modern PyTorch).
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
