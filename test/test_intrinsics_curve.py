"""The helpers of benchmarks/intrinsics_curve.py: the ``--one_k`` hook and the split filter for wider frame ids."""

from pathlib import Path

import torch

from benchmarks.intrinsics_curve import constant_input, keep_lines_with_neighbours
from depth_ros.networks.intrinsics_head import IntrinsicsHead


def test_one_k_gives_every_sample_the_same_K_and_still_learns():
    torch.manual_seed(0)
    head = IntrinsicsHead(16)
    torch.nn.init.normal_(head.offset_conv.weight)
    torch.nn.init.normal_(head.focal_conv.weight)
    free = head(torch.rand(3, 16, 1, 1))
    assert not torch.allclose(free[0], free[1])  # on real bottlenecks each sample has its own K

    head.register_forward_pre_hook(constant_input)
    K = head(torch.rand(3, 16, 1, 1))
    assert torch.equal(K[0], K[1]) and torch.equal(K[0], K[2])
    K[:, 1, 2].sum().backward()  # cy still moves with the head's weights
    assert head.offset_conv.weight.grad.abs().sum() > 0


def test_split_keeps_only_frames_with_every_neighbour(tmp_path: Path):
    for name in ("train_files.txt", "val_files.txt"):
        (tmp_path / name).write_text("".join(f"2011_09_26/drive {i} l\n" for i in range(10)))
    keep_lines_with_neighbours(tmp_path, [0, -2, -1, 1, 2], frames=10)
    for name in ("train_files.txt", "val_files.txt"):
        kept = [int(line.split()[1]) for line in (tmp_path / name).read_text().splitlines()]
        assert kept == [2, 3, 4, 5, 6, 7]
