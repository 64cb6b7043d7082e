"""A circuit breaker per provider: stop calling a provider that keeps failing, then probe it.

closed -> (N consecutive failures) -> open -> (reset_timeout) -> half_open: one probe request
-> success: closed, failure: open again.

Why in process, not in Redis: the breaker protects this process from spending a visitor's wait
on a provider that is down, and each process sees its own failures within N requests anyway.
Sharing the state would put a Redis round trip before every call and make the breaker depend on
Redis, which is optional and may itself be down. The cost is at most N failed calls per process
per outage, which is what N is for.

Which failures count is the caller's choice; `counts_as_failure` gives the usual answer for a
ProviderError (the provider is unwell, not the request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from django.conf import settings

from chat.providers.base import ErrorKind, ProviderError
from chat.signals import breaker_changed, send_now

log = structlog.get_logger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# Failures that say something about this request, not about the provider's health.
_REQUEST_ERRORS = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG})


def counts_as_failure(error: BaseException) -> bool:
    """Whether `error` should count against the provider's breaker."""
    if isinstance(error, ProviderError):
        return error.kind not in _REQUEST_ERRORS
    return True


class CircuitBreaker:
    """One provider's breaker. Safe to share between tasks and threads of one process.

    `allow()` before a call; then exactly one of `record_success()` / `record_failure()`.
    In half-open state one probe is let through; if it never reports (cancelled), another is
    allowed after `reset_timeout`, so the breaker cannot stay stuck.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        reset_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(int(failure_threshold), 1)
        self.reset_timeout = float(reset_timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state, True for one probe only."""
        with self._lock:
            if self._state == CLOSED:
                return True
            now = self._clock()
            if self._state == OPEN:
                if now - self._opened_at < self.reset_timeout:
                    return False
                self._state = HALF_OPEN
                log.info("breaker_half_open", breaker=self.name)
                _announce(self.name, HALF_OPEN)
            elif now - self._probe_started < self.reset_timeout:
                return False  # a probe is in flight
            self._probe_started = now
            return True

    def record_success(self) -> None:
        with self._lock:
            if self._state != CLOSED:
                log.info("breaker_closed", breaker=self.name, was=self._state)
                _announce(self.name, CLOSED)
            self._state = CLOSED
            self._failures = 0
            self._opened_at = self._probe_started = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or (
                self._state == CLOSED and self._failures >= self.failure_threshold
            ):
                self._open()

    def _open(self) -> None:
        self._state = OPEN
        self._opened_at = self._clock()
        self._probe_started = None
        log.warning(
            "breaker_opened",
            breaker=self.name,
            consecutive_failures=self._failures,
            retry_in_s=self.reset_timeout,
        )
        _announce(self.name, OPEN)

    def snapshot(self) -> dict:
        """State for /api/health/: `opened_at` is ISO 8601 UTC (or None), `retry_in` seconds
        until a probe may go out (0 unless open)."""
        with self._lock:
            opened_at = retry_in = None
            if self._opened_at is not None:
                elapsed = self._clock() - self._opened_at
                opened = datetime.now(UTC) - timedelta(seconds=elapsed)
                opened_at = opened.isoformat().replace("+00:00", "Z")
                if self._state == OPEN:
                    retry_in = round(max(self.reset_timeout - elapsed, 0.0), 3)
            return {
                "state": self._state,
                "consecutive_failures": self._failures,
                "opened_at": opened_at,
                "retry_in": retry_in or 0.0,
            }


def _announce(provider: str, state: str) -> None:
    """Tell metrics listeners (cheap, in place; a failing listener is logged, never raised)."""
    send_now(breaker_changed, provider=provider, state=state)


_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def breaker_for(name: str) -> CircuitBreaker:
    """This process's breaker for provider `name`, created from settings on first use."""
    with _registry_lock:
        breaker = _registry.get(name)
        if breaker is None:
            breaker = _registry[name] = CircuitBreaker(
                name,
                failure_threshold=settings.CHAT_BREAKER_FAILURES,
                reset_timeout=settings.CHAT_BREAKER_RESET,
            )
        return breaker


def breakers_snapshot() -> dict[str, dict]:
    """Every breaker this process has used, by provider name."""
    with _registry_lock:
        breakers = list(_registry.values())
    return {breaker.name: breaker.snapshot() for breaker in breakers}


def breakers_reset() -> None:
    """Forget every breaker (tests; settings are read again on next use)."""
    with _registry_lock:
        _registry.clear()
