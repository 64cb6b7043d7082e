"""GET /metrics: guarded, Prometheus' text format, bumped by chat's signals."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from chat import signals
from tests.analytics.factories import finished_reply

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(body: bytes) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_without_a_token_only_loopback_may_read_the_metrics(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert ("concierge_open_sockets", ()) in samples(response.content)


def test_with_a_token_only_its_bearer_may_read_the_metrics(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    refused = client.get("/metrics")  # loopback is not enough once a token is set
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert b"s3cret" not in refused.content
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", REMOTE_ADDR="10.1.2.3")
    assert wrong.status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token",
                       REMOTE_ADDR="10.1.2.3")  # fmt: skip
    assert right.status_code == 200 and samples(right.content)


def test_only_get_is_served(client):
    assert client.post("/metrics").status_code == 405


def test_chats_signals_move_the_metrics():
    before = {
        "complete": value("concierge_replies_total", status="complete", provider="openai"),
        "sockets": value("concierge_open_sockets"),
        "flight": value("concierge_replies_in_flight"),
        "refused": value("concierge_refusals_total", code="quota_exceeded"),
        "errors": value("concierge_provider_errors_total", provider="openai", kind="timeout"),
        "cache": value("concierge_cache_hits_total"),
        "fallback": value("concierge_fallbacks_total"),
        "ttft": value("concierge_ttft_seconds_count", provider="openai"),
        "slow": value("concierge_ttft_seconds_bucket", provider="openai", le="0.5"),
        "tokens": value("concierge_tokens_total", direction="output", provider="openai",
                        model="gpt-4o-mini"),
    }  # fmt: skip
    signals.send_now(signals.socket_changed, delta=1)
    signals.send_now(signals.socket_changed, delta=1)
    signals.send_now(signals.socket_changed, delta=-1)
    signals.send_now(signals.reply_in_flight, delta=1)
    signals.send_now(signals.request_refused, code="quota_exceeded")
    signals.send_now(signals.provider_failed, provider="openai", kind="timeout")
    signals.send_now(signals.breaker_changed, provider="openai", state="open")
    signals.send_now(signals.reply_finished, reply=finished_reply(ttft_ms=420, cached=True))
    signals.send_now(signals.reply_finished, reply=finished_reply(ttft_ms=2600, fallback=True))
    assert value("concierge_open_sockets") == before["sockets"] + 1
    assert value("concierge_replies_in_flight") == before["flight"] + 1
    assert value("concierge_refusals_total", code="quota_exceeded") == before["refused"] + 1
    assert value("concierge_provider_errors_total", provider="openai",
                 kind="timeout") == before["errors"] + 1  # fmt: skip
    assert value("concierge_breaker_state", provider="openai") == 2
    assert value("concierge_replies_total", status="complete",
                 provider="openai") == before["complete"] + 2  # fmt: skip
    assert value("concierge_ttft_seconds_count", provider="openai") == before["ttft"] + 2
    assert value("concierge_ttft_seconds_bucket", provider="openai",
                 le="0.5") == before["slow"] + 1  # fmt: skip
    assert value("concierge_cache_hits_total") == before["cache"] + 1
    assert value("concierge_fallbacks_total") == before["fallback"] + 1
    assert value("concierge_tokens_total", direction="output", provider="openai",
                 model="gpt-4o-mini") == before["tokens"] + 400  # fmt: skip
    signals.send_now(signals.breaker_changed, provider="openai", state="closed")
    signals.send_now(signals.reply_in_flight, delta=-1)
    signals.send_now(signals.socket_changed, delta=-1)
    assert value("concierge_breaker_state", provider="openai") == 0
