"""An in-process store, so that the suite can run against something that is not a
filesystem and any assumption that only a folder holds shows."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
from typing import BinaryIO, Callable, Iterator

from ..leases import HELD, Lease
from .base import CREATE, OVERWRITE, AlreadyExists, Object, Precondition, Storage, Update


class MemoryStorage(Storage):
    def __init__(self) -> None:
        self._objects: dict[str, Object] = {}
        self._leases: dict[str, int] = {}
        self._guard = threading.Lock()
        self._versions = itertools.count(1)

    def __repr__(self) -> str:
        return f"MemoryStorage({len(self._objects)} keys)"

    def get(self, key: str, limit: int) -> Object:
        found = self._objects.get(key)
        if found is None:
            raise FileNotFoundError(key)
        if len(found.data) > limit:
            raise ValueError(f"{key} is {len(found.data)} bytes, more than the {limit} allowed")
        return found

    def put(self, key: str, data: bytes, mode: str | Update = OVERWRITE) -> str:
        with self._guard:
            current = self._objects.get(key)
            if mode == CREATE and current is not None:
                raise AlreadyExists(f"{key} exists")
            if isinstance(mode, Update) and (current is None or current.token != mode.token):
                raise Precondition(f"{key} changed" if current is not None else f"{key} is gone")
            token = f"v{next(self._versions)}"
            self._objects[key] = Object(bytes(data), token)
            return token

    def put_stream(self, key: str, source: BinaryIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
        digest = hashlib.sha256()
        chunks = []
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            chunks.append(chunk)
            if progress is not None:
                progress(sum(map(len, chunks)))
        data = b"".join(chunks)
        self.put(key, data, CREATE)
        return len(data), digest.hexdigest()

    def list(self, prefix: str) -> list[str]:
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        return sorted(k for k in list(self._objects) if k.startswith(prefix))

    def delete(self, key: str) -> None:
        with self._guard:
            self._objects.pop(key, None)

    @contextlib.contextmanager
    def lease(self, key: str, *, claim: bool = False) -> Iterator[Lease]:
        with self._guard:
            if claim and key in self._objects:
                raise AlreadyExists(f"{key} exists")
            if self._leases.get(key):
                raise RuntimeError(f"{key} is already held")
            self._objects[key] = Object(b"", f"v{next(self._versions)}")
            self._leases[key] = 1
        try:
            yield HELD
        finally:
            with self._guard:
                self._leases.pop(key, None)

    def alive(self, key: str) -> bool:
        return bool(self._leases.get(key))

    def where(self, key: str) -> str:
        return f"memory:{key}"

