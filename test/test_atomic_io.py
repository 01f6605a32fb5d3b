"""Atomic outputs: complete or absent, and readable as a plain write would leave them."""

import os
import stat
import tempfile

import pytest

from depth_ros.atomic_io import atomic_write, atomic_write_set, atomic_write_text, staged_directory


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_honour_the_umask_not_mkstemps_0600(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "opt.json", "{}")
        plain = tmp_path / "plain.json"
        plain.write_text("{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_nothing(tmp_path):
    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "model.onnx", fail)
    assert list(tmp_path.iterdir()) == []


def test_a_staged_directory_appears_only_when_complete(tmp_path):
    with pytest.raises(RuntimeError), staged_directory(tmp_path / "bag") as staging:
        staging.mkdir()
        (staging / "part.mcap").write_text("x")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with staged_directory(tmp_path / "bag") as staging:
        staging.mkdir()
        (staging / "metadata.yaml").write_text("x")
    assert [p.name for p in tmp_path.iterdir()] == ["bag"] and (tmp_path / "bag" / "metadata.yaml").is_file()


def test_a_set_of_files_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """infer on a full disk replaced an image's _disp.npy and .jpeg but left its _depth.npy (#22)."""
    files = {tmp_path / name: b"old" for name in ("a_disp.npy", "a_disp.jpeg", "a_depth.npy")}
    atomic_write_set(files)
    real_mkstemp, calls = tempfile.mkstemp, []

    def full_disk_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", full_disk_on_the_third)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_set(dict.fromkeys(files, b"new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)  # no temporary left
    assert all(path.read_bytes() == b"old" for path in files)
