"""The batching writer: listeners queue events, one thread records them a batch at a time."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import InterfaceError, OperationalError
from structlog.testing import capture_logs

from analytics.models import ConversationFact, DailyCount, DailyRollup, OwnerDay, ReplyFact
from analytics.services import batch, recording, writer
from chat import signals
from tests.analytics.factories import escalated, finished_reply, rated

pytestmark = pytest.mark.django_db(transaction=True)  # the writer's thread has its own connection

SESSION = "6f0c1d5e-8a1e-4a8e-9d8e-2b7a9b6c1a02"


@pytest.fixture
def batching(settings, monkeypatch):
    """A fresh writer whose thread sleeps past the test (60 s): a test records by waking it or
    by `writer_flush`, never by racing its timer; stopped (and its queue recorded) after."""
    settings.ANALYTICS_FLUSH_MS = 60_000
    fresh = writer.Writer()
    monkeypatch.setattr(writer, "_writer", fresh)
    yield fresh
    fresh.stop()


@pytest.fixture
def outage(monkeypatch):
    """The database is out (every batch's transaction fails, after its writes) while `down`."""
    state = {"down": True, "error": OperationalError("database is locked")}
    real_save = batch.Batch.save

    def save(self):
        real_save(self)
        if state["down"]:
            raise state["error"]

    monkeypatch.setattr(batch.Batch, "save", save)
    return state


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


@pytest.fixture
def poison(monkeypatch):
    """A reply asking "poison" fails any transaction it is in; the test may add one-time
    failures for other questions (`poison["q2"] = OperationalError(...)`)."""
    once: dict[str, Exception] = {}
    real_fact_from = batch.fact_from

    def fact_from(reply, **kwargs):
        if reply.question == "poison":
            raise ValueError("a reply no transaction can take")
        if reply.question in once:
            raise once.pop(reply.question)
        return real_fact_from(reply, **kwargs)

    monkeypatch.setattr(batch, "fact_from", fact_from)
    return once


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
    assert batching.waiting() == 4
    batching._wake.set()  # what the timer does, every ANALYTICS_FLUSH_MS
    eventually(lambda: batching.waiting() == 0 and ConversationFact.objects.exists())
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


def test_a_batch_that_fails_transiently_waits_at_the_head_of_the_queue_and_is_retried_whole(
    batching, batches, outage
):
    first = [finished_reply(session_id=SESSION, question=f"q{i}") for i in range(2)]
    for reply in first:
        send(reply)
    writer.writer_flush()
    assert not ReplyFact.objects.exists() and batching.waiting() == 2  # rolled back, kept
    assert batching.failures == 1 and 0.4 < batching._pause() <= 0.5  # the thread waits 0.5 s
    late = finished_reply(session_id=SESSION, question="q2")
    send(late)  # queued behind the failed batch
    writer.writer_flush()
    assert batching.failures == 2 and 0.9 < batching._pause() <= 1.0
    outage["down"] = False
    writer.writer_flush()
    assert batches == [2, 3, 3]  # the same events, tried again whole, the late one behind
    assert batching.failures == 0 and batching.dropped == 0
    facts = ReplyFact.objects.order_by("pk").values_list("question", flat=True)
    assert list(facts) == ["q0", "q1", "q2"]
    assert DailyRollup.objects.get().replies == 3
    assert ConversationFact.objects.get().replies == 3


def test_the_back_off_doubles_up_to_its_cap_and_the_thread_waits_it_out(batching, outage):
    outage["error"] = InterfaceError("connection already closed")
    send(finished_reply())
    with capture_logs() as logs:
        for _ in range(8):
            writer.writer_flush()
    pauses = [e["retry_in_s"] for e in logs if e["event"] == "analytics_batch_failed"]
    assert pauses == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert batching.waiting() == 1 and batching.dropped == 0
    outage["down"] = False
    batching._wake.set()  # woken early (a full batch): the thread still waits for the back-off
    time.sleep(0.2)
    assert not ReplyFact.objects.exists() and batching.waiting() == 1
    batching.retry_at = 0.0
    batching._wake.set()
    eventually(lambda: ReplyFact.objects.exists())


def test_during_an_outage_the_queue_stays_bounded_dropping_the_oldest(batching, outage, settings):
    settings.ANALYTICS_QUEUE_MAX = 3
    for i in range(3):
        send(finished_reply(question=f"q{i}"))
    writer.writer_flush()
    with capture_logs() as logs:
        send(finished_reply(question="q3"))  # full, and flushing would fail: the oldest goes
    assert batching.waiting() == 3 and batching.dropped == 1
    assert (logs[0]["event"], logs[0]["reason"]) == (
        "analytics_event_dropped", "queue_full_during_outage"
    )  # fmt: skip
    settings.ANALYTICS_QUEUE_MAX = 2  # a failed batch put back past the cap: the oldest go too
    writer.writer_flush()
    assert batching.waiting() == 2 and batching.dropped == 2
    outage["down"] = False
    writer.writer_flush()
    assert sorted(ReplyFact.objects.values_list("question", flat=True)) == ["q2", "q3"]


def test_a_batch_with_a_bad_event_is_recorded_event_by_event_and_only_that_one_dropped(
    batching, poison
):
    send(finished_reply(question="q0"))
    send(finished_reply(question="poison"))  # fails any batch it is in
    send(finished_reply(question="q2"))
    with capture_logs() as logs:
        writer.writer_flush()
    assert list(ReplyFact.objects.order_by("pk").values_list("question", flat=True)) == [
        "q0", "q2"
    ]  # fmt: skip
    assert batching.dropped == 1 and batching.waiting() == 0 and batching.failures == 0
    (failed,) = [e for e in logs if e["event"] == "analytics_batch_failed"]
    assert (failed["events"], failed["transient"]) == (3, False)
    alone = [e["attempt"] for e in logs if e["event"] == "analytics_event_failed"]
    assert alone == [1, 2]  # tried again alone before it is dropped
    (dropped,) = [e for e in logs if e["event"] == "analytics_batch_dropped"]
    assert (dropped["events"], dropped["dropped"], dropped["log_level"]) == (3, 1, "error")


def test_an_outage_while_recording_event_by_event_puts_the_rest_back_in_order(
    batching, poison
):
    poison["q2"] = OperationalError("the database system is shutting down")  # once
    for question in ("q0", "poison", "q2", "q3"):
        send(finished_reply(question=question))
    writer.writer_flush()
    assert list(ReplyFact.objects.values_list("question", flat=True)) == ["q0"]
    assert batching.waiting() == 2 and batching.failures == 1 and batching.dropped == 1
    writer.writer_flush()
    assert list(ReplyFact.objects.order_by("pk").values_list("question", flat=True)) == [
        "q0", "q2", "q3"
    ]  # fmt: skip
    assert batching.failures == 0 and batching.dropped == 1


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


def test_a_rating_that_comes_before_its_conversation_waits_for_the_conversation(batching):
    rate = signals.conversation_rated
    signals.send_now(rate, rating=rated(SESSION, 2))  # this process's request, first
    writer.writer_flush()
    assert not ConversationFact.objects.exists() and batching.dropped == 0
    recording.reply_record(reply=finished_reply(session_id=SESSION))  # another process's batch
    batching.unmatched_retry()  # what the thread does at each wake
    assert ConversationFact.objects.get().rating == 2
    signals.send_now(rate, rating=rated(SESSION, 5))
    writer.writer_flush()
    row = DailyRollup.objects.get()
    assert (row.rated, row.rating_2, row.rating_5) == (1, 0, 1)
    assert ConversationFact.objects.get().rating == 5 and batching.dropped == 0


def test_a_rating_whose_conversation_never_comes_is_dropped_after_a_while(batching, monkeypatch):
    signals.send_now(signals.conversation_rated, rating=rated(SESSION, 4))
    writer.writer_flush()
    monkeypatch.setattr(writer, "UNMATCHED_RATING_WAIT_SECONDS", 0)
    signals.send_now(signals.conversation_rated, rating=rated(SESSION, 3))
    writer.writer_flush()  # the first tried again, still alone; both wait
    with capture_logs() as logs:
        batching.unmatched_retry()
    assert batching.dropped == 1  # the second, past its wait; the first waits on
    (dropped,) = [e for e in logs if e["event"] == "analytics_rating_dropped"]
    assert (dropped["session_id"], dropped["log_level"]) == (SESSION, "error")
    batching.stop()  # a stop keeps nothing for later
    assert batching.dropped == 2 and not ConversationFact.objects.exists()


def test_an_event_after_shutdown_is_recorded_in_place_not_left_to_a_thread(batching):
    send(finished_reply())
    batching.close()  # what atexit runs
    assert ReplyFact.objects.count() == 1
    send(finished_reply())  # a signals worker still finishing after atexit
    assert ReplyFact.objects.count() == 2
    assert batching.waiting() == 0 and batching._thread is None


def test_past_the_queue_cap_the_listeners_thread_records_the_queue_itself(batching, settings):
    settings.ANALYTICS_QUEUE_MAX = 2
    send(finished_reply())
    send(finished_reply())
    assert not ReplyFact.objects.exists()
    send(finished_reply())
    assert ReplyFact.objects.count() == 3 and batching.waiting() == 0


def test_past_the_queue_cap_an_event_from_the_event_loop_is_dropped_never_waited_on(
    batching, settings
):
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


def test_a_waiting_rating_in_a_batch_recorded_event_by_event_still_waits(batching, poison):
    """A batch that falls back to one event at a time (a bad event in it) keeps the rating
    that still has no conversation waiting, instead of counting it as recorded."""
    signals.send_now(signals.conversation_rated, rating=rated(SESSION, 2))  # no conversation
    send(finished_reply(question="poison"))  # the batch fails: recorded event by event
    writer.writer_flush()
    assert batching.dropped == 1  # the poison only
    assert [rating.session_id for _, rating in batching._unmatched] == [SESSION]
    recording.reply_record(reply=finished_reply(session_id=SESSION))  # its conversation comes
    batching.unmatched_retry()
    assert ConversationFact.objects.get().rating == 2 and batching.dropped == 1
