"""Weights folders: official Monodepth2 layout round trip, metadata, unsafe and corrupt files."""

from __future__ import annotations

import json

import pytest
import torch

from depth_ros import checkpoint
from depth_ros.checkpoint import (
    METADATA_FILE,
    CheckpointError,
    ModelMetadata,
    load_depth_network,
    load_module_state,
    load_state_file,
    read_metadata,
    save_weights_folder,
)
from depth_ros.networks import DepthDecoder, DepthNetwork, PoseDecoder, ResnetEncoder


def save_depth_folder(path, encoder, decoder, metadata=None):
    states = {"encoder": encoder.state_dict(), "depth": decoder.state_dict()}
    return save_weights_folder(path, states, metadata or ModelMetadata(64, 64))


def make_models(num_layers=18, upsample="nearest"):
    torch.manual_seed(0)
    encoder = ResnetEncoder(num_layers)
    decoder = DepthDecoder(encoder.num_ch_enc, upsample=upsample)
    return encoder.eval(), decoder.eval()


@pytest.fixture
def folder(tmp_path):
    encoder, decoder = make_models()
    pose_encoder = ResnetEncoder(18, num_input_images=2)
    pose = PoseDecoder(pose_encoder.num_ch_enc, 1, 2)
    states = {
        "encoder": encoder.state_dict(),
        "depth": decoder.state_dict(),
        "pose_encoder": pose_encoder.state_dict(),
        "pose": pose.state_dict(),
    }
    save_weights_folder(tmp_path / "weights_0", states, ModelMetadata(height=64, width=96))
    return tmp_path / "weights_0", encoder, decoder


def test_official_layout_round_trip_gives_identical_outputs(folder):
    path, encoder, decoder = folder
    assert {p.name for p in path.iterdir()} == {
        "encoder.pth",
        "depth.pth",
        "pose_encoder.pth",
        "pose.pth",
        METADATA_FILE,
    }
    encoder_state = torch.load(path / "encoder.pth", weights_only=True)
    assert (encoder_state["height"], encoder_state["width"], encoder_state["use_stereo"]) == (64, 96, False)
    assert "encoder.fc.weight" in encoder_state
    network, metadata = load_depth_network(path)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(network(x), DepthNetwork(encoder, decoder)(x), rtol=0, atol=0)
    assert (metadata.height, metadata.width) == (64, 96)


def test_official_folder_without_metadata_loads_like_monodepth2(folder):
    """What Monodepth2's own loader does: filter extra keys, read size from encoder.pth."""
    path, encoder, _ = folder
    (path / METADATA_FILE).unlink()
    metadata = read_metadata(path)
    assert (metadata.height, metadata.width, metadata.num_layers, metadata.decoder_upsample) == (
        64,
        96,
        18,
        "nearest",
    )
    theirs = ResnetEncoder(18)
    state = torch.load(path / "encoder.pth", weights_only=True)
    theirs.load_state_dict({k: v for k, v in state.items() if k in theirs.state_dict()})
    key = "encoder.conv1.weight"
    torch.testing.assert_close(theirs.state_dict()[key], encoder.state_dict()[key])


@pytest.mark.parametrize("num_layers", [18, 34, 50])
def test_resnet_depth_is_read_from_keys(tmp_path, num_layers):
    encoder, decoder = make_models(num_layers)
    save_depth_folder(tmp_path, encoder, decoder)
    (tmp_path / METADATA_FILE).unlink()
    assert read_metadata(tmp_path).num_layers == num_layers


def test_decoder_of_the_wrong_kind_fails_clearly(tmp_path):
    encoder, espcn_decoder = make_models(upsample="espcn")
    save_depth_folder(tmp_path, encoder, espcn_decoder)
    assert read_metadata(tmp_path).decoder_upsample == "nearest"  # json written as given
    with pytest.raises(CheckpointError, match="'espcn' upsampling but the network was built with 'nearest'"):
        load_depth_network(tmp_path)
    nearest = DepthDecoder(encoder.num_ch_enc)
    with pytest.raises(CheckpointError, match="'nearest' upsampling but the network was built with 'espcn'"):
        load_module_state(DepthDecoder(encoder.num_ch_enc, upsample="espcn"), nearest.state_dict(), "depth.pth")


