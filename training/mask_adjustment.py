"""Mask R-CNN disparity adjustment (3D Ken Burns, Niklaus et al. 2019, as used by Mishra et al.).

Every confidently detected movable object (people, vehicles, animals, with riders merged into their
bicycles) is flattened to a fronto-parallel plane at the disparity of its ground contact: the largest
disparity in the bottom 3 % of the (eroded) object. The trainer warps with the adjusted disparity, so
inside an object the reprojection loss reaches only that one contact pixel.

Built correctly rather than bug-for-bug (see paper_extensions.md §2 and §6.7–6.8): the detector sees
RGB (the paper fed B,R,G), runs under ``torch.no_grad()`` once per sample at scale 0 (the paper ran it
on every scale, 80×24 included), and lower scales reuse the masks through ``resize_masks``.
Evaluation scores the raw network depth by default; ``adjust_disparity`` is also the optional
test-time adjustment (report it labelled as such, as the paper's numbers silently included it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import MaskRCNN, MaskRCNN_ResNet50_FPN_Weights
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.misc import FrozenBatchNorm2d

from depth_ros.networks.resnet_encoder import PretrainedWeightsError, hub_checkpoint_path, load_pretrained_state_dict

COCO_WEIGHTS = MaskRCNN_ResNet50_FPN_Weights.COCO_V1
COCO_NUM_CLASSES = 91  # torchvision's COCO-91 label ids, 0 = background

# Selection rules of 3D Ken Burns ``models/disparity-adjustment.py``, unchanged.
SCORE_THRESHOLD = 0.7  # instance kept when score ≥ this
MASK_PROB_THRESHOLD = 0.5  # pixel in the instance when mask probability > this
MIN_OBJECT_AREA_PX = 64  # primary instances smaller than this (at the detection size) are skipped
MERGE_MIN_OVERLAP = 0.03  # merge instance joins a primary when overlap ≥ this share of its own area
# person, car, bus, train, truck, boat, bird, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe
PRIMARY_LABELS = (1, 3, 6, 7, 8, 9, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25)
# bicycle, motorcycle, backpack, umbrella, handbag, tie, suitcase: adjusted only as part of a primary
MERGE_LABELS = (2, 4, 27, 28, 31, 32, 33)

GROUND_CONTACT_FRACTION = 0.97  # v is taken from rows top + 0.97·(bottom − top) .. bottom
EROSION_STEPS = 2  # 3×3 min-pool erosions before the bounding box and v are read


def build_detector(
    *, pretrained: bool = True, allow_download: bool = True, min_size: int = 800, max_size: int = 1333
) -> MaskRCNN:
    """torchvision Mask R-CNN ResNet-50-FPN with COCO_V1 weights, in eval mode, every parameter frozen.

    The weights come from the torch hub cache (downloaded there when ``allow_download``); offline,
    ``PretrainedWeightsError`` says where to place the file. ``pretrained=False`` builds the same
    architecture untrained (tests). ``min_size``/``max_size`` are torchvision's internal resize (its
    defaults 800/1333 turn 640×192 into 1333×400, as in the paper); masks come back at input size.
    """
    state = _coco_state_dict(allow_download) if pretrained else None
    # FrozenBatchNorm2d and no trainable backbone layers: exactly what maskrcnn_resnet50_fpn builds for
    # pretrained weights, so the COCO state dict loads strictly.
    backbone = resnet_fpn_backbone(
        backbone_name="resnet50", weights=None, norm_layer=FrozenBatchNorm2d, trainable_layers=0
    )
    detector = MaskRCNN(backbone, num_classes=COCO_NUM_CLASSES, min_size=min_size, max_size=max_size)
    if state is not None:
        detector.load_state_dict(state)
        # torchvision's builder zeroes the frozen-BN eps for COCO_V1, the setting these weights were trained with.
        for module in detector.modules():
            if isinstance(module, FrozenBatchNorm2d):
                module.eps = 0.0
    return detector.eval().requires_grad_(False)


def _coco_state_dict(allow_download: bool) -> dict:
    try:
        return load_pretrained_state_dict(COCO_WEIGHTS, allow_download)
    except PretrainedWeightsError as exc:
        raise PretrainedWeightsError(
            f"Mask R-CNN COCO weights {COCO_WEIGHTS} are not available. Download {COCO_WEIGHTS.url} on a "
            f"machine with network access and place it at {hub_checkpoint_path(COCO_WEIGHTS)} (the torch hub "
            f"cache; set TORCH_HOME to move it), or precompute the masks elsewhere with "
            f"`python -m training.precompute_masks` and train from them with `--mask_rcnn --mask_cache DIR`."
        ) from exc


def select_object_masks(
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask_probs: torch.Tensor,
    *,
    score_threshold: float = SCORE_THRESHOLD,
    mask_threshold: float = MASK_PROB_THRESHOLD,
    min_area_px: int = MIN_OBJECT_AREA_PX,
    merge_min_overlap: float = MERGE_MIN_OVERLAP,
) -> torch.Tensor:
    """The objects to adjust in one image, from Mask R-CNN's instances (N, in the detector's order).

    scores: N; labels: N (COCO-91 ids); mask_probs: N×H×W or N×1×H×W in [0, 1] → K×H×W bool.
    Each confident primary instance of at least ``min_area_px`` pixels becomes one object; every
    confident merge instance not yet taken whose overlap with the (growing) object is at least
    ``merge_min_overlap`` of the merge instance's own area is OR-ed into it. A merge instance that
    joins no primary is dropped.
    """
    if mask_probs.dim() == 4:
        mask_probs = mask_probs[:, 0]
    binary = mask_probs > mask_threshold
    confident = scores >= score_threshold
    primary = confident & torch.isin(labels, torch.tensor(PRIMARY_LABELS, device=labels.device))
    mergeable = (confident & torch.isin(labels, torch.tensor(MERGE_LABELS, device=labels.device))).tolist()
    areas = binary.flatten(1).sum(1).tolist()
    objects = []
    for i in primary.nonzero().flatten().tolist():
        if areas[i] < min_area_px:
            continue
        mask = binary[i]
        for j, free in enumerate(mergeable):
            if free and (mask & binary[j]).sum().item() >= merge_min_overlap * areas[j]:
                mask = mask | binary[j]
                mergeable[j] = False
        objects.append(mask)
    if not objects:
        return binary.new_zeros((0, *binary.shape[1:]))
    return torch.stack(objects)


@torch.no_grad()
def detect_object_masks(detector: nn.Module, images_rgb: torch.Tensor) -> list[torch.Tensor]:
    """Object masks of a batch: B×3×H×W RGB in [0, 1] (on the detector's device) → B lists of K_i×H×W bool.

    The images go to the detector as RGB, which torchvision's COCO weights expect.
    """
    if detector.training:
        raise ValueError("the detector must be in eval mode (build_detector returns it so)")
    predictions = detector(list(images_rgb))
    return [select_object_masks(p["scores"], p["labels"], p["masks"]) for p in predictions]


def resize_masks(masks: Sequence[torch.Tensor] | torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
    """Object masks at another scale: each N_i×H×W bool → N_i×h×w bool, ``size`` = (h, w).

    A pixel of the smaller mask is set when more than half of the area it covers was set (area
    interpolation > 0.5), which keeps thin parts from flickering in and out as nearest sampling would.
    """
    resized = []
    for mask in masks:
        if mask.shape[0] == 0:
            resized.append(mask.new_zeros((0, *size)))
        else:
            resized.append(F.interpolate(mask[:, None].float(), size=size, mode="area")[:, 0] > 0.5)
    return resized


def _erode(x: torch.Tensor) -> torch.Tensor:
    """3×3 min-pool, stride 1; the image border does not erode (max_pool2d pads with −inf)."""
    return -F.max_pool2d(-x, kernel_size=3, stride=1, padding=1)


def _stack_padded(masks: Sequence[torch.Tensor] | torch.Tensor, disp: torch.Tensor) -> torch.Tensor:
    """B lists of N_i×H×W (or B×N×H×W) bool → B×N_max×H×W bool on disp's device, padded with empty masks."""
    batch, _, height, width = disp.shape
    if len(masks) != batch:
        raise ValueError(f"got masks for {len(masks)} images but a disparity batch of {batch}")
    num = max((m.shape[0] for m in masks), default=0)
    padded = torch.zeros((batch, num, height, width), dtype=torch.bool, device=disp.device)
    for b, mask in enumerate(masks):
        if mask.shape[0] and tuple(mask.shape[1:]) != (height, width):
            raise ValueError(
                f"masks are {tuple(mask.shape[1:])} but the disparity is {(height, width)}; use resize_masks"
            )
        padded[b, : mask.shape[0]] = mask.to(device=disp.device, dtype=torch.bool)
    return padded


def adjust_disparity(disp: torch.Tensor, masks: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """Flatten each object to its ground-contact disparity: B×1×H×W, masks B × (N_i×H×W bool) → B×1×H×W.

    ``disp`` is positive (sigmoid) disparity. Per object mask M, in turn: P = disp·M eroded twice; if P
    is all zero the object is skipped; else with top/bottom the first/last row of P's support,
    v = max P over rows round(top + 0.97·(bottom − top)) .. bottom (round half to even, as Python's),
    and disp ← v inside M. Pixels outside every mask are returned bit-exactly. Differentiable: the
    gradient of an adjusted object flows to the one pixel that defined v. Objects are processed for the
    whole batch at once, one object index at a time (empty padding masks are no-ops), so ``masks`` may
    also be a B×N×H×W bool tensor.
    """
    padded = _stack_padded(masks, disp)
    batch, _, height, _ = disp.shape
    rows = torch.arange(height, device=disp.device).view(1, 1, height, 1)
    for k in range(padded.shape[1]):
        mask = padded[:, k : k + 1]  # B×1×H×W
        plane = disp * mask
        for _ in range(EROSION_STEPS):
            plane = _erode(plane)
        support_rows = (plane > 0).any(dim=3, keepdim=True)  # B×1×H×1
        present = support_rows.flatten(1).any(dim=1).view(batch, 1, 1, 1)
        top = torch.where(support_rows, rows, height).amin(dim=(1, 2, 3), keepdim=True)
        bottom = torch.where(support_rows, rows, -1).amax(dim=(1, 2, 3), keepdim=True)
        # float64 and half-to-even rounding reproduce the reference's Python round() exactly.
        start = torch.round(top.double() + GROUND_CONTACT_FRACTION * (bottom - top).double()).long()
        band = (rows >= start) & (rows <= bottom)  # B×1×H×1
        contact = plane.masked_fill(~band, float("-inf")).amax(dim=(1, 2, 3), keepdim=True)
        contact = torch.where(present, contact, torch.zeros_like(contact))
        disp = torch.where(mask & present, contact, disp)
    return disp
