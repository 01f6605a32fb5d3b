"""numpy ⇄ sensor_msgs conversions in depth_ros.messages, exercised with the rosbags message classes."""

from __future__ import annotations

import array
import dataclasses

import numpy as np
import pytest

from depth_ros import messages
from depth_ros.messages import (
    ImageFormatError,
    camera_info_to_K,
    depth_to_image,
    depth_to_points,
    deserialize,
    image_to_depth,
    image_to_rgb,
    make_camera_info,
    make_header,
    pointcloud2_to_points,
    points_to_pointcloud2,
    rgb_to_image,
    rosbags_message_types,
    scale_camera_info,
    serialize,
    stamp_to_ns,
)

TYPES = rosbags_message_types()
STAMP_NS = 1_317_384_506_123_456_789  # a KITTI-era stamp with full nanosecond precision
K_PX = np.array([[720.0, 0.0, 610.5], [0.0, 715.0, 172.25], [0.0, 0.0, 1.0]])


@pytest.fixture
def header():
    return make_header(STAMP_NS, "camera_color_left", TYPES)


@pytest.fixture
def rgb() -> np.ndarray:
    """A random 6×10 RGB image: exact conversions must reproduce every pixel."""
    return np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)


@pytest.fixture
def smooth_rgb() -> np.ndarray:
    """A 24×32 RGB gradient: interpolating conversions (Bayer, YUV 4:2:2) reproduce it closely."""
    v, u = np.mgrid[0:24, 0:32]
    return np.stack([u * 7, v * 9, 250 - u * 5], axis=-1).clip(0, 255).astype(np.uint8)


def raw_image(pixels: np.ndarray, encoding: str, *, step: int | None = None, big_endian: bool = False):
    """An Image message holding ``pixels`` (H×W or H×W×C) as stored bytes, optionally with row padding."""
    height, width = pixels.shape[:2]
    if pixels.dtype.itemsize > 1:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    row_bytes = rows.shape[1]
    step = row_bytes if step is None else step
    padded = np.full((height, step), 0xAB, np.uint8)  # padding bytes must be ignored
    padded[:, :row_bytes] = rows
    return TYPES.Image(
        header=make_header(0, "cam", TYPES),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=step,
        data=padded.reshape(-1),
    )


# ----------------------------------------------------------------------------------------- colour


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_rgb_to_image_round_trip(rgb, header, encoding):
    msg = rgb_to_image(rgb, header, encoding=encoding, types=TYPES)
    assert (msg.height, msg.width, msg.step, msg.is_bigendian) == (6, 10, 30, 0)
    assert msg.encoding == encoding
    assert msg.data.dtype == np.uint8 and msg.data.size == 6 * 30
    stored = msg.data.reshape(6, 10, 3)
    np.testing.assert_array_equal(stored, rgb[:, :, ::-1] if encoding == "bgr8" else rgb)
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_results_are_fresh_writeable_arrays(rgb):
    """Deserialised messages may hold read-only buffers; outputs must never alias msg.data."""
    msg = raw_image(rgb, "rgb8")
    msg.data.flags.writeable = False
    out = image_to_rgb(msg)
    assert out.flags.writeable and not np.shares_memory(out, msg.data)
    depth = depth_to_image(np.ones((2, 2), np.float32), make_header(0, "cam", TYPES), TYPES)
    depth.data.flags.writeable = False
    out_depth = image_to_depth(depth)
    assert out_depth.flags.writeable and not np.shares_memory(out_depth, depth.data)


def test_bgr8_is_reversed(rgb):
    np.testing.assert_array_equal(image_to_rgb(raw_image(rgb[:, :, ::-1], "bgr8")), rgb)


