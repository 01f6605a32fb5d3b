"""Split files: ``<folder> <frame index> <side>`` lines, looked up by name or given as a folder."""

from __future__ import annotations

from pathlib import Path

SPLIT_FILES = ("train_files.txt", "val_files.txt")


class SplitError(FileNotFoundError):
    """A split cannot be found or read."""


def resolve_split_dir(split: str, splits_dir: str | Path) -> Path:
    """The folder holding ``train_files.txt`` and ``val_files.txt`` for ``split``.

    ``split`` is either a name looked up inside ``splits_dir`` (``eigen_zhou`` → ``<splits_dir>/eigen_zhou``) or
    a path to such a folder. Raises SplitError with one line saying where it looked and what to do.
    """
    as_path = Path(split).expanduser()
    folder = as_path if as_path.is_dir() else Path(splits_dir).expanduser() / split
    missing = [name for name in SPLIT_FILES if not (folder / name).is_file()]
    if missing:
        raise SplitError(
            f"split '{split}' not found: {folder} lacks {' and '.join(missing)}; copy Monodepth2's splits/ "
            f"folder into {Path(splits_dir).expanduser()} (see training/splits/README.md) or pass --split FOLDER"
        )
    return folder


def read_split_file(path: str | Path) -> list[str]:
    """The non-empty lines of a split file, stripped."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SplitError(f"cannot read split file {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
