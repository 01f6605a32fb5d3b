"""Known-value tests of Monodepth2's geometry and loss formulas (depth_ros.geometry, training.layers)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from depth_ros.geometry import disp_to_depth
from training.layers import (
    SSIM,
    BackprojectDepth,
    Project3D,
    compute_reprojection_loss,
    get_smooth_loss,
    mean_3x3,
    mean_normalized,
    rot_from_axisangle,
    sample_image,
    transformation_from_parameters,
)


def pixel_K(fx: float, fy: float, cx: float, cy: float, batch: int = 1) -> torch.Tensor:
    K = torch.eye(4)
    K[0, 0], K[1, 1], K[0, 2], K[1, 2] = fx, fy, cx, cy
    return K.repeat(batch, 1, 1)


# --------------------------------------------------------------------------------------------- disparity


def test_disp_to_depth_known_values():
    disp = torch.tensor([0.0, 0.5, 1.0])
    scaled, depth = disp_to_depth(disp, 0.1, 100.0)
    # scaled = 1/100 + (1/0.1 − 1/100)·disp
    torch.testing.assert_close(scaled, torch.tensor([0.01, 0.01 + 9.99 * 0.5, 10.0]))
    torch.testing.assert_close(depth, torch.tensor([100.0, 1.0 / 5.005, 0.1]))


# --------------------------------------------------------------------------------------------- poses


def test_rotation_90_degrees_about_z():
    R = rot_from_axisangle(torch.tensor([[[0.0, 0.0, math.pi / 2]]]))
    expected = torch.tensor([[0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(R[0], expected, atol=1e-6, rtol=0)


def test_rotation_matches_opencv_rodrigues_and_is_orthonormal():
    vecs = torch.tensor([[[0.3, -0.2, 0.5]], [[-1.1, 0.4, 0.05]], [[0.0, 0.0, 1e-4]]])
    R = rot_from_axisangle(vecs)
    for i, vec in enumerate(vecs):
        expected, _ = cv2.Rodrigues(vec[0].double().numpy())
        np.testing.assert_allclose(R[i, :3, :3].numpy(), expected, atol=1e-6)
    rot = R[:, :3, :3]
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(3, 3, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(R[:, 3], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(3, 4))


def test_transformation_is_translation_after_rotation_and_invert_is_exact_inverse():
    axisangle = torch.tensor([[[0.1, -0.3, 0.2]], [[0.0, 0.5, 0.0]]])
    translation = torch.tensor([[[0.5, -1.0, 2.0]], [[0.1, 0.2, -0.3]]])
    M = transformation_from_parameters(axisangle, translation)
    torch.testing.assert_close(M[:, :3, :3], rot_from_axisangle(axisangle)[:, :3, :3])
    torch.testing.assert_close(M[:, :3, 3], translation[:, 0])  # M = T(t)·R: x ↦ R·x + t
    M_inv = transformation_from_parameters(axisangle, translation, invert=True)
    torch.testing.assert_close(M_inv @ M, torch.eye(4).expand(2, 4, 4), atol=1e-6, rtol=0)
    torch.testing.assert_close(M_inv, torch.linalg.inv(M), atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------------- warping


def test_backproject_then_project_at_identity_gives_the_normalised_pixel_grid():
    height, width = 6, 10
    K = pixel_K(8.0, 7.0, 5.0, 3.0, batch=3)
    depth = torch.rand(3, 1, height, width) * 10 + 1
    points = BackprojectDepth(height, width)(depth, torch.linalg.inv(K))
    assert points.shape == (3, 4, height * width)
    torch.testing.assert_close(points[:, 2], depth.view(3, -1))  # z of each point is its depth
    grid = Project3D(height, width)(points, K, torch.eye(4).expand(3, 4, 4))
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    expected = torch.stack([u / (width - 1), v / (height - 1)], -1) * 2 - 1  # align_corners=True
    torch.testing.assert_close(grid, expected.expand(3, height, width, 2), atol=1e-5, rtol=0)
    image = torch.rand(3, 3, height, width)
    torch.testing.assert_close(sample_image(image, grid), image, atol=1e-5, rtol=0)


def test_layers_read_the_batch_size_from_their_inputs():
    backproject, project = BackprojectDepth(4, 8), Project3D(4, 8)
    for batch in (1, 5):
        K = pixel_K(4.0, 4.0, 4.0, 2.0, batch)
        points = backproject(torch.ones(batch, 1, 4, 8), torch.linalg.inv(K))
        assert project(points, K, torch.eye(4).expand(batch, 4, 4)).shape == (batch, 4, 8, 2)


@pytest.mark.parametrize(
    "translation",
    [(0.3, 0.0, 0.0), (0.0, -0.2, 0.0), (0.0, 0.0, 1.5), (0.2, 0.1, -0.8)],
    ids=["right", "up", "forward", "mixed"],
)
def test_warping_a_fronto_parallel_plane_reproduces_the_target_view(translation):
    """A plane at depth Z seen by a target camera and a source camera at −t (``T_source_from_target`` = +t).

    The source image is a linear function of the plane coordinates, so bilinear sampling is exact and the
    warped source must equal the analytic target image wherever the projection stays inside the source.
    """
    height, width, Z = 24, 32, 10.0
    fx, fy, cx, cy = 30.0, 28.0, 16.0, 12.0
    K = pixel_K(fx, fy, cx, cy)
    t = torch.tensor(translation)
    T = torch.eye(4)
    T[:3, 3] = t

    def plane_image(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # Source image: colours linear in the source pixel (bilinear interpolation reproduces it exactly).
        return torch.stack([0.01 * u + 0.2, 0.02 * v + 0.1, 0.005 * (u + v) + 0.3])

    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    source = plane_image(u, v)[None]
    # Where target pixel (u, v) lands in the source: X_s = X_t + t with X_t on the plane z = Z.
    x_t, y_t = (u - cx) / fx * Z, (v - cy) / fy * Z
    z_s = Z + t[2]
    u_s = fx * (x_t + t[0]) / z_s + cx
    v_s = fy * (y_t + t[1]) / z_s + cy
    target = plane_image(u_s, v_s)[None]
    inside = (u_s >= 0) & (u_s <= width - 1) & (v_s >= 0) & (v_s <= height - 1)
    assert inside.float().mean() > 0.5

    points = BackprojectDepth(height, width)(torch.full((1, 1, height, width), Z), torch.linalg.inv(K))
    grid = Project3D(height, width)(points, K, T[None])
    warped = sample_image(source, grid)
    torch.testing.assert_close(warped[0][:, inside], target[0][:, inside], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------- photometric loss


def test_mean_3x3_is_the_3x3_box_average():
    x = torch.rand(2, 5, 7, 11, dtype=torch.float64)
    assert mean_3x3(x).shape == (2, 5, 5, 9)
    assert mean_3x3(x)[1, 2, 3, 4].item() == pytest.approx(x[1, 2, 3:6, 4:7].mean().item(), abs=1e-12)
    torch.testing.assert_close(mean_3x3(x), torch.nn.functional.avg_pool2d(x, 3, 1))


def test_ssim_of_identical_images_is_zero_loss():
    x = torch.rand(2, 3, 8, 9)
    torch.testing.assert_close(SSIM()(x, x), torch.zeros_like(x), atol=1e-6, rtol=0)


def test_ssim_centre_pixel_of_a_3x3_image_by_hand():
    # The centre pixel's 3×3 window is the whole image, padding untouched: compute SSIM from the 9 values.
    x = np.array([0.1, 0.5, 0.3, 0.9, 0.2, 0.4, 0.7, 0.6, 0.8])
    y = np.array([0.2, 0.4, 0.4, 0.8, 0.1, 0.6, 0.5, 0.7, 0.9])
    mu_x, mu_y = x.mean(), y.mean()
    var_x, var_y = (x**2).mean() - mu_x**2, (y**2).mean() - mu_y**2
    cov = (x * y).mean() - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    expected = np.clip((1 - ssim) / 2, 0, 1)
    to_tensor = lambda a: torch.tensor(a, dtype=torch.float64).view(1, 1, 3, 3)  # noqa: E731
    loss = SSIM()(to_tensor(x), to_tensor(y))
    assert loss[0, 0, 1, 1].item() == pytest.approx(expected, abs=1e-12)


def test_reprojection_loss_is_085_ssim_plus_015_l1_on_constant_images():
    # Constant images: zero variances, so SSIM = (2ab + C1) / (a² + b² + C1) per channel.
    a = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 5, 6)
    b = torch.tensor([0.6, 0.5, 0.3], dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 5, 6)
    c1 = 0.01**2
    ssim_loss = [(1 - (2 * p * q + c1) / (p * p + q * q + c1)) / 2 for p, q in [(0.2, 0.6), (0.5, 0.5), (0.9, 0.3)]]
    l1 = (0.4 + 0.0 + 0.6) / 3
    expected = 0.85 * sum(ssim_loss) / 3 + 0.15 * l1
    loss = compute_reprojection_loss(a, b, SSIM())
    assert loss.shape == (1, 1, 5, 6)
    full = lambda value: torch.full((1, 1, 5, 6), value, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(loss, full(expected), atol=1e-9, rtol=0)
    torch.testing.assert_close(compute_reprojection_loss(a, b), full(l1), atol=1e-12, rtol=0)


# --------------------------------------------------------------------------------------------- smoothness


def test_smoothness_by_hand_on_a_tiny_tensor():
    disp = np.array([[1.0, 3.0, 2.0], [4.0, 4.0, 0.5]])
    img = np.stack(
        [
            [[0.0, 0.5, 0.5], [0.2, 0.2, 1.0]],
            [[0.1, 0.1, 0.9], [0.3, 0.0, 0.0]],
            [[0.4, 0.2, 0.0], [0.4, 0.6, 0.2]],
        ]
    )
    gx = [
        abs(disp[i, j] - disp[i, j + 1]) * math.exp(-np.mean(np.abs(img[:, i, j] - img[:, i, j + 1])))
        for i in range(2)
        for j in range(2)
    ]
    gy = [abs(disp[0, j] - disp[1, j]) * math.exp(-np.mean(np.abs(img[:, 0, j] - img[:, 1, j]))) for j in range(3)]
    expected = sum(gx) / 4 + sum(gy) / 3  # two separate means over tensors of different sizes
    loss = get_smooth_loss(torch.tensor(disp)[None, None], torch.tensor(img)[None])
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx((sum(gx) + sum(gy)) / 7)


def test_mean_normalized_divides_each_image_by_its_own_mean():
    disp = torch.stack([torch.full((1, 2, 2), 2.0), torch.tensor([[[1.0, 3.0], [5.0, 7.0]]])])
    torch.testing.assert_close(mean_normalized(disp)[0], torch.ones(1, 2, 2), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        mean_normalized(disp)[1], torch.tensor([[[0.25, 0.75], [1.25, 1.75]]]), atol=1e-6, rtol=0
    )
