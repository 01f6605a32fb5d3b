"""Atomic file output: write under a temporary sibling name, then rename, so readers never see half a file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _temporary_sibling(path: Path) -> Path:
    """A new empty file beside ``path`` (its folder created), named so that globs for ``path``'s kind skip it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp_name)


def _plain_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file: 0666 less the umask (``mkstemp`` gives 0600)."""
    return 0o666 & ~current_umask()


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``; on error nothing is left behind.

    The file gets the mode a plain ``open(path, "w")`` would give it (0666 less the umask), not ``mkstemp``'s
    0600, so that a node running as another user can read a model written here.
    """
    path = Path(path)
    tmp = _temporary_sibling(path)
    try:
        write(tmp)
        tmp.chmod(_plain_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_set(files: dict[Path, bytes]) -> list[Path]:
    """Write several files as a set: every one to a temporary sibling first, then all renamed into place, so a
    failure (a full disk) leaves the previous set untouched instead of a mix of old and new files."""
    mode = _plain_file_mode()
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            tmp = _temporary_sibling(path)
            staged.append((tmp, path))
            tmp.write_bytes(data)
            tmp.chmod(mode)
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return list(files)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def staged_directory(final: str | Path) -> Iterator[Path]:
    """Yield a path inside a fresh temporary sibling directory; on success move it to ``final``.

    For writers that create a directory themselves (a rosbag2 bag): the yielded path does not exist
    yet. Refuses to replace an existing ``final``; on error the temporary directory is removed.
    """
    final = Path(final)
    if final.exists():
        raise FileExistsError(f"{final} exists already; not overwriting it")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        target = staging / final.name
        yield target
        os.replace(target, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staged_folder(final: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create the folder ``final`` whole: ``fill(staging)`` writes into a fresh temporary sibling folder, which then
    replaces ``final`` (an existing one is moved aside first and removed after). On error nothing changes."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    previous = staging.with_suffix(".old")
    try:
        fill(staging)
        staging.chmod(0o777 & ~current_umask())
        if final.exists():
            os.replace(final, previous)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
    return final
