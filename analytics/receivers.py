"""Listeners of chat's signals (connected in AnalyticsConfig.ready()).

`reply_finished`, `conversation_rated` and `conversation_escalated` arrive after commit on a
worker thread that the reply path does not wait for: they queue an event for this process's
batching writer (analytics/services/writer.py), which records it with others in one transaction.
The others arrive on the event loop and only bump Prometheus metrics.
"""

from __future__ import annotations

from analytics import metrics
from analytics.services.events import EscalationEvent, RatingEvent, ReplyEvent
from analytics.services.writer import writer_put


def on_reply_finished(sender, reply, **kwargs) -> None:
    metrics.reply_observe(reply)
    writer_put(ReplyEvent(reply=reply))


def on_conversation_rated(sender, rating, **kwargs) -> None:
    writer_put(
        RatingEvent(session_id=rating.session_id, score=rating.score, comment=rating.comment)
    )


def on_conversation_escalated(sender, escalation, **kwargs) -> None:
    writer_put(EscalationEvent(session_id=escalation.session_id, reason=escalation.reason))


def on_socket_changed(sender, delta, **kwargs) -> None:
    metrics.open_sockets.inc(delta)


def on_reply_in_flight(sender, delta, **kwargs) -> None:
    metrics.replies_in_flight.inc(delta)


def on_request_refused(sender, code, **kwargs) -> None:
    metrics.refusals.labels(code=code).inc()


def on_provider_failed(sender, provider, kind, **kwargs) -> None:
    metrics.provider_errors.labels(provider=provider, kind=str(getattr(kind, "value", kind))).inc()


def on_breaker_changed(sender, provider, state, **kwargs) -> None:
    metrics.breaker_set(provider=provider, state=str(getattr(state, "value", state)))


def receivers_connect() -> None:
    from chat import signals

    pairs = [
        (signals.reply_finished, on_reply_finished),
        (signals.conversation_rated, on_conversation_rated),
        (signals.conversation_escalated, on_conversation_escalated),
        (signals.socket_changed, on_socket_changed),
        (signals.reply_in_flight, on_reply_in_flight),
        (signals.request_refused, on_request_refused),
        (signals.provider_failed, on_provider_failed),
        (signals.breaker_changed, on_breaker_changed),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, dispatch_uid=f"analytics.{receiver.__name__}")
