"""Networks of Monodepth2 and the seed paper's extensions, torchvision style: explicit constructors."""

from depth_ros.networks.depth_decoder import DepthDecoder
from depth_ros.networks.depth_network import DepthNetwork
from depth_ros.networks.espcn import ESPCN
from depth_ros.networks.intrinsics_head import IntrinsicsHead
from depth_ros.networks.pose_cnn import PoseCNN
from depth_ros.networks.pose_decoder import PoseDecoder
from depth_ros.networks.resnet_encoder import ResnetEncoder

__all__ = [
    "ESPCN",
    "DepthDecoder",
    "DepthNetwork",
    "IntrinsicsHead",
    "PoseCNN",
    "PoseDecoder",
    "ResnetEncoder",
]
