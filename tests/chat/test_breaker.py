"""The per-provider circuit breaker, driven by a fake clock."""

from __future__ import annotations

import pytest

from chat.guards.breaker import (
    CircuitBreaker,
    breaker_for,
    breakers_reset,
    breakers_snapshot,
    counts_as_failure,
)
from chat.providers.base import ErrorKind, ProviderError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    return CircuitBreaker("openai", failure_threshold=3, reset_timeout=30, clock=clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_it_stays_closed_below_the_threshold(breaker):
    fail(breaker, 2)
    assert breaker.allow()
    assert breaker.snapshot()["state"] == "closed"


def test_a_success_resets_the_consecutive_failures(breaker):
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.snapshot() == {
        "state": "closed",
        "consecutive_failures": 2,
        "opened_at": None,
        "retry_in": 0.0,
    }


def test_it_opens_after_n_consecutive_failures_and_refuses_while_open(breaker, clock):
    fail(breaker, 3)
    assert not breaker.allow()
    clock.advance(29.9)
    assert not breaker.allow()
    snapshot = breaker.snapshot()
    assert (snapshot["state"], snapshot["consecutive_failures"]) == ("open", 3)
    assert snapshot["retry_in"] == pytest.approx(0.1)
    assert snapshot["opened_at"].endswith("Z")


def test_after_the_reset_timeout_exactly_one_probe_goes_through(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    assert breaker.allow()
    assert breaker.snapshot()["state"] == "half_open"
    assert not breaker.allow()
    assert not breaker.allow()


def test_a_successful_probe_closes_the_circuit(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.snapshot()["state"] == "closed"
    assert all(breaker.allow() for _ in range(10))


def test_a_failed_probe_opens_it_again_for_a_full_timeout(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.snapshot()["state"] == "open"
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_probe_that_never_reports_does_not_wedge_the_breaker(breaker, clock):
    fail(breaker, 3)
    clock.advance(30)
    assert breaker.allow()  # the probe's task is cancelled: no success, no failure
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_late_failures_while_open_do_not_extend_the_wait(breaker, clock):
    fail(breaker, 3)
    clock.advance(20)
    breaker.record_failure()  # a call let through before it opened, failing late
    clock.advance(10)
    assert breaker.allow()


def test_request_errors_do_not_count_against_the_provider():
    assert not counts_as_failure(ProviderError("too long", kind=ErrorKind.CONTEXT_TOO_LONG))
    assert not counts_as_failure(ProviderError("bad", kind=ErrorKind.BAD_REQUEST))
    assert counts_as_failure(ProviderError("down", kind=ErrorKind.UNAVAILABLE, retryable=True))
    assert counts_as_failure(ProviderError("slow", kind=ErrorKind.TIMEOUT, retryable=True))
    assert counts_as_failure(ConnectionResetError())


def test_the_registry_keeps_one_breaker_per_provider_from_settings(settings):
    settings.CHAT_BREAKER_FAILURES = 2
    settings.CHAT_BREAKER_RESET = 5
    breakers_reset()
    try:
        openai = breaker_for("openai")
        assert breaker_for("openai") is openai
        assert (openai.failure_threshold, openai.reset_timeout) == (2, 5.0)
        openai.record_failure()
        openai.record_failure()
        breaker_for("anthropic")
        snapshot = breakers_snapshot()
        assert snapshot["openai"]["state"] == "open"
        assert snapshot["anthropic"]["state"] == "closed"
    finally:
        breakers_reset()


def test_state_changes_are_signalled_for_metrics():
    from chat.signals import breaker_changed

    heard = []

    def listener(sender, provider, state, **kwargs):
        heard.append((provider, state))

    breaker_changed.connect(listener, dispatch_uid="test-breaker-changed")
    try:
        clock = [0.0]
        breaker = CircuitBreaker("p", failure_threshold=1, reset_timeout=5, clock=lambda: clock[0])
        breaker.record_failure()
        clock[0] = 6
        assert breaker.allow()
        breaker.record_success()
    finally:
        breaker_changed.disconnect(dispatch_uid="test-breaker-changed")
    assert heard == [("p", "open"), ("p", "half_open"), ("p", "closed")]
