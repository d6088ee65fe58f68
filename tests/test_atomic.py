import os

import pytest

from mlreg import atomic


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.toml"
    atomic.write_atomic(str(target), "one")
    atomic.write_atomic(str(target), b"two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["f.toml"]


def test_write_atomic_respects_umask(tmp_path):
    old = os.umask(0o002)
    try:
        atomic.write_atomic(str(tmp_path / "g"), "x")
    finally:
        os.umask(old)
    assert (tmp_path / "g").stat().st_mode & 0o777 == 0o664


def test_create_exclusive_only_once(tmp_path):
    path = str(tmp_path / "id")
    assert atomic.create_exclusive(path, "first")
    assert not atomic.create_exclusive(path, "second")
    assert open(path).read() == "first"
    assert sorted(os.listdir(tmp_path)) == ["id"]


def test_read_bytes_refuses_symlinks_and_large_files(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"x" * 100)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(OSError):
        atomic.read_bytes(str(tmp_path / "link"), 1000)
    with pytest.raises(ValueError):
        atomic.read_bytes(str(real), 10)
    assert atomic.read_bytes(str(real), 100) == b"x" * 100
