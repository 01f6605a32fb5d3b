"""Every trainable network of a Monodepth2 run, assembled so that one call (one DDP forward) does a step's predictions.

Step 1 of training (Godard et al., ICCV 2019; the official ``trainer.py``): the depth network predicts sigmoid
disparities at every scale from the augmented target frame 0; the pose network predicts ``T_source_from_target``
for every temporal source frame (pairs in temporal order, the prediction inverted for past frames). With
``--learn_intrinsics`` an :class:`~depth_ros.networks.IntrinsicsHead` on the pose bottleneck predicts a normalised
K per pose pair; their mean (WildNet) is the camera's K (see :mod:`training.intrinsics`).

Frame ids are ints (temporal offsets) or ``"s"`` (the other stereo camera, which needs no pose network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from depth_ros.networks import DepthDecoder, IntrinsicsHead, PoseCNN, PoseDecoder, ResnetEncoder
from training.datasets.mono_dataset import STEREO_FRAME, FrameId
from training.intrinsics import LEARNED_K, PRIOR_FOCAL_OVER_WIDTH
from training.layers import transformation_from_parameters

NUM_DATASET_SCALES = 4  # Monodepth2 always loads a 4-level pyramid, whatever --scales says

Batch = dict
Outputs = dict


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
            self.depth.disparity_head(scale).requires_grad_(False)
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
