"""Monodepth2's split files, the one place that finds and reads them (training, evaluation, ground truth, masks).

A split is a folder of text files (``train_files.txt``, ``val_files.txt``, ``test_files.txt``) whose lines are
``<folder> <frame index> <side>``: a KITTI raw drive (``<date>/<drive>``) or an odometry sequence number, the
frame index and the camera (``l``/``r`` or ``2``/``3``). A split is named (looked up in ``splits_dir``, default
``training/splits``, where users copy Monodepth2's official ``splits/``) or given as a folder path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

DEFAULT_SPLITS_DIR = Path(__file__).resolve().parents[1] / "splits"
TRAIN_FILE, VAL_FILE, TEST_FILE = "train_files.txt", "val_files.txt", "test_files.txt"
SIDE_TO_CAM = {"2": 2, "3": 3, "l": 2, "r": 3}
OTHER_SIDE = {"l": "r", "r": "l", "2": "3", "3": "2"}


class SplitError(ValueError):
    """A split folder or file is missing or malformed, or the options do not fit the split."""


@dataclasses.dataclass(frozen=True)
class SplitLine:
    """One split-file line. ``side`` is None (and the frame 0) for lines without three tokens."""

    folder: str
    frame_index: int
    side: str | None

    @classmethod
    def parse(cls, line: str) -> SplitLine:
        tokens = line.split()
        if len(tokens) == 3:
            return cls(tokens[0], int(tokens[1]), tokens[2])
        return cls(tokens[0], 0, None)

    @property
    def cam(self) -> int:
        """KITTI camera number: 2 (left colour) or 3 (right colour)."""
        return SIDE_TO_CAM[self.side]


def resolve_split_dir(
    split: str, splits_dir: str | Path = DEFAULT_SPLITS_DIR, files: Sequence[str] = (TRAIN_FILE, VAL_FILE)
) -> Path:
    """The folder holding ``files`` for ``split``.

    ``split`` is either a folder path or a name looked up inside ``splits_dir`` (``eigen_zhou`` →
    ``<splits_dir>/eigen_zhou``). Raises SplitError with one line saying where it looked and what to do.
    """
    as_path = Path(split).expanduser()
    folder = as_path if as_path.is_dir() else Path(splits_dir).expanduser() / split
    missing = [name for name in files if not (folder / name).is_file()]
    if not folder.is_dir() or missing:
        problem = f"{folder} lacks {' and '.join(missing)}" if folder.is_dir() else f"no folder {folder}"
        raise SplitError(
            f"split '{split}' not found: {problem}; copy Monodepth2's splits/ folder into "
            f"{Path(splits_dir).expanduser()} (see training/splits/README.md) or pass a split folder"
        )
    return folder


def read_split_file(path: str | Path) -> list[str]:
    """The non-empty lines of a split file, stripped."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SplitError(f"cannot read split file {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_frame_lines(path: str | Path) -> list[SplitLine]:
    """Parse a split file whose every non-empty line must be ``<folder> <frame index> <l|r|2|3>``."""
    path = Path(path)
    if not path.is_file():
        raise SplitError(f"split file {path} does not exist")
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 3 or not tokens[1].isdigit() or tokens[2] not in SIDE_TO_CAM:
            raise SplitError(f"{path}:{number}: expected '<folder> <frame index> <l|r>', got {line.strip()!r}")
        lines.append(SplitLine(tokens[0], int(tokens[1]), tokens[2]))
    if not lines:
        raise SplitError(f"split file {path} lists no frames")
    return lines
