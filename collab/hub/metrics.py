"""Prometheus metrics of one hub, in a registry of its own (no process-wide globals)."""

from __future__ import annotations

from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, Metric


class TrafficCounter:
    """Frames and bytes, counted with plain integer adds.

    These move on every delivery (tens of thousands a second under load); a prometheus_client
    Counter takes a lock per increment, so they are kept here and read at scrape time instead.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    def inc(self, size: int) -> None:
        self.frames += 1
        self.bytes += size


class _TrafficCollector:
    def __init__(self, received: TrafficCounter, sent: TrafficCounter) -> None:
        self.received = received
        self.sent = sent

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("collab_messages_received", "Websocket messages received", value=self.received.frames)
        yield CounterMetricFamily("collab_messages_sent", "Websocket messages sent", value=self.sent.frames)
        yield CounterMetricFamily("collab_bytes_received", "Websocket payload bytes received", value=self.received.bytes)
        yield CounterMetricFamily("collab_bytes_sent", "Websocket payload bytes sent", value=self.sent.bytes)


class HubMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge("collab_connections", "Open websocket connections", registry=r)
        self.rooms_loaded = Gauge("collab_rooms_loaded", "Rooms held in memory", registry=r)
        self.received = TrafficCounter()
        self.sent = TrafficCounter()
        r.register(_TrafficCollector(self.received, self.sent))
        self.updates_stored = Counter("collab_updates_stored", "Log entries made durable", registry=r)
        self.protocol_errors = Counter(
            "collab_protocol_errors", "Connections closed for bad input", ["reason"], registry=r
        )
        self.slow_disconnects = Counter(
            "collab_slow_client_disconnects", "Connections dropped because they did not read", registry=r
        )
        self.store_errors = Counter("collab_store_errors", "Writes the store could not make durable", registry=r)
        self.commit_seconds = Histogram(
            "collab_store_commit_seconds",
            "Latency of one store group commit",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.compactions = Counter("collab_compactions", "Room compactions written", registry=r)

    def observe_commit(self, seconds: float, entries: int) -> None:
        self.commit_seconds.observe(seconds)
        self.updates_stored.inc(entries)

    def render(self) -> bytes:
        return generate_latest(self.registry)
