"""``GET /metrics``: what `serve` has done, in the Prometheus text format (SPEC §12),
written by ``prometheus_client`` (imported by `serve` only).

Requests are labelled by route template (never the raw path, whose names are
unbounded), model and the version that answered (so after a promote the next
requests count under the new primary), and status code. The primary and the
aliases of every model are read from the registry at each scrape, as info metrics.
"""

from __future__ import annotations

from typing import Any, Iterator

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry  # mlreg's Registry: its models, primaries, aliases and predictor
        self.collectors = CollectorRegistry(auto_describe=True)
        self.requests = Counter("mlreg_requests", "HTTP requests answered", ["route", "model", "version", "code"],
                                registry=self.collectors)
        self.duration = Histogram("mlreg_request_duration_seconds", "Time to answer a request",
                                  ["route", "model", "version"], buckets=BUCKETS, registry=self.collectors)
        self.rows = Counter("mlreg_predicted_rows", "Rows predicted", ["model", "version"], registry=self.collectors)
        self.load = Histogram("mlreg_model_load_seconds", "Time to verify and load a model version",
                              ["model", "version"], buckets=LOAD_BUCKETS, registry=self.collectors)
        self.collectors.register(_RegistryState(registry))

    def request(self, route: str, model: str, version: str, code: int, seconds: float) -> None:
        self.requests.labels(route, model, version, str(code)).inc()
        self.duration.labels(route, model, version).observe(seconds)

    def predicted(self, model: str, version: str, rows: int) -> None:
        self.rows.labels(model, version).inc(rows)

    def loaded(self, model: str, version: str, seconds: float) -> None:
        self.load.labels(model, version).observe(seconds)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.collectors)


class _RegistryState:
    """What the registry says at scrape time: loaded models, primaries, aliases."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def describe(self) -> list[Any]:
        return []  # (no fixed set: read at each scrape)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from ..errors import MlregError, PartlyUnreadable

        loaded = GaugeMetricFamily("mlreg_loaded_models", "Model versions loaded in this process")
        loaded.add_metric([], self.registry.predictor.loaded)
        yield loaded
        primary = GaugeMetricFamily("mlreg_primary_info", "The primary version of each model (value 1)",
                                    labels=["model", "version", "version_id"])
        aliases = GaugeMetricFamily("mlreg_alias_info", "The version each alias names (value 1)",
                                    labels=["model", "alias", "version"])
        try:
            models = self.registry.models()
        except PartlyUnreadable as e:
            models = e.found
        except MlregError:
            models = []
        for info in models:
            record = info.record
            if record.primary is not None:
                try:
                    version_id = self.registry.version(record.name, record.primary).version_id
                except MlregError:
                    version_id = ""
                primary.add_metric([record.name, record.primary, version_id], 1)
            for alias, version in sorted(record.aliases.items()):
                aliases.add_metric([record.name, alias, version], 1)
        yield primary
        yield aliases
