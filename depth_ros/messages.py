"""numpy ⇄ sensor_msgs: the one module that builds messages from arrays and reads arrays from messages.

Works with two sets of message classes that share field names:

- the rosidl classes (``sensor_msgs.msg`` …) when they are importable, i.e. inside a sourced ROS 2
  environment (used by ``node.py``);
- otherwise the ``rosbags`` Humble typestore dataclasses (used by the bag tools and tests), whose
  array fields must be numpy arrays and which serialise to CDR with :func:`serialize`.

Conventions: images are H×W(×C) numpy arrays; depth is metres along the camera Z axis in the
optical frame (REP-103/118) with NaN for invalid pixels (REP-117); ``K_px`` is a 3×3 pinhole matrix
in pixels of the image it belongs to.
"""

from __future__ import annotations

import array
import copy
import functools
import operator
import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from depth_ros.encodings import COLOUR_ENCODINGS, DEPTH_ENCODINGS, Encoding, sixteen_to_eight_bit
from depth_ros.interface import QosSettings

__all__ = [
    "ImageFormatError",
    "MessageTypes",
    "camera_info_to_K",
    "default_message_types",
    "depth_to_image",
    "depth_to_points",
    "deserialize",
    "image_to_depth",
    "image_to_rgb",
    "make_camera_info",
    "make_header",
    "pointcloud2_to_points",
    "points_to_pointcloud2",
    "rgb_to_image",
    "rosbags_message_types",
    "rosbags_qos",
    "rosbags_typestore",
    "scale_camera_info",
    "serialize",
    "stamp_to_ns",
]

_NS_PER_S = 1_000_000_000
_POINTFIELD_FLOAT32 = 7
_POINTFIELD_FLOAT64 = 8


class ImageFormatError(ValueError):
    """A sensor message (Image, CameraInfo, PointCloud2) that is malformed or cannot be converted."""


@dataclass(frozen=True)
class MessageTypes:
    """The message classes of one backend.

    ``numpy_arrays`` is True for the rosbags typestore, whose variable-length array fields
    (``Image.data``, ``CameraInfo.d``, ``PointCloud2.data``) must be numpy arrays; the rosidl classes
    take ``array.array`` there. Fixed-size arrays (``k``, ``r``, ``p``) are numpy in both.
    """

    Time: Any
    Header: Any
    Image: Any
    CameraInfo: Any
    RegionOfInterest: Any
    PointCloud2: Any
    PointField: Any
    numpy_arrays: bool


@functools.cache
def rosbags_typestore() -> Any:
    """The ``rosbags`` ROS 2 Humble typestore (message classes and CDR (de)serialisation)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def rosbags_qos(settings: QosSettings) -> Any:
    """The ``rosbags`` QoS profile of one of the node interface's settings, as rosbag2 records it in
    ``offered_qos_profiles`` (keep-last, automatic liveliness, no deadline, lifespan or lease)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    never = QosTime(0, 0)
    return Qos(
        QosHistory.KEEP_LAST,
        settings.depth,
        QosReliability.RELIABLE if settings.reliable else QosReliability.BEST_EFFORT,
        QosDurability.TRANSIENT_LOCAL if settings.transient_local else QosDurability.VOLATILE,
        never,
        never,
        QosLiveliness.AUTOMATIC,
        never,
        False,
    )


def __getattr__(name: str) -> Any:
    """Lazy module attribute ``ROSBAGS_TYPESTORE``, so importing this module does not need rosbags."""
    if name == "ROSBAGS_TYPESTORE":
        return rosbags_typestore()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def rosbags_message_types() -> MessageTypes:
    """Message classes from the rosbags Humble typestore; use these for anything written to a bag."""
    types = rosbags_typestore().types
    return MessageTypes(
        Time=types["builtin_interfaces/msg/Time"],
        Header=types["std_msgs/msg/Header"],
        Image=types["sensor_msgs/msg/Image"],
        CameraInfo=types["sensor_msgs/msg/CameraInfo"],
        RegionOfInterest=types["sensor_msgs/msg/RegionOfInterest"],
        PointCloud2=types["sensor_msgs/msg/PointCloud2"],
        PointField=types["sensor_msgs/msg/PointField"],
        numpy_arrays=True,
    )


