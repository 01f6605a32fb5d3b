"""Colour maps: RGB order, range, invalid pixels."""

from __future__ import annotations

import cv2
import numpy as np

from depth_ros.visualize import colorize, colorize_depth, colorize_disparity


def test_colorize_is_opencv_magma_in_rgb_order_with_clipping():
    values = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0]])
    rgb = colorize(values, 0.0, 1.0)
    grey = np.array([[0, 0, 127, 255, 255]], np.uint8)
    expected = cv2.applyColorMap(grey, cv2.COLORMAP_MAGMA)[:, :, ::-1]
    np.testing.assert_array_equal(rgb, expected)


def test_invalid_depth_is_black_and_near_is_brighter_than_far():
    depth = np.array([[2.0, 50.0, np.nan, 0.0, -3.0, np.inf]])
    rgb = colorize_depth(depth, 0.5, 80.0).astype(int)
    assert rgb[0, 0].sum() > rgb[0, 1].sum()
    np.testing.assert_array_equal(rgb[0, 2:], 0)


def test_disparity_map_spans_min_to_95th_percentile():
    disp = np.linspace(0.0, 1.0, 101).reshape(1, -1)
    rgb = colorize_disparity(disp)
    darkest = cv2.applyColorMap(np.zeros((1, 1), np.uint8), cv2.COLORMAP_MAGMA)[0, 0, ::-1]
    np.testing.assert_array_equal(rgb[0, 0], darkest)
    np.testing.assert_array_equal(rgb[0, 95], rgb[0, 100])  # at and above the 95th percentile: the top colour
