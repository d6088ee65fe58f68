"""Artifacts: the streamed copy-and-hash, and the deploy check in a child process.

Nothing here imports joblib, numpy or scikit-learn: loading happens in the
child (``mlreg.checker``), so a model that crashes, hangs or runs hostile code
at unpickling time cannot take the deploying process with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

from .errors import BadInput

CHUNK = 1 << 20
DEFAULT_NAME = "model.joblib"
_SUFFIX = re.compile(r"^\.[A-Za-z0-9_]{1,12}$")


def artifact_name(source: str) -> str:
    """The artifact's file name in a version folder: ``model`` plus the source's suffix."""
    suffix = os.path.splitext(source)[1]
    return "model" + suffix.lower() if _SUFFIX.match(suffix) else DEFAULT_NAME


def upload(source: str, storage: Any, key: str,
           progress: Callable[[int, int], None] | None = None) -> tuple[int, str]:
    """Copy the file ``source`` to the new key ``key`` of ``storage`` (a
    ``mlreg.storage.Storage``) byte for byte; return (size, sha256).

    One streamed pass (``Storage.put_stream``), a chunk at a time, never the
    whole file in memory, hashed as it goes.

    Raises:
        BadInput: the source is missing, not a regular file, or changed while
            it was being copied.
    """
    try:
        src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadInput(f"artifact {source} does not exist") from None
    except OSError as e:
        raise BadInput(f"cannot read artifact {source}: {e.strerror}") from None
    with os.fdopen(src, "rb", buffering=0) as f:
        before = os.fstat(src)
        if not stat.S_ISREG(before.st_mode):
            raise BadInput(f"artifact {source} is not a regular file")
        reader = _Bounded(f, before.st_size)
        size, digest = storage.put_stream(key, reader, None if progress is None else
                                          lambda done: progress(done, before.st_size))
        grew = bool(f.read(1))
        after = os.fstat(src)
    if grew or size != before.st_size or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        storage.delete(key)
        raise BadInput(f"artifact {source} changed while it was being copied; deploy it again once it is complete")
    return size, digest


class _Bounded:
    """A reader that stops at the size seen at the start: a file that keeps growing
    must not keep the copy going for ever."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self._f, self._left = f, limit

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        chunk = self._f.read(n) if n > 0 else b""
        self._left -= len(chunk)
        return chunk


def hash_file(path: str) -> tuple[int, str]:
    """Size and sha256 of a file, streamed."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
            size += n
    return size, digest.hexdigest()


@dataclass(frozen=True)
class CheckResult:
    """What the deploy check found. ``ok`` is False with ``reason`` and ``error`` set."""

    ok: bool
    reason: str = ""
    error: str = ""
    steps: list[tuple[str, str]] = field(default_factory=list)
    framework: str | None = None
    type: str | None = None
    libraries: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    sample_failed: bool = False  # the model loaded, but predict failed on the sample input


class _Tail:
    """What a pipe said, its last ``limit`` bytes only: a model that prints gigabytes
    costs the deploy no memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def read_all(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 1 << 16):
                self.data += chunk
                if len(self.data) > 2 * self.limit:
                    del self.data[:-self.limit]
        except OSError:
            pass

    def text(self) -> str:
        return bytes(self.data[-self.limit:]).decode("utf-8", "replace")


