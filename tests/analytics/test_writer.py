"""The batching writer: listeners queue events, one thread records them a batch at a time."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import OperationalError
from structlog.testing import capture_logs

from analytics.models import ConversationFact, DailyCount, DailyRollup, OwnerDay, ReplyFact
from analytics.services import recording, writer
from chat import signals
from tests.analytics.factories import escalated, finished_reply, rated

pytestmark = pytest.mark.django_db(transaction=True)  # the writer's thread has its own connection

SESSION = "6f0c1d5e-8a1e-4a8e-9d8e-2b7a9b6c1a02"


@pytest.fixture
def batching(settings):
    """The real writer thread, waking every 200 ms; stopped (and its queue recorded) after."""
    settings.ANALYTICS_FLUSH_MS = 200
    yield writer._writer
    writer.writer_stop()


@pytest.fixture
def batches(monkeypatch):
    """The size of each batch recorded, in order."""
    sizes: list[int] = []
    real = recording.events_record

    def spy(events):
        sizes.append(len(events))
        return real(events)

    monkeypatch.setattr(recording, "events_record", spy)
    return sizes


def send(reply):
    signals.send_now(signals.reply_finished, reply=reply)


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the writer did not record in time"
        time.sleep(0.02)


def test_the_writer_thread_records_several_replies_and_a_rating_in_one_batch(batching, batches):
    for ttft in (300, 500, 700):
        send(finished_reply(session_id=SESSION, ttft_ms=ttft))
    signals.send_now(signals.conversation_rated, rating=rated(SESSION, 2))
    assert not ReplyFact.objects.exists()  # queued, not written on the listener's thread
    eventually(lambda: ConversationFact.objects.exists())
    assert batches == [4]
    conversation = ConversationFact.objects.get()
    assert (conversation.replies, conversation.rating, conversation.avg_ttft_ms) == (3, 2, 500)
    row = DailyRollup.objects.get()
    assert (row.conversations, row.replies, row.messages, row.rated, row.rating_2) == (
        1, 3, 6, 1, 1
    )  # fmt: skip
    assert (row.resolved, row.ttft_3, row.ttft_5, row.ttft_6) == (0, 1, 1, 1)
    assert OwnerDay.objects.get().replies == 3
    assert DailyCount.objects.get(kind="topic").count == 3


def test_a_failing_batch_is_rolled_back_and_retried_counting_each_reply_once(
    batching, batches, monkeypatch
):
    monkeypatch.setattr(writer, "RETRY_PAUSE_SECONDS", 0.01)
    real_save = recording._Batch.save
    failures = []

    def save_then_fail_once(self):
        real_save(self)  # every row written, then the transaction fails
        if not failures:
            failures.append(1)
            raise OperationalError("database is locked")

    monkeypatch.setattr(recording._Batch, "save", save_then_fail_once)
    send(finished_reply(session_id=SESSION))
    send(finished_reply(session_id=SESSION))
    eventually(lambda: ReplyFact.objects.exists())
    assert batches == [2, 2]  # the same batch, tried again whole
    assert ReplyFact.objects.count() == 2
    assert DailyRollup.objects.get().replies == 2
    assert ConversationFact.objects.get().replies == 2


def test_a_batch_that_keeps_failing_is_recorded_event_by_event_and_the_loss_logged(
    batching, monkeypatch, settings
):
    settings.ANALYTICS_FLUSH_MS = 60_000  # only the flush below records
    monkeypatch.setattr(writer, "RETRY_PAUSE_SECONDS", 0)
    real_fact_from = recording._fact_from

    def fact_from(reply, **kwargs):
        if reply.question == "poison":
            raise ValueError("a reply no transaction can take")
        return real_fact_from(reply, **kwargs)

    monkeypatch.setattr(recording, "_fact_from", fact_from)
    batching_dropped = batching.dropped
    send(finished_reply())
    send(finished_reply(question="poison"))  # fails any batch it is in
    send(finished_reply())
    with capture_logs() as logs:
        writer.writer_flush()
    assert ReplyFact.objects.count() == 2
    assert batching.dropped == batching_dropped + 1
    failed = [e for e in logs if e["event"] == "analytics_batch_failed"]
    assert [e["attempt"] for e in failed] == [1, 2, 3]
    (dropped,) = [e for e in logs if e["event"] == "analytics_batch_dropped"]
    assert (dropped["events"], dropped["dropped"], dropped["log_level"]) == (3, 1, "error")


def test_the_writer_records_what_is_left_when_the_process_stops(settings):
    settings.ANALYTICS_FLUSH_MS = 60_000  # the thread would sleep past the test
    send(finished_reply(session_id=SESSION))
    signals.send_now(signals.conversation_escalated, escalation=escalated(SESSION))
    assert writer._writer.waiting() == 2 and not ReplyFact.objects.exists()
    writer.writer_stop()  # what atexit runs
    assert writer._writer.waiting() == 0 and writer._writer._thread is None
    conversation = ConversationFact.objects.get()
    assert conversation.escalated and not conversation.resolved
    assert DailyRollup.objects.get().escalated == 1


def test_past_the_queue_cap_the_listeners_thread_records_the_queue_itself(batching, settings):
    settings.ANALYTICS_FLUSH_MS = 60_000
    settings.ANALYTICS_QUEUE_MAX = 2
    send(finished_reply())
    send(finished_reply())
    assert not ReplyFact.objects.exists()
    send(finished_reply())
    assert ReplyFact.objects.count() == 3 and batching.waiting() == 0


def test_past_the_queue_cap_an_event_from_the_event_loop_is_dropped_never_waited_on(
    batching, settings
):
    settings.ANALYTICS_FLUSH_MS = 60_000
    settings.ANALYTICS_QUEUE_MAX = 1
    send(finished_reply())
    before = batching.dropped

    async def on_the_loop():
        send(finished_reply())

    with capture_logs() as logs:
        asyncio.run(on_the_loop())
    assert batching.waiting() == 1 and batching.dropped == before + 1
    assert logs[0]["event"] == "analytics_event_dropped"


def test_in_place_recording_writes_before_the_listener_returns(settings):
    settings.ANALYTICS_FLUSH_MS = 0
    send(finished_reply())
    assert ReplyFact.objects.count() == 1 and writer._writer.waiting() == 0