@pytest.mark.parametrize(("encoding", "order"), [("rgba8", [0, 1, 2]), ("bgra8", [2, 1, 0])])
def test_alpha_is_dropped(rgb, encoding, order):
    alpha = np.full((*rgb.shape[:2], 1), 7, np.uint8)
    stored = np.concatenate([rgb[:, :, order], alpha], axis=2)
    out = image_to_rgb(raw_image(stored, encoding))
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_mono8_is_replicated(rgb):
    grey = rgb[:, :, 0]
    np.testing.assert_array_equal(image_to_rgb(raw_image(grey, "mono8")), np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(
    ("encoding", "order", "alpha"),
    [
        ("rgb16", [0, 1, 2], False),
        ("bgr16", [2, 1, 0], False),
        ("rgba16", [0, 1, 2], True),
        ("bgra16", [2, 1, 0], True),
    ],
)
def test_16bit_colour_divides_by_257(rgb, encoding, order, alpha, big_endian):
    stored = rgb[:, :, order].astype(np.uint16) * 257
    if alpha:
        stored = np.concatenate([stored, np.full((*rgb.shape[:2], 1), 65535, np.uint16)], axis=2)
    np.testing.assert_array_equal(image_to_rgb(raw_image(stored, encoding, big_endian=big_endian)), rgb)


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_divides_by_257_and_rounds(big_endian):
    mono = np.array([[0, 128, 129, 257], [65535, 65407, 1000, 30000]], np.uint16)
    out = image_to_rgb(raw_image(mono, "mono16", big_endian=big_endian))
    expected = np.round(mono / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(out, np.repeat(expected[:, :, None], 3, axis=2))


def bayer_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Sample ``rgb`` through the 2×2 colour filter ``pattern`` (ROS naming: top-left pixel first)."""
    channel = {"r": 0, "g": 1, "b": 2}
    mosaic = np.zeros(rgb.shape[:2], rgb.dtype)
    for colour, (dy, dx) in zip(pattern, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, channel[colour]]
    return mosaic


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_demosaics_close_to_source(smooth_rgb, pattern, bits):
    source = smooth_rgb.astype(np.uint16) * 257 if bits == 16 else smooth_rgb
    out = image_to_rgb(raw_image(bayer_mosaic(source, pattern), f"bayer_{pattern}{bits}"))
    assert out.shape == smooth_rgb.shape and out.dtype == np.uint8
    interior = (slice(2, -2), slice(2, -2))
    error = np.abs(out[interior].astype(int) - smooth_rgb[interior].astype(int))
    assert error.mean() < 2.0, f"bayer_{pattern}{bits} demosaics to the wrong colours"


def pack_yuv422(rgb: np.ndarray, byte_order: str) -> np.ndarray:
    """H×W×2 packed YUV 4:2:2 (BT.601 video range, chroma averaged over pixel pairs) of an RGB image.

    ``byte_order`` names the four bytes of a pixel pair: ``"UYVY"`` or ``"YUYV"``.
    """
    r, g, b = (rgb[:, :, i].astype(np.float64) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    planes = {
        "Y0": y[:, 0::2],
        "Y1": y[:, 1::2],
        "U": (u[:, 0::2] + u[:, 1::2]) / 2,
        "V": (v[:, 0::2] + v[:, 1::2]) / 2,
    }
    names = ["U", "Y0", "V", "Y1"] if byte_order == "UYVY" else ["Y0", "U", "Y1", "V"]
    pairs = np.stack([planes[name] for name in names], axis=-1)  # H×(W/2)×4
    return np.round(pairs).clip(0, 255).astype(np.uint8).reshape(rgb.shape[0], rgb.shape[1], 2)


@pytest.mark.parametrize(
    ("encoding", "byte_order"),
    [("yuv422", "UYVY"), ("uyvy", "UYVY"), ("yuyv", "YUYV"), ("yuv422_yuy2", "YUYV")],
)
def test_yuv422_converts_close_to_source(smooth_rgb, encoding, byte_order):
    out = image_to_rgb(raw_image(pack_yuv422(smooth_rgb, byte_order), encoding))
    assert out.shape == smooth_rgb.shape
    assert np.abs(out.astype(int) - smooth_rgb.astype(int)).mean() < 3.0


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono8", "rgb16"])
def test_row_padding_in_step_is_skipped(rgb, encoding):
    reference = image_to_rgb(raw_image(rgb, "rgb8"))
    stored = {
        "rgb8": rgb,
        "bgra8": np.concatenate([rgb[:, :, ::-1], np.zeros((6, 10, 1), np.uint8)], axis=2),
        "mono8": rgb[:, :, 1],
        "rgb16": rgb.astype(np.uint16) * 257,
    }[encoding]
    row_bytes = stored[0].nbytes
    out = image_to_rgb(raw_image(stored, encoding, step=row_bytes + 5))
    expected = np.repeat(rgb[:, :, 1:2], 3, axis=2) if encoding == "mono8" else reference
    np.testing.assert_array_equal(out, expected)


def test_data_longer_than_step_times_height_is_accepted(rgb):
    msg = raw_image(rgb, "rgb8")
    msg.data = np.concatenate([msg.data, np.zeros(7, np.uint8)])
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_rclpy_style_containers_are_read_and_written(rgb, header):
    """The rosidl classes take array.array for uint8[]/float64[]; data may also arrive as bytes."""
    rclpy_like = dataclasses.replace(TYPES, numpy_arrays=False)
    msg = rgb_to_image(rgb, header, types=rclpy_like)
    assert isinstance(msg.data, array.array) and msg.data.typecode == "B"
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    msg.data = bytes(msg.data)
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    info = make_camera_info(K_PX, 10, 6, header, rclpy_like)
    assert isinstance(info.d, array.array) and list(info.d) == [0.0] * 5
    cloud = points_to_pointcloud2(np.ones((2, 3, 3), np.float32), header, rclpy_like)
    assert isinstance(cloud.data, array.array)
    np.testing.assert_array_equal(pointcloud2_to_points(cloud), np.ones((2, 3, 3), np.float32))


# ----------------------------------------------------------------------------------------- errors


def error_message(msg) -> str:
    with pytest.raises(ImageFormatError) as info:
        image_to_rgb(msg)
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("encoding", ["jpeg", "RGB8", "nv12", ""])
def test_unknown_encoding_is_rejected(rgb, encoding):
    msg = raw_image(rgb, "rgb8")
    msg.encoding = encoding
    assert f"'{encoding}'" in error_message(msg)


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1", "8UC3", "64FC1"])
def test_depth_and_generic_encodings_are_not_colour(encoding):
    msg = raw_image(np.zeros((4, 4, 8), np.uint8), encoding)
    text = error_message(msg)
    assert encoding in text and "not a colour encoding" in text


def test_short_data_states_expected_and_actual_byte_count(rgb):
    msg = raw_image(rgb, "rgb8")
    msg.data = msg.data[:-1]
    text = error_message(msg)
    assert "expected 180 bytes, got 179" in text


def test_step_smaller_than_row_is_rejected(rgb):
    msg = raw_image(rgb, "rgb8")
    msg.step = 29
    assert "step 29" in error_message(msg)


@pytest.mark.parametrize(("height", "width"), [(0, 10), (6, 0), (-1, 10)])
def test_empty_image_is_rejected(rgb, height, width):
    msg = raw_image(rgb, "rgb8")
    msg.height, msg.width = height, width
    assert "empty image" in error_message(msg)


def test_odd_width_yuv422_is_rejected():
    msg = raw_image(np.zeros((2, 3, 2), np.uint8), "uyvy")
    assert "odd" in error_message(msg)


@pytest.mark.parametrize(
    ("field", "value"),
    [("height", None), ("width", 2.5), ("step", "30"), ("encoding", None), ("data", "not bytes"), ("data", [0, 300])],
)
def test_malformed_fields_raise_image_format_error(rgb, field, value):
    msg = raw_image(rgb, "rgb8")
    setattr(msg, field, value)
    error_message(msg)


def test_huge_dimensions_do_not_allocate(rgb):
    msg = raw_image(rgb, "rgb8")
    msg.height, msg.width, msg.step = 2**31, 2**31, 3 * 2**31
    assert "wrong byte count" in error_message(msg)


# ------------------------------------------------------------------------------------------ depth


def test_depth_32fc1_round_trip_with_invalid_pixels(header):
    depth = np.array([[1.5, 80.0, np.nan], [0.0, -2.0, np.inf], [-np.inf, 3.25, 1e-3]], np.float32)
    msg = depth_to_image(depth, header, TYPES)
    assert (msg.encoding, msg.step, msg.is_bigendian, msg.height, msg.width) == ("32FC1", 12, 0, 3, 3)
    assert msg.header is header
    out = image_to_depth(msg)
    assert out.dtype == np.float32 and out.shape == (3, 3)
    valid = np.isfinite(depth) & (depth > 0)
    np.testing.assert_array_equal(out[valid], depth[valid])
    assert np.isnan(out[~valid]).all()


def test_depth_32fc1_big_endian_and_padded():
    depth = np.array([[1.0, 2.5], [np.nan, 40.0]], np.float32)
    out = image_to_depth(raw_image(depth, "32FC1", step=12, big_endian=True))
    np.testing.assert_array_equal(out, depth)


def test_reading_32fc1_keeps_rep117_infinities_and_drops_non_positive():
    depth = np.array([[np.inf, -np.inf, 0.0, -3.0, 7.5]], np.float32)
    out = image_to_depth(raw_image(depth, "32FC1"))
    np.testing.assert_array_equal(out, [[np.inf, -np.inf, np.nan, np.nan, 7.5]])


def test_depth_16uc1_millimetres_with_zero_invalid():
    mm = np.array([[0, 1], [1500, 65535]], np.uint16)
    out = image_to_depth(raw_image(mm, "16UC1"))
    assert np.isnan(out[0, 0])
    np.testing.assert_allclose(out[[0, 1, 1], [1, 0, 1]], [0.001, 1.5, 65.535], rtol=1e-6)


def test_colour_image_is_not_depth(rgb):
    with pytest.raises(ImageFormatError, match="'rgb8' is not a depth encoding"):
        image_to_depth(raw_image(rgb, "rgb8"))


# ------------------------------------------------------------------------------------- camera info


def test_make_camera_info_fields(header):
    info = make_camera_info(K_PX, 1242, 375, header, TYPES)
    assert (info.width, info.height, info.distortion_model) == (1242, 375, "plumb_bob")
    np.testing.assert_array_equal(info.d, np.zeros(5))
    np.testing.assert_array_equal(info.k, K_PX.reshape(-1))
    np.testing.assert_array_equal(info.r, np.eye(3).reshape(-1))
    np.testing.assert_array_equal(info.p.reshape(3, 4), np.hstack([K_PX, np.zeros((3, 1))]))
    for name in ("d", "k", "r", "p"):
        assert getattr(info, name).dtype == np.float64
    np.testing.assert_array_equal(camera_info_to_K(info), K_PX)


def test_camera_info_to_K_reads_p_then_falls_back_to_k(header):
    info = make_camera_info(K_PX, 1242, 375, header, TYPES)
    rectified = np.array([[700.0, 0, 600, -380], [0, 700.0, 180, 0], [0, 0, 1, 0]])
    info.p = rectified.reshape(-1)
    np.testing.assert_array_equal(camera_info_to_K(info), rectified[:, :3])
    info.p = np.zeros(12)
    np.testing.assert_array_equal(camera_info_to_K(info), K_PX)
    info.k = np.zeros(9)
    with pytest.raises(ImageFormatError, match="uncalibrated"):
        camera_info_to_K(info)
    info.p = np.zeros(7)
    with pytest.raises(ImageFormatError, match="'p' has 7 values"):
        camera_info_to_K(info)


def test_scale_camera_info_follows_image_proc(header):
    info = make_camera_info(K_PX, 1242, 375, header, TYPES)
    info.p = np.array([700.0, 0, 600, -380, 0, 710.0, 180, 5, 0, 0, 1, 0])
    info.roi.x_offset, info.roi.width, info.roi.y_offset, info.roi.height = 100, 1000, 50, 300
    out = scale_camera_info(info, 621, 750)
    sx, sy = 0.5, 2.0
    assert (out.width, out.height) == (621, 750)
    np.testing.assert_allclose(out.k, [720 * sx, 0, 610.5 * sx, 0, 715 * sy, 172.25 * sy, 0, 0, 1])
    np.testing.assert_allclose(out.p, [700 * sx, 0, 600 * sx, -380 * sx, 0, 710 * sy, 180 * sy, 5, 0, 0, 1, 0])
    assert (out.roi.x_offset, out.roi.width, out.roi.y_offset, out.roi.height) == (50, 500, 100, 600)
    np.testing.assert_array_equal(out.d, info.d)
    # the input is untouched
    assert info.width == 1242 and info.k[0] == 720 and info.roi.width == 1000
    assert out.header.frame_id == header.frame_id


# -------------------------------------------------------------------------------------- point clouds


def test_depth_to_points_matches_hand_computation():
    K = np.array([[2.0, 0, 1.0], [0, 4.0, 0.5], [0, 0, 1]])
    depth = np.array([[2.0, 4.0, 0.0], [np.nan, 1.0, 8.0]], np.float32)
    points = depth_to_points(depth, K)
    assert points.shape == (2, 3, 3) and points.dtype == np.float32
    # (u, v) = (0, 0), Z = 2: X = (0 − 1)·2/2 = −1, Y = (0 − 0.5)·2/4 = −0.25
    np.testing.assert_allclose(points[0, 0], [-1.0, -0.25, 2.0])
    # (u, v) = (1, 0), Z = 4: X = 0, Y = −0.5
    np.testing.assert_allclose(points[0, 1], [0.0, -0.5, 4.0])
    # (u, v) = (2, 1), Z = 8: X = (2 − 1)·8/2 = 4, Y = (1 − 0.5)·8/4 = 1
    np.testing.assert_allclose(points[1, 2], [4.0, 1.0, 8.0])
    assert np.isnan(points[0, 2]).all() and np.isnan(points[1, 0]).all()


def test_pointcloud2_layout_and_round_trip(header):
    points = depth_to_points(np.array([[1.0, 2.0, 3.0], [4.0, 0.0, 6.0]], np.float32), K_PX)
    cloud = points_to_pointcloud2(points, header, TYPES)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (2, 3, 12, 36)
    assert cloud.is_bigendian is False and cloud.is_dense is False
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, 7, 1),
        ("y", 4, 7, 1),
        ("z", 8, 7, 1),
    ]
    assert cloud.data.dtype == np.uint8 and cloud.data.size == 2 * 36
    np.testing.assert_array_equal(pointcloud2_to_points(cloud), points)
    dense = points_to_pointcloud2(np.zeros((1, 2, 3)), header, TYPES)
    assert dense.is_dense is True


def test_pointcloud2_reader_honours_point_step_and_endianness(header):
    """A big-endian cloud with an extra intensity field and padded rows, as drivers publish them."""
    xyz = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    record = np.dtype(
        {"names": ["x", "y", "z", "intensity"], "formats": [">f4"] * 4, "offsets": [0, 4, 8, 16], "itemsize": 20}
    )
    cloud_array = np.zeros((2, 2), record)
    for i, name in enumerate("xyz"):
        cloud_array[name] = xyz[:, :, i]
    rows = np.zeros((2, 48), np.uint8)
    rows[:, :40] = cloud_array.view(np.uint8).reshape(2, 40)
    fields = [
        TYPES.PointField(name=n, offset=o, datatype=7, count=1)
        for n, o in zip(["x", "y", "z", "intensity"], [0, 4, 8, 16])
    ]
    msg = TYPES.PointCloud2(
        header=header,
        height=2,
        width=2,
        fields=fields,
        is_bigendian=True,
        point_step=20,
        row_step=48,
        data=rows.reshape(-1),
        is_dense=True,
    )
    np.testing.assert_array_equal(pointcloud2_to_points(msg), xyz)
    msg.fields = fields[:2]
    with pytest.raises(ImageFormatError, match="no 'z' field"):
        pointcloud2_to_points(msg)


# --------------------------------------------------------------------------------- headers and CDR


@pytest.mark.parametrize("stamp_ns", [0, 1, STAMP_NS, -1_500_000_000])
def test_header_stamp_round_trip(stamp_ns):
    header = make_header(stamp_ns, "frame", TYPES)
    assert 0 <= header.stamp.nanosec < 1_000_000_000
    assert stamp_to_ns(header) == stamp_ns


def test_header_rejects_out_of_range_stamp():
    with pytest.raises(ValueError, match="int32"):
        make_header(2**31 * 1_000_000_000, "frame", TYPES)


def test_default_types_without_ros_are_rosbags():
    pytest.importorskip("rosbags")
    try:
        import sensor_msgs.msg  # noqa: F401
    except ImportError:
        assert messages.default_message_types() is TYPES
    else:
        pytest.skip("ROS 2 message packages are importable; defaults are the rosidl classes")


def test_cdr_round_trip_through_rosbags_typestore(rgb, header):
    image = rgb_to_image(rgb, header, "bgr8", TYPES)
    info = make_camera_info(K_PX, 10, 6, header, TYPES)
    depth = depth_to_image(np.array([[1.0, np.nan]], np.float32), header, TYPES)
    cloud = points_to_pointcloud2(depth_to_points(np.ones((2, 2), np.float32), K_PX), header, TYPES)
    for msg in (image, info, depth, cloud):
        raw = serialize(msg)
        assert isinstance(raw, bytes)
        back = deserialize(raw, msg.__msgtype__)
        assert stamp_to_ns(back.header) == STAMP_NS and back.header.frame_id == "camera_color_left"
    back_image = deserialize(serialize(image, "sensor_msgs/msg/Image"), "sensor_msgs/msg/Image")
    np.testing.assert_array_equal(image_to_rgb(back_image), rgb)
    np.testing.assert_array_equal(camera_info_to_K(deserialize(serialize(info), info.__msgtype__)), K_PX)
    assert np.isnan(image_to_depth(deserialize(serialize(depth), depth.__msgtype__))[0, 1])
    np.testing.assert_array_equal(
        pointcloud2_to_points(deserialize(serialize(cloud), cloud.__msgtype__)), pointcloud2_to_points(cloud)
    )
    assert messages.ROSBAGS_TYPESTORE is messages.rosbags_typestore()


def test_rosidl_messages_round_trip_where_ros_is_installed(rgb):
    """With ROS 2 sourced, the defaults are the rosidl classes and every conversion works on them."""
    pytest.importorskip("rclpy")
    pytest.importorskip("sensor_msgs.msg")
    from rclpy.serialization import deserialize_message, serialize_message

    types = messages.default_message_types()
    assert types.numpy_arrays is False
    header = make_header(STAMP_NS, "camera_color_left", types)
    image = rgb_to_image(rgb, header, "bgr8", types)
    image = deserialize_message(serialize_message(image), types.Image)
    np.testing.assert_array_equal(image_to_rgb(image), rgb)
    depth = np.array([[1.0, -1.0]], np.float32)
    np.testing.assert_array_equal(image_to_depth(depth_to_image(depth, header, types)), [[1.0, np.nan]])
    info = scale_camera_info(make_camera_info(K_PX, 10, 6, header, types), 20, 12)
    np.testing.assert_allclose(camera_info_to_K(info), np.diag([2, 2, 1]) @ K_PX)
    points = depth_to_points(np.ones((2, 3), np.float32), K_PX)
    np.testing.assert_array_equal(pointcloud2_to_points(points_to_pointcloud2(points, header, types)), points)
    assert stamp_to_ns(image.header) == STAMP_NS
