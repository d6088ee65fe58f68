import subprocess
import sys
import time

import pytest

from mlreg import lock
from mlreg.errors import IntegrityError, LockTimeout

HOLD = """
import sys, time
from mlreg import lock
l = lock.Lock(sys.argv[1], timeout=5)
l.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(path, seconds):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_timeout_names_the_holder(tmp_path):
    path = tmp_path / ".lock"
    p = _holder(path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(LockTimeout) as e:
            lock.Lock(str(path), timeout=0.3, what="model 'x'").acquire()
        assert time.monotonic() - start < 5
        assert f"pid {p.pid}" in str(e.value) and "model 'x'" in str(e.value)
        assert LockTimeout.exit_code == 6
    finally:
        p.kill()
        p.wait()


def test_lock_of_a_killed_holder_is_free_at_once(tmp_path):
    path = tmp_path / ".lock"
    p = _holder(path, 30)
    p.kill()
    p.wait()
    with lock.Lock(str(path), timeout=1):
        assert path.exists()
    assert path.exists()  # lock files are never deleted


def test_waits_for_a_short_holder(tmp_path):
    path = tmp_path / ".lock"
    p = _holder(path, 0.5)
    with lock.Lock(str(path), timeout=10):
        pass
    p.wait()


def test_is_held_probes_without_waiting(tmp_path):
    path = str(tmp_path / ".deploy.lock")
    assert not lock.is_held(path)
    fd = lock.hold(path)
    try:
        code = "import sys; from mlreg import lock; print(lock.is_held(sys.argv[1]))"
        out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True).stdout
        assert out.strip() == "True"
    finally:
        lock.release_held(fd)
    assert not lock.is_held(path)


def test_lock_file_symlink_is_refused(tmp_path):
    target = tmp_path / "outside"
    target.write_text("keep")
    link = tmp_path / ".lock"
    link.symlink_to(target)
    with pytest.raises(IntegrityError):
        lock.Lock(str(link), timeout=1).acquire()
    assert target.read_text() == "keep"