class Check:
    """A check running in its child process: ``result`` waits for its answer,
    ``cancel`` kills it.

    The child leads a process group of its own, and at its deadline (or once it
    has answered) the whole group is killed: a helper process the model's code
    started at import cannot hold the check's pipes open, so the time limit holds.
    Of the child's output only the tails are kept (the answer is the last line
    of stdout; the model's own printing goes to stderr)."""

    GRACE = 2.0  # seconds to read what is left once the child has exited

    def __init__(self, proc: subprocess.Popen, config: str, timeout: float) -> None:
        import threading
        import time

        self._proc = proc
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._stdout, self._stderr = _Tail(64 << 20), _Tail(256 << 10)
        self._readers = [threading.Thread(target=tail.read_all, args=(pipe.fileno(),), daemon=True)
                         for tail, pipe in ((self._stdout, proc.stdout), (self._stderr, proc.stderr))]
        for reader in self._readers:
            reader.start()
        # Fed on a thread: a large sample input must not wait for the child to read it.
        threading.Thread(target=self._feed, args=(config,), daemon=True).start()

    def _feed(self, config: str) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(config)
            self._proc.stdin.close()
        except (OSError, ValueError):
            pass

    def _kill_group(self) -> None:
        import signal

        with contextlib.suppress(OSError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._proc.kill()

    def cancel(self) -> None:
        self._kill_group()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(self.GRACE)

    def _finish_reading(self) -> None:
        import time

        stop = time.monotonic() + self.GRACE
        for reader in self._readers:
            reader.join(max(0.0, stop - time.monotonic()))
        self._kill_group()  # the helpers the model left behind, with the pipes they hold
        for reader, pipe in zip(self._readers, (self._proc.stdout, self._proc.stderr)):
            reader.join(0.5)
            if not reader.is_alive() and pipe is not None:  # a reader still in read() keeps its fd
                with contextlib.suppress(OSError):
                    pipe.close()

    def result(self) -> CheckResult:
        import time

        try:
            self._proc.wait(max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill_group()
            self._finish_reading()
            return CheckResult(
                ok=False,
                reason=f"the check did not finish within {self._timeout:g}s (--check-timeout)",
                error=_tail(self._stderr.text()),
            )
        self._finish_reading()
        stdout, stderr = self._stdout.text(), self._stderr.text()
        try:
            answer = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            code = self._proc.returncode
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
            return CheckResult(ok=False, reason=f"the check process {how} without an answer", error=_tail(stderr))
        return _answered(answer, stderr)


_IN_PROCESS = threading.Lock()


class _InProcessCheck:
    """The check run in this process, for tests that are not about the check
    (``MLREG_TEST_CHECK=in-process``): no time limit, no process of its own.

    One runs at a time: checks started side by side (import-mlflow's threads) would
    otherwise import scikit-learn's modules from two threads at once, which Python's
    import lock may refuse as a deadlock; each real check has a process of its own."""

    def __init__(self, artifact: str, sample_input: Any, convert: tuple[str, str] | None = None) -> None:
        self.artifact, self.sample_input, self.convert = artifact, sample_input, convert

    def cancel(self) -> None:
        pass

    def result(self) -> CheckResult:
        from .checker import check

        with _IN_PROCESS:
            return _answered(check(self.artifact, self.sample_input, convert=self.convert), "")


class Done:
    """A check whose result is known already (a conversion that failed: nothing to load)."""

    def __init__(self, result: CheckResult) -> None:
        self._result = result

    def cancel(self) -> None:
        pass

    def result(self) -> CheckResult:
        return self._result


def _answered(answer: dict[str, Any], stderr: str) -> CheckResult:
    """The check's answer (its JSON) as a result; ``stderr``'s tail is the error of a
    failure that named none."""
    return CheckResult(
        ok=bool(answer.get("ok")),
        reason=str(answer.get("reason", "")),
        error=str(answer.get("error", "")) or (_tail(stderr) if not answer.get("ok") else ""),
        steps=[tuple(step) for step in answer.get("steps", [])],
        framework=answer.get("framework"),
        type=answer.get("type"),
        libraries=dict(answer.get("libraries", {})),
        signature=dict(answer.get("signature", {})),
        sample_failed=bool(answer.get("sample_failed")),
    )


def start_check(artifact: str, sample_input: Any = None, timeout: float = 300.0,
                code_dir: str | None = None, cwd: str | None = None,
                convert: tuple[str, str] | None = None) -> Check:
    """Start loading ``artifact`` in a fresh Python process with a time limit, to check it.

    The child finds a callable ``predict`` and, when ``sample_input`` is given,
    runs one prediction on it. Its answer is one JSON document on stdout; the
    model's own printing is sent to stderr in the child.

    The child must prove what a later load will do, so it must not see the
    deployer's current folder (a model whose class sits in ``./features.py``
    used to pass the check and then fail in every `predict`): it runs in
    ``cwd`` (default: the artifact's folder, the version's) with ``-P`` (no
    current folder on ``sys.path``), and finds the model's own code only in
    ``code_dir`` (``deploy --code``).

    With ``convert`` (a format and a path), the child converts the artifact to that
    format at that path instead, and proves parity on ``sample_input``
    (``mlreg.convert``).
    """
    if code_dir is None and os.environ.get("MLREG_TEST_CHECK") == "in-process":
        return _InProcessCheck(artifact, sample_input, convert)  # type: ignore[return-value]
    config = json.dumps({"artifact": artifact, "sample_input": sample_input, "code": code_dir, "convert": convert})
    # mlreg itself is found where this process found it (an install, or a source
    # checkout), after everything else on the child's path.
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-P", "-c",
               f"import sys; sys.path.append({package_parent!r}); from mlreg.checker import main; main()"]
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=cwd or os.path.dirname(os.path.abspath(artifact)),
        env={**CHECK_THREADS, **os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        start_new_session=True,  # a group of its own, killed whole at the deadline
    )
    return Check(proc, config, timeout)


# A check predicts a few sample rows: one thread of each numeric library is plenty, and
# checks running side by side (import-mlflow) would otherwise start a pool per core each
# (OpenBLAS's alone cost a numpy import about 60 ms more CPU). The caller's own settings win.
CHECK_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").rstrip().splitlines()[-lines:])
