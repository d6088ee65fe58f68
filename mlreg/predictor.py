"""Predicting, written once: load a version through the integrity checks, keep it per
version ID, call it. The CLI, the Python client and every HTTP route of ``serve`` use
a ``Registry``'s predictor.

A loaded model is kept for as long as its ``Registry`` lives (``serve``: the
server's). Every call still reads the version's record (so a promote or a
delete is seen at once) and the trust file (so a version taken out of it stops
answering at once); a model whose version was deleted is dropped within
``EVICT_EVERY`` seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from .errors import MlregError, NotFound
from .metadata import VersionRecord

EVICT_EVERY = 5.0  # seconds between looks for deleted versions among the loaded models


class Predictor:
    def __init__(self, registry: Any) -> None:
        self.registry = registry  # the Registry that owns it (its check_trusted, load_version, version_by_id)
        self._models: dict[str, Any] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._swept = time.monotonic()
        self.on_load: Callable[[str, str, float], None] | None = None  # told each load's seconds (serve's metrics)

    @property
    def loaded(self) -> int:
        return len(self._models)

    def model_for(self, record: VersionRecord, expect_sha256: str | None = None) -> Any:
        """The loaded model of an Active version, verified and loaded once per version ID
        (a version loading in one thread is waited for by the others).

        Raises:
            NotActive, IntegrityError, PredictFailed.
        """
        self.registry.check_trusted(record, expect_sha256)
        if self._models and time.monotonic() - self._swept > EVICT_EVERY:
            self._swept = time.monotonic()
            self.evict_deleted()
        cached = self._models.get(record.version_id)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._loading.setdefault(record.version_id, threading.Lock())
        with lock:
            if record.version_id not in self._models:
                started = time.perf_counter()
                self._models[record.version_id] = self.registry.load_version(record, expect_sha256)
                if self.on_load is not None:
                    self.on_load(record.model, record.version, time.perf_counter() - started)
            return self._models[record.version_id]

    def predict(self, record: VersionRecord, payload: Any, method: str = "predict",
                expect_sha256: str | None = None) -> dict[str, Any]:
        """The CLI's predict JSON for ``payload`` (rows, ``{"inputs": ...}``, named rows or
        a CSV table) given to ``method`` of ``record``'s model.

        Raises:
            NotActive, IntegrityError, BadInput, UsageError, PredictFailed.
        """
        from .predict import call, classes_of
        from .views import prediction

        model = self.model_for(record, expect_sha256)
        return prediction(record, call(model, payload, method), classes_of(model, method))

    def evict_deleted(self) -> list[str]:
        """Drop the loaded models of versions deleted since they were loaded (a deleted
        version answers 404 at once, since every call reads its record; this gives
        back the memory). Returns the version IDs dropped."""
        dropped = []
        for version_id in list(self._models):
            try:
                self.registry.version_by_id(version_id)
            except NotFound:
                dropped.append(version_id)
                with self._guard:
                    self._models.pop(version_id, None)
                    self._loading.pop(version_id, None)
            except MlregError:
                continue  # unreadable now: its routes answer 500; keep what was verified
        return dropped
