"""Architecture facts of Monodepth2 and the extensions: shapes, parameter counts, key layout."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import ResNet18_Weights

from depth_ros.networks import ESPCN, DepthDecoder, DepthNetwork, IntrinsicsHead, PoseCNN, PoseDecoder, ResnetEncoder
from depth_ros.networks.layers import set_padding_mode
from depth_ros.networks.resnet_encoder import (
    PretrainedWeightsError,
    hub_checkpoint_path,
    load_pretrained_state_dict,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet18_encoder_shapes_and_parameter_count():
    encoder = ResnetEncoder(18)
    assert n_params(encoder) == 11_689_512  # fc included, as Monodepth2's state dict
    features = encoder(torch.rand(1, 3, 64, 96))
    assert [f.shape[1] for f in features] == [64, 64, 128, 256, 512]
    assert [f.shape[2:] for f in features] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]


def test_resnet50_channels():
    assert ResnetEncoder(50).num_ch_enc == [64, 256, 512, 1024, 2048]


def test_encoder_normalises_with_monodepth2_constants():
    encoder = ResnetEncoder(18).eval()
    x = torch.rand(1, 3, 64, 64)
    expected = encoder.encoder.relu(encoder.encoder.bn1(encoder.encoder.conv1((x - 0.45) / 0.225)))
    torch.testing.assert_close(encoder(x)[0], expected)


def test_pose_encoder_takes_stacked_pair():
    encoder = ResnetEncoder(18, num_input_images=2)
    assert encoder.encoder.conv1.weight.shape == (64, 6, 7, 7)
    assert n_params(encoder) == 11_689_512 + 9_408


def test_depth_decoder_official_layout():
    decoder = DepthDecoder(ResnetEncoder(18).num_ch_enc)
    state = decoder.state_dict()
    assert n_params(decoder) == 3_152_724
    assert len(state) == 28
    assert state["decoder.0.conv.conv.weight"].shape == (256, 512, 3, 3)
    assert state["decoder.7.conv.conv.weight"].shape == (32, 96, 3, 3)
    assert state["decoder.9.conv.conv.weight"].shape == (16, 16, 3, 3)
    assert state["decoder.10.conv.weight"].shape == (1, 16, 3, 3)
    assert state["decoder.13.conv.weight"].shape == (1, 128, 3, 3)


@pytest.mark.parametrize("upsample", ["nearest", "espcn"])
def test_depth_decoder_outputs_every_scale(upsample):
    encoder = ResnetEncoder(18)
    decoder = DepthDecoder(encoder.num_ch_enc, upsample=upsample)
    with torch.no_grad():
        outputs = decoder(encoder(torch.rand(2, 3, 64, 128)))
    for s in range(4):
        disp = outputs[("disp", s)]
        assert disp.shape == (2, 1, 64 // 2**s, 128 // 2**s)
        assert float(disp.min()) > 0 and float(disp.max()) < 1


def test_espcn_block_shapes_and_parameters():
    block = ESPCN(256)
    assert block(torch.rand(1, 256, 3, 5)).shape == (1, 256, 6, 10)
    # conv5×5 256→64, conv3×3 64→32, conv3×3 32→256·4, all with bias
    assert n_params(block) == (25 * 256 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * 1024 + 1024)


def test_espcn_decoder_keeps_official_keys_and_adds_upsamplers():
    num_ch_enc = ResnetEncoder(18).num_ch_enc
    nearest, espcn = DepthDecoder(num_ch_enc), DepthDecoder(num_ch_enc, upsample="espcn")
    extra = set(espcn.state_dict()) - set(nearest.state_dict())
    assert set(nearest.state_dict()) <= set(espcn.state_dict())
    assert extra and all(k.startswith("upsamplers.") for k in extra)
    assert n_params(espcn) - n_params(nearest) == sum(n_params(ESPCN(c)) for c in (256, 128, 64, 32, 16))


def test_pose_decoder_official_shapes():
    decoder = PoseDecoder(ResnetEncoder(18).num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    assert n_params(decoder) == 1_314_572
    assert decoder.state_dict()["net.3.weight"].shape == (12, 256, 1, 1)
    axisangle, translation = decoder([[torch.rand(3, 512, 2, 4)]])
    assert axisangle.shape == translation.shape == (3, 2, 1, 3)


def test_pose_decoder_forward_equals_squeeze_then_predict():
    decoder = PoseDecoder([64, 64, 128, 256, 512], 1, 2)
    features = [[torch.rand(2, 512, 2, 4)]]
    direct = decoder(features)
    staged = decoder.predict(decoder.squeeze(features))
    for a, b in zip(direct, staged):
        torch.testing.assert_close(a, b)
    assert decoder.bottleneck(decoder.squeeze(features)).shape == (2, decoder.bottleneck_channels, 1, 1)


def test_posecnn_shapes():
    net = PoseCNN(2)
    axisangle, translation = net(torch.rand(2, 6, 64, 128))
    assert axisangle.shape == translation.shape == (2, 1, 1, 3)
    assert set(net.state_dict()) >= {"net.0.weight", "net.6.bias", "pose_conv.weight"}


def test_intrinsics_head_starts_at_image_centre_with_positive_foci():
    head = IntrinsicsHead(256, initial_focal=(0.6, 2.0))
    K = head(torch.randn(4, 256, 1, 1))
    assert K.shape == (4, 4, 4)
    torch.testing.assert_close(K[:, 0, 2], torch.full((4,), 0.5))
    torch.testing.assert_close(K[:, 1, 2], torch.full((4,), 0.5))
    torch.testing.assert_close(K[:, 0, 0], torch.full((4,), 0.6))
    torch.testing.assert_close(K[:, 1, 1], torch.full((4,), 2.0))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        head.focal_conv.weight.normal_(0, 0.3, generator=generator)
        head.offset_conv.weight.normal_(0, 0.3, generator=generator)
    K = head(torch.randn(16, 256, 1, 1, generator=generator))
    assert bool((K[:, 0, 0] > 0).all() and (K[:, 1, 1] > 0).all()), "softplus keeps foci positive"
    assert bool((K[:, :2, 2] < 0.5).any()), "the principal point can move left/up of the centre (no softplus)"


def test_intrinsics_head_gradients_reach_both_convolutions():
    head = IntrinsicsHead(8)
    head(torch.randn(2, 8, 1, 1))[:, :2, :3].sum().backward()
    assert head.focal_conv.weight.grad.abs().sum() > 0
    assert head.offset_conv.weight.grad.abs().sum() > 0


def test_padding_mode_swap_keeps_weights_and_changes_border_only():
    encoder = ResnetEncoder(18)
    network = DepthNetwork(encoder, DepthDecoder(encoder.num_ch_enc)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        reflect = network(x)
        set_padding_mode(network, "replicate")
        replicate = network(x)
    assert reflect.shape == replicate.shape
    assert not torch.equal(reflect, replicate)


def test_pretrained_weights_offline_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(PretrainedWeightsError) as info:
        load_pretrained_state_dict(ResNet18_Weights.IMAGENET1K_V1, allow_download=False)
    assert str(hub_checkpoint_path(ResNet18_Weights.IMAGENET1K_V1)) in str(info.value)
    assert ResNet18_Weights.IMAGENET1K_V1.url in str(info.value)


def test_corrupt_cached_pretrained_weights_give_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    path = hub_checkpoint_path(ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="are not available") as info:
        load_pretrained_state_dict(ResNet18_Weights.IMAGENET1K_V1, allow_download=False)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_pretrained_weights_load_from_hub_cache_and_duplicate_conv1(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    reference = ResnetEncoder(18).encoder.state_dict()
    path = hub_checkpoint_path(ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save(reference, path)
    encoder = ResnetEncoder(18, pretrained=True, allow_download=False)
    torch.testing.assert_close(encoder.encoder.layer4[1].conv2.weight, reference["layer4.1.conv2.weight"])
    pose_encoder = ResnetEncoder(18, pretrained=True, num_input_images=2, allow_download=False)
    conv1 = pose_encoder.encoder.conv1.weight
    torch.testing.assert_close(conv1[:, :3], reference["conv1.weight"] / 2)
    torch.testing.assert_close(conv1[:, 3:], reference["conv1.weight"] / 2)
