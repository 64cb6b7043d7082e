"""Prometheus metrics, bumped by chat's signals, served at GET /metrics.

With `PROMETHEUS_MULTIPROC_DIR` set (before this module is imported: in the environment or
`.env`), every daphne process writes its values to memory-mapped files in that directory and
/metrics, served by any process, sums them: several processes report one truth. Gauges of
processes that exited are dropped (`live*` modes; each process marks itself dead at exit).
Without it, each process reports only its own values (fine for one process).
"""

from __future__ import annotations

import atexit
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
SECONDS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60, 120)
CONTENT_TYPE = CONTENT_TYPE_LATEST
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

open_sockets = Gauge(
    "concierge_open_sockets", "WebSocket connections open now", multiprocess_mode="livesum"
)
replies_in_flight = Gauge(
    "concierge_replies_in_flight", "Replies being generated now", multiprocess_mode="livesum"
)
replies = Counter(
    "concierge_replies", "Finished replies by status", ["status", "provider"]
)
ttft = Histogram(
    "concierge_ttft_seconds", "Time to first token of a reply", ["provider"], buckets=SECONDS
)
reply_time = Histogram(
    "concierge_reply_seconds", "Total time of a reply", ["provider"], buckets=SECONDS
)
tokens = Counter("concierge_tokens", "Tokens used by replies", ["direction", "provider", "model"])
provider_errors = Counter(
    "concierge_provider_errors", "Provider call failures by kind", ["provider", "kind"]
)
refusals = Counter(
    "concierge_refusals", "Requests refused before a reply (rate limit, quota, ...)", ["code"]
)
cache_hits = Counter("concierge_cache_hits", "Replies answered from the response cache")
fallbacks = Counter("concierge_fallbacks", "Replies answered by the offline fallback")
breaker_state = Gauge(
    "concierge_breaker_state",
    "Circuit breaker of a provider: 0 closed, 1 half open, 2 open (worst process)",
    ["provider"],
    multiprocess_mode="livemax",
)


def reply_observe(reply) -> None:
    """Count one finished reply (a `FinishedReply`)."""
    provider = reply.provider or "unknown"
    replies.labels(status=reply.status, provider=provider).inc()
    if reply.ttft_ms is not None:
        ttft.labels(provider=provider).observe(reply.ttft_ms / 1000)
    reply_time.labels(provider=provider).observe((reply.total_ms or 0) / 1000)
    model = reply.model or "unknown"
    tokens.labels(direction="input", provider=provider, model=model).inc(reply.input_tokens)
    tokens.labels(direction="output", provider=provider, model=model).inc(reply.output_tokens)
    if reply.cached:
        cache_hits.inc()
    if reply.fallback:
        fallbacks.inc()


def breaker_set(*, provider: str, state: str) -> None:
    breaker_state.labels(provider=provider).set(BREAKER_STATES.get(state, 0))


def metrics_text() -> bytes:
    """Every metric in Prometheus' text format (summed over processes in multiprocess mode)."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)


def _mark_dead() -> None:
    try:
        multiprocess.mark_process_dead(os.getpid())
    except Exception:  # noqa: BLE001, S110 - the directory may be gone at shutdown
        pass


if MULTIPROCESS:
    atexit.register(_mark_dead)
