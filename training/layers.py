"""Monodepth2's geometry and losses, one formula per function.

Shapes: images B×3×H×W in [0, 1] RGB; depth and disparity B×1×H×W; intrinsics B×4×4 in pixels;
poses B×4×4. ``T`` passed to :class:`Project3D` maps points from the target camera frame into the
source camera frame (``T_source_from_target``). Pixel coordinates are integers 0..W−1, and sampling
grids are normalised with the **align_corners=True** convention (divide by W−1), which
``grid_sample`` must then be told explicitly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
SSIM_WEIGHT = 0.85
AXIS_ANGLE_EPS = 1e-7
PROJECTION_EPS = 1e-7


def rot_from_axisangle(vec: torch.Tensor) -> torch.Tensor:
    """Axis-angle B×1×3 → rotation B×4×4 (Rodrigues' formula, homogeneous)."""
    angle = torch.norm(vec, p=2, dim=2, keepdim=True)
    axis = vec / (angle + AXIS_ANGLE_EPS)
    ca, sa = torch.cos(angle), torch.sin(angle)
    C = 1 - ca
    x, y, z = axis[..., 0].unsqueeze(1), axis[..., 1].unsqueeze(1), axis[..., 2].unsqueeze(1)
    xs, ys, zs = x * sa, y * sa, z * sa
    xC, yC, zC = x * C, y * C, z * C
    xyC, yzC, zxC = x * yC, y * zC, z * xC
    rot = torch.zeros((vec.shape[0], 4, 4), device=vec.device, dtype=vec.dtype)
    rot[:, 0, 0] = torch.squeeze(x * xC + ca)
    rot[:, 0, 1] = torch.squeeze(xyC - zs)
    rot[:, 0, 2] = torch.squeeze(zxC + ys)
    rot[:, 1, 0] = torch.squeeze(xyC + zs)
    rot[:, 1, 1] = torch.squeeze(y * yC + ca)
    rot[:, 1, 2] = torch.squeeze(yzC - xs)
    rot[:, 2, 0] = torch.squeeze(zxC - ys)
    rot[:, 2, 1] = torch.squeeze(yzC + xs)
    rot[:, 2, 2] = torch.squeeze(z * zC + ca)
    rot[:, 3, 3] = 1
    return rot


def get_translation_matrix(translation: torch.Tensor) -> torch.Tensor:
    """Translation B×1×3 (or B×3) → homogeneous B×4×4."""
    T = torch.eye(4, device=translation.device, dtype=translation.dtype).repeat(translation.shape[0], 1, 1)
    T[:, :3, 3] = translation.reshape(-1, 3)
    return T


def transformation_from_parameters(
    axisangle: torch.Tensor, translation: torch.Tensor, invert: bool = False
) -> torch.Tensor:
    """Pose network output → B×4×4. M = T(t)·R, or its exact inverse Rᵀ·T(−t) when ``invert``."""
    R = rot_from_axisangle(axisangle)
    t = translation.clone()
    if invert:
        R = R.transpose(1, 2)
        t = -t
    T = get_translation_matrix(t)
    return torch.matmul(R, T) if invert else torch.matmul(T, R)


def pixel_grid(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Homogeneous pixel coordinates 3×(H·W): rows (u, v, 1), u the column, row-major order."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device),
        torch.arange(width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones(height * width, device=device)], 0)


class BackprojectDepth(nn.Module):
    """Depth B×1×H×W and inverse intrinsics B×4×4 → homogeneous camera points B×4×(H·W) (metres).

    The pixel grid is built once for (H, W); the batch size is read from the input.
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.register_buffer("pix_coords", pixel_grid(height, width), persistent=False)

    def forward(self, depth: torch.Tensor, inv_K: torch.Tensor) -> torch.Tensor:
        batch = depth.shape[0]
        rays = torch.matmul(inv_K[:, :3, :3], self.pix_coords.to(inv_K.dtype))
        points = depth.reshape(batch, 1, -1) * rays
        ones = torch.ones_like(points[:, :1])
        return torch.cat([points, ones], 1)


class Project3D(nn.Module):
    """Camera points B×4×N, K B×4×4, T B×4×4 → grid_sample coordinates B×H×W×2 in [−1, 1].

    Normalisation divides by (W−1, H−1): use ``grid_sample(..., align_corners=True)``. Points behind
    the camera are not masked (as Monodepth2).
    """

    def __init__(self, height: int, width: int, eps: float = PROJECTION_EPS) -> None:
        super().__init__()
        self.height, self.width, self.eps = height, width, eps

    def forward(self, points: torch.Tensor, K: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
        P = torch.matmul(K, T)[:, :3, :]
        cam = torch.matmul(P, points)
        pix = cam[:, :2] / (cam[:, 2:3] + self.eps)
        pix = pix.view(-1, 2, self.height, self.width).permute(0, 2, 3, 1)
        scale = torch.tensor([self.width - 1, self.height - 1], dtype=pix.dtype, device=pix.device)
        return (pix / scale - 0.5) * 2


def sample_image(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling with border padding and align_corners=True (Monodepth2 on PyTorch 0.4.1)."""
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def mean_3x3(x: torch.Tensor) -> torch.Tensor:
    """Mean over 3×3 windows without padding (= ``avg_pool2d(x, 3, 1)``): B×C×H×W → B×C×(H−2)×(W−2).

    Two separable sums of shifted slices: on the CPU several times faster than ``avg_pool2d`` with stride 1.
    """
    rows = x[..., :-2] + x[..., 1:-1] + x[..., 2:]
    return (rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) / 9.0


class SSIM(nn.Module):
    """Per-pixel SSIM loss clamp((1 − SSIM)/2, 0, 1) over 3×3 windows with reflection padding.

    Inputs B×C×H×W; output B×C×H×W. The five window means are taken in one pass over their channel stack.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self.pad(x), self.pad(y)
        mu_x, mu_y, mean_xx, mean_yy, mean_xy = mean_3x3(torch.cat([x, y, x * x, y * y, x * y], 1)).chunk(5, 1)
        sigma_x = mean_xx - mu_x**2
        sigma_y = mean_yy - mu_y**2
        sigma_xy = mean_xy - mu_x * mu_y
        numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
        denominator = (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
        return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def compute_reprojection_loss(
    pred: torch.Tensor, target: torch.Tensor, ssim: SSIM | None = None
) -> torch.Tensor:
    """Photometric error B×1×H×W: 0.85·SSIM + 0.15·L1, each averaged over channels (L1 only without ssim)."""
    l1 = torch.abs(target - pred).mean(1, keepdim=True)
    if ssim is None:
        return l1
    return SSIM_WEIGHT * ssim(pred, target).mean(1, keepdim=True) + (1 - SSIM_WEIGHT) * l1


def get_smooth_loss(disp: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness: |∂disp| weighted by exp(−|∂img|) (channel mean), x and y means added."""
    grad_disp_x = torch.abs(disp[:, :, :, :-1] - disp[:, :, :, 1:])
    grad_disp_y = torch.abs(disp[:, :, :-1, :] - disp[:, :, 1:, :])
    grad_img_x = torch.mean(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]), 1, keepdim=True)
    grad_img_y = torch.mean(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :]), 1, keepdim=True)
    grad_disp_x = grad_disp_x * torch.exp(-grad_img_x)
    grad_disp_y = grad_disp_y * torch.exp(-grad_img_y)
    return grad_disp_x.mean() + grad_disp_y.mean()


def mean_normalized(disp: torch.Tensor) -> torch.Tensor:
    """Disparity divided by its per-image spatial mean (+1e-7), as the smoothness term uses it."""
    return disp / (disp.mean(dim=(2, 3), keepdim=True) + 1e-7)