def test_metadata_json_carries_learned_intrinsics(tmp_path):
    encoder, decoder = make_models()
    K = [[0.58, 0.0, 0.5], [0.0, 1.92, 0.5], [0.0, 0.0, 1.0]]
    meta = ModelMetadata(64, 64, decoder_upsample="nearest", intrinsics_norm=K)
    save_depth_folder(tmp_path, encoder, decoder, meta)
    assert json.loads((tmp_path / METADATA_FILE).read_text())["intrinsics_norm"] == K
    assert read_metadata(tmp_path).intrinsics_norm == K


def test_missing_depth_file_is_a_clear_error(folder):
    path, _, _ = folder
    (path / "depth.pth").unlink()
    with pytest.raises(CheckpointError, match=r"missing weights file .*depth\.pth"):
        load_depth_network(path)


@pytest.mark.parametrize("name", ["depth.pth", "adam.pth"])
def test_an_empty_file_is_one_clear_error_not_an_index_error(folder, name):
    path, _, _ = folder
    (path / name).write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"cannot read .*{name}: corrupt or truncated \(\w+"):
        load_state_file(path / name)


def test_truncated_file_is_a_clear_error(folder):
    path, _, _ = folder
    data = (path / "depth.pth").read_bytes()
    (path / "depth.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_state_file(path / "depth.pth")


class _Payload:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Payload.marker),))


def test_pickled_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "executed"
    _Payload.marker = str(marker)
    torch.save({"decoder.0.conv.conv.weight": _Payload()}, tmp_path / "depth.pth")
    with pytest.raises(CheckpointError, match="refusing"):
        load_state_file(tmp_path / "depth.pth")
    assert not marker.exists()


def test_saves_are_atomic_and_leave_no_temporary_files(folder):
    path, _, _ = folder
    assert not [p for p in path.iterdir() if p.name.startswith(".")]


def test_architecture_mismatch_is_a_clear_error(tmp_path):
    _, decoder = make_models()
    state = decoder.state_dict()
    state["decoder.0.conv.conv.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(CheckpointError, match="does not fit the network"):
        load_module_state(decoder, state, "depth.pth")


def test_a_weights_folder_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A full disk after two files left ``weights_0`` with encoder.pth and depth.pth only, and inference took it."""
    states = {name: {"w": torch.zeros(2)} for name in ("encoder", "depth", "pose_encoder", "pose")}
    metadata = ModelMetadata(height=64, width=192)
    real_save, saved = checkpoint.save_state_file, []

    def disk_full_after_two(path, state):
        if len(saved) == 2:
            raise OSError(28, "No space left on device")
        saved.append(path)
        return real_save(path, state)

    monkeypatch.setattr(checkpoint, "save_state_file", disk_full_after_two)
    with pytest.raises(OSError, match="No space left"):
        save_weights_folder(tmp_path / "weights_0", states, metadata, extra_files={"adam.pth": {}})
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging
    monkeypatch.setattr(checkpoint, "save_state_file", real_save)
    folder = save_weights_folder(tmp_path / "weights_0", states, metadata, extra_files={"adam.pth": {}})
    assert sorted(p.name for p in folder.iterdir()) == ["adam.pth", "depth.pth", "depth_ros.json", "encoder.pth",
                                                         "pose.pth", "pose_encoder.pth"]
    save_weights_folder(folder, {"encoder": states["encoder"], "depth": states["depth"]}, metadata)
    assert sorted(p.name for p in folder.iterdir()) == ["depth.pth", "depth_ros.json", "encoder.pth"]  # replaced whole
    assert [p.name for p in tmp_path.iterdir()] == ["weights_0"]
