"""View synthesis (step 2 of Monodepth2's training): every source frame warped into the target view.

Each scale's disparity is upsampled to the full resolution (bilinear, align_corners=False) and converted to depth,
then every un-augmented source frame is warped into the target view with the scale-0 intrinsics
(``--v1_multiscale``: at the scale's own resolution). With ``--mask_rcnn`` the disparity with every detected object
flattened to its ground-contact disparity (``(ADJUSTED_DISP, s)``, :func:`add_adjusted_disparities`) is warped
instead of ``("disp", s)``; with ``--learn_intrinsics`` the learned K replaces the dataset's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.geometry import disp_to_depth, scale_intrinsics
from training.datasets.mono_dataset import STEREO_FRAME, FrameId
from training.intrinsics import LEARNED_K, mirror_principal_point
from training.layers import BackprojectDepth, Project3D, sample_image, transformation_from_parameters
from training.mask_adjustment import adjust_disparity, resize_masks

ADJUSTED_DISP = "disp_adjusted"  # outputs[(ADJUSTED_DISP, s)]: the Mask R-CNN-adjusted ("disp", s)

Batch = dict
Outputs = dict


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