@functools.cache
def default_message_types() -> MessageTypes:
    """The rosidl message classes when ROS 2 is sourced, else :func:`rosbags_message_types`."""
    try:
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
        from std_msgs.msg import Header
    except ImportError:
        return rosbags_message_types()
    return MessageTypes(
        Time=Time,
        Header=Header,
        Image=Image,
        CameraInfo=CameraInfo,
        RegionOfInterest=RegionOfInterest,
        PointCloud2=PointCloud2,
        PointField=PointField,
        numpy_arrays=False,
    )


def serialize(msg: Any, msgtype: str | None = None) -> bytes:
    """CDR (little-endian) bytes of a rosbags message; ``msgtype`` defaults to ``msg.__msgtype__``."""
    typename = msgtype if msgtype is not None else msg.__msgtype__
    return bytes(rosbags_typestore().serialize_cdr(msg, typename))


def deserialize(raw: bytes | memoryview, msgtype: str) -> Any:
    """Decode CDR bytes into a rosbags message of type ``msgtype`` (e.g. ``'sensor_msgs/msg/Image'``)."""
    return rosbags_typestore().deserialize_cdr(raw, msgtype)


# --------------------------------------------------------------------------------------------------
# Headers


def make_header(stamp_ns: int, frame_id: str, types: MessageTypes | None = None) -> Any:
    """``std_msgs/Header`` for a stamp in integer nanoseconds since the epoch."""
    types = types or default_message_types()
    sec, nanosec = divmod(operator.index(stamp_ns), _NS_PER_S)
    if not -(2**31) <= sec < 2**31:
        raise ValueError(f"stamp {stamp_ns} ns does not fit builtin_interfaces/Time (int32 seconds)")
    return types.Header(stamp=types.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def stamp_to_ns(header: Any) -> int:
    """Integer nanoseconds since the epoch of a ``std_msgs/Header``'s stamp."""
    return int(header.stamp.sec) * _NS_PER_S + int(header.stamp.nanosec)


# --------------------------------------------------------------------------------------------------
# Array fields


def _byte_field(arr: np.ndarray, types: MessageTypes) -> Any:
    """A ``uint8[]`` field value holding the raw bytes of the C-contiguous ``arr``."""
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return flat if types.numpy_arrays else array.array("B", flat.tobytes())


def _float64_field(values: np.ndarray, types: MessageTypes) -> Any:
    """A variable-length ``float64[]`` field value."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return flat.copy() if types.numpy_arrays else array.array("d", flat.tolist())


def _bytes_of(data: Any, what: str) -> np.ndarray:
    """The 1-D uint8 view of a ``uint8[]`` field (numpy array, array.array, bytes or list of ints)."""
    try:
        if isinstance(data, np.ndarray):
            buf = data.reshape(-1)
        elif isinstance(data, (bytes, bytearray, memoryview, array.array)):
            buf = np.frombuffer(data, dtype=np.uint8)
        else:
            buf = np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ImageFormatError(f"{what}: data is not a byte array ({exc})") from None
    if buf.dtype != np.uint8:
        raise ImageFormatError(f"{what}: data has dtype {buf.dtype}, expected uint8")
    return buf


def _int_field(msg: Any, name: str, what: str) -> int:
    """An integer field of ``msg``, or ImageFormatError when it is missing or not an integer."""
    try:
        return operator.index(getattr(msg, name))
    except (AttributeError, TypeError):
        raise ImageFormatError(f"{what}: field '{name}' is missing or not an integer") from None


def _float_array(msg: Any, name: str, size: int, what: str) -> np.ndarray:
    """A fixed-size float64 array field (``k``, ``r``, ``p``) as a flat numpy copy."""
    try:
        values = np.array(getattr(msg, name), dtype=np.float64).reshape(-1)
    except (AttributeError, TypeError, ValueError):
        raise ImageFormatError(f"{what}: field '{name}' is missing or not numeric") from None
    if values.size != size:
        raise ImageFormatError(f"{what}: field '{name}' has {values.size} values, expected {size}")
    return values


# --------------------------------------------------------------------------------------------------
# Images

# ROS names the 2×2 Bayer tile from its top-left pixel, OpenCV from the second row/column.
_BAYER_TO_RGB = {
    "rggb": cv2.COLOR_BayerBG2RGB,
    "bggr": cv2.COLOR_BayerRG2RGB,
    "gbrg": cv2.COLOR_BayerGR2RGB,
    "grbg": cv2.COLOR_BayerGB2RGB,
}
_YUV422_TO_RGB = {
    "yuv422": cv2.COLOR_YUV2RGB_UYVY,
    "uyvy": cv2.COLOR_YUV2RGB_UYVY,
    "yuyv": cv2.COLOR_YUV2RGB_YUYV,
    "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUYV,
}
_GENERIC_ENCODING = re.compile(r"^(8|16|32|64)(U|S|F)C\d+$")


def _image_pixels(msg: Any, layouts: dict[str, Encoding], kind: str) -> tuple[str, np.ndarray]:
    """Validate an Image and return (encoding, H×W×C array in native byte order), honouring ``step``.

    The array is uint8 for 1-byte channels, uint16 for 2-byte and float32 for 4-byte ones.
    """
    what = "Image"
    encoding = getattr(msg, "encoding", None)
    if not isinstance(encoding, str):
        raise ImageFormatError(f"{what}: field 'encoding' is missing or not a string")
    if encoding not in layouts:
        if _GENERIC_ENCODING.match(encoding) or encoding in COLOUR_ENCODINGS or encoding in DEPTH_ENCODINGS:
            raise ImageFormatError(f"{what}: encoding '{encoding}' is not a {kind} encoding")
        raise ImageFormatError(f"{what}: unsupported encoding '{encoding}' (expected {kind}: {', '.join(layouts)})")
    height = _int_field(msg, "height", what)
    width = _int_field(msg, "width", what)
    step = _int_field(msg, "step", what)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"{what}: empty image ({width}×{height} pixels)")
    channels, channel_bytes = layouts[encoding].channels, layouts[encoding].channel_bytes
    if channels == 2 and width % 2:
        raise ImageFormatError(f"{what}: {encoding} packs pixel pairs but the width {width} is odd")
    row_bytes = width * channels * channel_bytes
    if step < row_bytes:
        raise ImageFormatError(
            f"{what}: step {step} is smaller than width × bytes per pixel = {width} × "
            f"{channels * channel_bytes} = {row_bytes} for {encoding}"
        )
    buf = _bytes_of(getattr(msg, "data", None), what)
    if buf.size < step * height:
        raise ImageFormatError(
            f"{what}: wrong byte count for {width}×{height} {encoding} with step {step}: "
            f"expected {step * height} bytes, got {buf.size}"
        )
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes].copy()  # never a view of msg.data
    if channel_bytes == 1:
        pixels = rows
    else:
        order = ">" if getattr(msg, "is_bigendian", 0) else "<"
        kind_char = "f" if encoding == "32FC1" else "u"
        stored = np.dtype(f"{order}{kind_char}{channel_bytes}")
        pixels = rows.view(stored).astype(stored.newbyteorder("="))
    return encoding, pixels.reshape(height, width, channels)


def image_to_rgb(msg: Any) -> np.ndarray:
    """Colour ``sensor_msgs/Image`` → H×W×3 uint8 RGB.

    Supports the encodings in :data:`COLOUR_ENCODINGS`: 8-bit RGB/BGR(A) and mono (replicated to
    three channels), their 16-bit forms (÷257, either endianness), Bayer mosaics (8/16 bit,
    demosaiced by OpenCV) and packed YUV 4:2:2 (``yuv422``/``uyvy``, ``yuyv``/``yuv422_yuy2``).
    Row padding in ``step`` is skipped. Anything malformed or not colour (e.g. ``32FC1``) raises
    :class:`ImageFormatError`.
    """
    encoding, pixels = _image_pixels(msg, COLOUR_ENCODINGS, "colour")
    try:
        if encoding.startswith("bayer_"):
            rgb = cv2.cvtColor(pixels[:, :, 0], _BAYER_TO_RGB[encoding[6:10]])
        elif encoding in _YUV422_TO_RGB:
            rgb = cv2.cvtColor(pixels, _YUV422_TO_RGB[encoding])
        else:
            rgb = pixels[:, :, COLOUR_ENCODINGS[encoding].rgb]
    except cv2.error as exc:
        raise ImageFormatError(f"Image: OpenCV cannot convert {encoding}: {str(exc).strip()}") from None
    if rgb.dtype == np.uint16:
        rgb = sixteen_to_eight_bit(rgb)
    return np.ascontiguousarray(rgb)


def rgb_to_image(rgb: np.ndarray, header: Any, encoding: str = "rgb8", types: MessageTypes | None = None) -> Any:
    """H×W×3 uint8 RGB → ``sensor_msgs/Image`` with ``encoding`` ``'rgb8'`` or ``'bgr8'`` (step = 3·W)."""
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"rgb_to_image writes rgb8 or bgr8, not {encoding!r}")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb_to_image expects an H×W×3 uint8 array, got {rgb.dtype} {rgb.shape}")
    types = types or default_message_types()
    pixels = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
    height, width = rgb.shape[:2]
    return types.Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * 3,
        data=_byte_field(pixels, types),
    )


def depth_to_image(depth_m: np.ndarray, header: Any, types: MessageTypes | None = None) -> Any:
    """H×W depth in metres → REP-118 ``32FC1`` Image (little-endian, step = 4·W).

    Non-finite and non-positive depths are written as NaN (REP-117 "invalid").
    """
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise ValueError(f"depth_to_image expects an H×W array, got shape {depth.shape}")
    types = types or default_message_types()
    depth = depth.astype("<f4")
    depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    height, width = depth.shape
    return types.Image(
        header=header,
        height=height,
        width=width,
        encoding="32FC1",
        is_bigendian=0,
        step=width * 4,
        data=_byte_field(depth, types),
    )


def image_to_depth(msg: Any) -> np.ndarray:
    """Depth Image → H×W float32 metres, NaN where invalid.

    ``32FC1`` is metres: finite values ≤ 0 become NaN, NaN and ±Inf (REP-117 out of range) are kept.
    ``16UC1`` is millimetres with 0 meaning invalid (OpenNI convention).
    """
    encoding, pixels = _image_pixels(msg, DEPTH_ENCODINGS, "depth")
    if encoding == "32FC1":
        depth = pixels[:, :, 0]
        depth[np.isfinite(depth) & (depth <= 0)] = np.nan
        return depth
    depth = pixels[:, :, 0].astype(np.float32) * np.float32(0.001)
    depth[pixels[:, :, 0] == 0] = np.nan
    return depth


# --------------------------------------------------------------------------------------------------
# CameraInfo


def camera_info_to_K(msg: Any) -> np.ndarray:
    """3×3 intrinsics (pixels) of the rectified image: the left 3×3 of ``p`` as image_geometry reads it.

    Falls back to ``k`` when ``p`` is all zero; raises :class:`ImageFormatError` when both are
    (an uncalibrated camera) or when the arrays are malformed.
    """
    what = "CameraInfo"
    p = _float_array(msg, "p", 12, what).reshape(3, 4)
    K = p[:, :3] if np.any(p) else _float_array(msg, "k", 9, what).reshape(3, 3)
    if not (np.all(np.isfinite(K)) and K[0, 0] > 0 and K[1, 1] > 0):
        raise ImageFormatError(f"{what}: uncalibrated or invalid intrinsics fx={K[0, 0]}, fy={K[1, 1]}")
    return K


def make_camera_info(K_px: np.ndarray, width: int, height: int, header: Any, types: MessageTypes | None = None) -> Any:
    """CameraInfo of an undistorted pinhole camera: plumb_bob with d = 0, r = I, k = K, p = [K | 0]."""
    K = np.asarray(K_px, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K_px must be 3×3, got shape {K.shape}")
    types = types or default_message_types()
    return types.CameraInfo(
        header=header,
        height=int(height),
        width=int(width),
        distortion_model="plumb_bob",
        d=_float64_field(np.zeros(5), types),
        k=K.reshape(-1).copy(),
        r=np.eye(3).reshape(-1),
        p=np.hstack([K, np.zeros((3, 1))]).reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def scale_camera_info(msg: Any, width: int, height: int) -> Any:
    """Copy of a CameraInfo for the image resized to ``width``×``height`` (image_proc's resize rule).

    With sx = width/W and sy = height/H: k[0], k[2], p[0], p[2], p[3] and the roi's x extent scale
    by sx; k[4], k[5], p[5], p[6] and the roi's y extent by sy. ``d`` and ``r`` are unchanged.
    """
    what = "CameraInfo"
    old_w, old_h = _int_field(msg, "width", what), _int_field(msg, "height", what)
    if old_w <= 0 or old_h <= 0 or width <= 0 or height <= 0:
        raise ImageFormatError(f"{what}: cannot scale {old_w}×{old_h} to {width}×{height}")
    sx, sy = width / old_w, height / old_h
    k = _float_array(msg, "k", 9, what)
    p = _float_array(msg, "p", 12, what)
    k[[0, 2]] *= sx
    k[[4, 5]] *= sy
    p[[0, 2, 3]] *= sx
    p[[5, 6]] *= sy
    out = copy.deepcopy(msg)
    out.width, out.height = int(width), int(height)
    out.k, out.p = k, p
    out.roi.x_offset = round(out.roi.x_offset * sx)
    out.roi.width = round(out.roi.width * sx)
    out.roi.y_offset = round(out.roi.y_offset * sy)
    out.roi.height = round(out.roi.height * sy)
    return out


# --------------------------------------------------------------------------------------------------
# Point clouds


def depth_to_points(depth_m: np.ndarray, K_px: np.ndarray) -> np.ndarray:
    """H×W depth (metres along Z) → H×W×3 float32 points in the camera optical frame.

    X = (u − cx)·Z/fx, Y = (v − cy)·Z/fy with u, v the pixel column and row; every coordinate is
    NaN where the depth is non-finite or ≤ 0. ``K_px`` must be the intrinsics of this H×W image.
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth_to_points expects an H×W array, got shape {depth.shape}")
    K = np.asarray(K_px, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    height, width = depth.shape
    x_scale = ((np.arange(width) - cx) / fx).astype(np.float32)
    y_scale = ((np.arange(height) - cy) / fy).astype(np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    z = np.where(valid, depth, np.float32(np.nan))
    return np.stack([z * x_scale[None, :], z * y_scale[:, None], z], axis=-1)


def _xyz_fields(types: MessageTypes) -> list[Any]:
    """PointField list x@0, y@4, z@8, each one FLOAT32."""
    return [
        types.PointField(name=name, offset=4 * i, datatype=_POINTFIELD_FLOAT32, count=1) for i, name in enumerate("xyz")
    ]


def points_to_pointcloud2(points_hw3: np.ndarray, header: Any, types: MessageTypes | None = None) -> Any:
    """H×W×3 points (metres) → organized xyz ``PointCloud2`` (height H, width W, point_step 12).

    ``is_dense`` is False when any coordinate is NaN or infinite.
    """
    points = np.asarray(points_hw3)
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"points_to_pointcloud2 expects an H×W×3 array, got shape {points.shape}")
    types = types or default_message_types()
    points = points.astype("<f4")
    height, width = points.shape[:2]
    return types.PointCloud2(
        header=header,
        height=height,
        width=width,
        fields=_xyz_fields(types),
        is_bigendian=False,
        point_step=12,
        row_step=12 * width,
        data=_byte_field(points, types),
        is_dense=bool(np.all(np.isfinite(points))),
    )


def pointcloud2_to_points(msg: Any) -> np.ndarray:
    """``PointCloud2`` with float x, y, z fields → H×W×3 float32 (any point_step, row_step, endianness)."""
    what = "PointCloud2"
    height = _int_field(msg, "height", what)
    width = _int_field(msg, "width", what)
    point_step = _int_field(msg, "point_step", what)
    row_step = _int_field(msg, "row_step", what)
    try:
        fields = {getattr(f, "name", None): f for f in getattr(msg, "fields", None) or ()}
    except TypeError:
        raise ImageFormatError(f"{what}: 'fields' is not a list of PointField") from None
    order = ">" if getattr(msg, "is_bigendian", False) else "<"
    formats, offsets = [], []
    for name in "xyz":
        field = fields.get(name)
        if field is None:
            raise ImageFormatError(f"{what}: no '{name}' field (has {sorted(map(str, fields))})")
        datatype = _int_field(field, "datatype", what)
        if datatype not in (_POINTFIELD_FLOAT32, _POINTFIELD_FLOAT64) or _int_field(field, "count", what) != 1:
            raise ImageFormatError(f"{what}: field '{name}' must be one FLOAT32 or FLOAT64 (datatype {datatype})")
        size = 4 if datatype == _POINTFIELD_FLOAT32 else 8
        offset = _int_field(field, "offset", what)
        if offset < 0 or offset + size > point_step:
            raise ImageFormatError(f"{what}: field '{name}' at offset {offset} overruns point_step {point_step}")
        formats.append(f"{order}f{size}")
        offsets.append(offset)
    if height < 0 or width < 0 or row_step < point_step * width:
        raise ImageFormatError(f"{what}: row_step {row_step} < point_step {point_step} × width {width}")
    buf = _bytes_of(getattr(msg, "data", None), what)
    if buf.size < row_step * height:
        raise ImageFormatError(f"{what}: wrong byte count: expected {row_step * height} bytes, got {buf.size}")
    rows = np.ascontiguousarray(buf[: row_step * height].reshape(height, row_step)[:, : point_step * width])
    record = np.dtype({"names": list("xyz"), "formats": formats, "offsets": offsets, "itemsize": point_step})
    cloud = rows.view(record).reshape(height, width)
    return np.stack([cloud[name].astype(np.float32) for name in "xyz"], axis=-1)
