"""ResNet encoder of Monodepth2: 1 image (depth) or N stacked images (pose), five feature maps out."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, Bottleneck

from depth_ros.errors import first_line

# Monodepth2 normalises inside the encoder with one scalar for all channels (not ImageNet's per-channel
# statistics). Official weights, ONNX exports and TensorRT engines all rely on it being here.
MONODEPTH2_MEAN = 0.45
MONODEPTH2_STD = 0.225

RESNET_SPECS: dict[int, tuple[type[nn.Module], list[int], models.WeightsEnum]] = {
    18: (BasicBlock, [2, 2, 2, 2], models.ResNet18_Weights.IMAGENET1K_V1),
    34: (BasicBlock, [3, 4, 6, 3], models.ResNet34_Weights.IMAGENET1K_V1),
    50: (Bottleneck, [3, 4, 6, 3], models.ResNet50_Weights.IMAGENET1K_V1),
    101: (Bottleneck, [3, 4, 23, 3], models.ResNet101_Weights.IMAGENET1K_V1),
    152: (Bottleneck, [3, 8, 36, 3], models.ResNet152_Weights.IMAGENET1K_V1),
}


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights are neither in the torch hub cache nor downloadable."""


def hub_checkpoint_path(weights: models.WeightsEnum) -> Path:
    """Where torch hub keeps (and where a user may place) the file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def load_pretrained_state_dict(weights: models.WeightsEnum, allow_download: bool = True) -> dict:
    """The state dict of a torchvision weight enum, through torchvision's weights API: from the torch hub cache, or
    downloaded there and checked against the hash in its file name.

    Raises PretrainedWeightsError (one line, with the URL and the cache path) when offline, when downloads are off
    and the file is not cached, or when the file is corrupt.
    """
    path = hub_checkpoint_path(weights)
    if not path.is_file() and not allow_download:
        raise PretrainedWeightsError(_missing_weights_message(weights, path, "downloads are off"))
    try:
        return weights.get_state_dict(progress=True, check_hash=True, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # URLError is an OSError
        raise PretrainedWeightsError(_missing_weights_message(weights, path, first_line(exc))) from exc


def _missing_weights_message(weights: models.WeightsEnum, path: Path, reason: str) -> str:
    return (
        f"ImageNet weights {weights} are not available ({reason}). Download {weights.url} on a machine "
        f"with network access and place it at {path} (the torch hub cache; set TORCH_HOME to move it), "
        f"or train with --weights_init scratch."
    )


def build_resnet(num_layers: int, num_input_images: int = 1) -> models.ResNet:
    """A torchvision ResNet whose first convolution takes ``3·num_input_images`` channels."""
    if num_layers not in RESNET_SPECS:
        raise ValueError(f"num_layers must be one of {sorted(RESNET_SPECS)}, got {num_layers}")
    block, layers, _ = RESNET_SPECS[num_layers]
    resnet = models.ResNet(block, layers)
    if num_input_images > 1:
        resnet.conv1 = nn.Conv2d(3 * num_input_images, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(resnet.conv1.weight, mode="fan_out", nonlinearity="relu")
    return resnet


class ResnetEncoder(nn.Module):
    """ResNet-18/34/50/101/152 → five feature maps at strides 2, 4, 8, 16, 32.

    Input: B×3N×H×W RGB in [0, 1] (N stacked frames for the pose encoder), normalised inside as
    (x − 0.45) / 0.225. Channels out: ``num_ch_enc`` = [64, 64, 128, 256, 512] (×4 after the stem for
    ResNet-50 and deeper). The backbone is ``self.encoder``, so keys are ``encoder.*`` (``fc``
    included) as in Monodepth2. With ``pretrained``, the first convolution of an N-image encoder is
    the ImageNet one repeated N times and divided by N.
    """

    def __init__(
        self,
        num_layers: int = 18,
        *,
        pretrained: bool = False,
        num_input_images: int = 1,
        allow_download: bool = True,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.num_input_images = num_input_images
        self.encoder = build_resnet(num_layers, num_input_images)
        expansion = 4 if num_layers >= 50 else 1
        self.num_ch_enc = [64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]
        if pretrained:
            state = load_pretrained_state_dict(RESNET_SPECS[num_layers][2], allow_download)
            if num_input_images > 1:
                conv1 = state["conv1.weight"]
                state["conv1.weight"] = torch.cat([conv1] * num_input_images, 1) / num_input_images
            self.encoder.load_state_dict(state)

    def forward(self, input_image: torch.Tensor) -> list[torch.Tensor]:
        x = (input_image - MONODEPTH2_MEAN) / MONODEPTH2_STD
        enc = self.encoder
        x = enc.relu(enc.bn1(enc.conv1(x)))
        features = [x]
        features.append(enc.layer1(enc.maxpool(x)))
        features.append(enc.layer2(features[-1]))
        features.append(enc.layer3(features[-1]))
        features.append(enc.layer4(features[-1]))
        return features
