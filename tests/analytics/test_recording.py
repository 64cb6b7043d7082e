"""The listeners record chat's signals: facts per reply and conversation, rollups, costs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.models import ConversationFact, DailyCount, DailyRollup, OwnerDay, ReplyFact
from analytics.services import batch, recording
from chat import signals
from tests.analytics.factories import asker, escalated, finished_reply, rated

pytestmark = pytest.mark.django_db


def send(reply):
    signals.send_now(signals.reply_finished, reply=reply)


def test_a_finished_reply_is_recorded_with_its_cost_and_user_type():
    reply = finished_reply(asker=asker("user", user_id=5, role="client"))
    send(reply)
    fact = ReplyFact.objects.get(reply_id=reply.reply_id)
    # gpt-4o-mini: 0.15 per million input, 0.60 per million output tokens
    assert fact.cost == Decimal("0.00027000")  # 1000 * 0.15e-6 + 200 * 0.6e-6
    assert fact.user_type == "user:client"
    assert (fact.topic, fact.status, fact.ttft_ms, fact.is_gap) == (
        "Resetting your password",
        "complete",
        420,
        False,
    )
    assert str(fact.day) == "2026-11-24"


def test_a_price_change_later_does_not_rewrite_a_recorded_cost(settings):
    first = finished_reply()
    send(first)
    settings.ANALYTICS_PRICES = {"gpt-4o-mini*": [1.0, 1.0]}
    second = finished_reply()
    send(second)
    costs = {str(f.reply_id): f.cost for f in ReplyFact.objects.all()}
    assert costs[str(first.reply_id)] == Decimal("0.00027000")
    assert costs[str(second.reply_id)] == Decimal("0.00120000")


@pytest.mark.parametrize(
    "overrides",
    [
        {"provider": "openai", "model": "smollm2-135m-instruct"},  # a local model
        {"provider": "offline", "model": "knowledge-base"},
        {"cached": True},
    ],
)
def test_local_models_the_offline_answer_and_cached_replies_cost_nothing(overrides):
    reply = finished_reply(**overrides)
    send(reply)
    assert ReplyFact.objects.get(reply_id=reply.reply_id).cost == 0


def test_the_same_reply_sent_twice_is_recorded_once():
    reply = finished_reply()
    send(reply)
    send(reply)
    assert ReplyFact.objects.count() == 1
    conversation = ConversationFact.objects.get()
    assert (conversation.replies, conversation.messages) == (1, 2)
    assert DailyRollup.objects.get().replies == 1


def test_a_conversation_adds_up_its_replies():
    session = "6f0c1d5e-8a1e-4a8e-9d8e-2b7a9b6c1a01"
    send(finished_reply(session_id=session, ttft_ms=300, cached=True, input_tokens=0,
                        output_tokens=0))  # fmt: skip
    send(finished_reply(session_id=session, ttft_ms=500, page_url="/pricing/"))
    send(finished_reply(session_id=session, ttft_ms=None, status="failed", regenerated=True,
                        input_tokens=0, output_tokens=0, fallback=True))  # fmt: skip
    conversation = ConversationFact.objects.get(session_id=session)
    assert conversation.replies == 3 and conversation.messages == 5  # regenerate: no new question
    assert (conversation.replies_complete, conversation.replies_failed) == (2, 1)
    assert (conversation.first_ttft_ms, conversation.avg_ttft_ms) == (300, 400)
    assert conversation.pages == ["/account/", "/pricing/"]
    assert (conversation.cache_hits, conversation.fallbacks) == (1, 1)
    assert conversation.cost == Decimal("0.00027000")
    assert conversation.first_page == "https://shop.example.com/account/?tab=security"


def test_rollups_count_conversations_messages_tokens_and_the_ttft_histogram():
    for ttft in (40, 90, 90, 2500):
        send(finished_reply(ttft_ms=ttft))
    row = DailyRollup.objects.get()
    assert (row.conversations, row.replies, row.messages) == (4, 4, 8)
    assert (row.input_tokens, row.output_tokens) == (4000, 800)
    assert row.cost == Decimal("0.00108000")
    assert row.ttft_hist[0] == 1 and row.ttft_hist[1] == 2 and sum(row.ttft_hist) == 4
    assert (row.checked, row.grounded) == (4, 4)
    topics = DailyCount.objects.get(kind="topic")
    pages = DailyCount.objects.get(kind="page")
    assert (topics.key, topics.count, pages.key, pages.count) == (
        "Resetting your password",
        4,
        "/account/",
        4,
    )
    assert OwnerDay.objects.get(visitor_key="visitor-a").replies == 4


def test_each_filter_combination_has_its_own_rollup_row():
    send(finished_reply())
    send(finished_reply(asker=asker("staff", user_id=1)))
    send(finished_reply(universe="telemetry", provider="anthropic", model="claude-sonnet-4-5"))
    assert DailyRollup.objects.count() == 3
    claude = DailyRollup.objects.get(model="claude-sonnet-4-5")
    assert claude.cost == Decimal("0.00600000")  # 1000 * 3e-6 + 200 * 15e-6


def test_the_grounding_verdict_is_counted_for_the_grounded_share():
    send(finished_reply(verdict="grounded"))
    send(finished_reply(verdict="partly"))
    send(finished_reply(verdict="ungrounded"))
    send(finished_reply(verdict=""))  # not checked: not in the share
    row = DailyRollup.objects.get()
    assert (row.checked, row.grounded, row.gaps) == (3, 1, 1)


def test_a_rating_is_recorded_changed_and_moves_the_resolution():
    reply = finished_reply()
    send(reply)
    assert DailyRollup.objects.get().resolved == 1
    signals.send_now(signals.conversation_rated, rating=rated(reply.session_id, 2, "meh"))
    conversation = ConversationFact.objects.get()
    assert (conversation.rating, conversation.rating_comment, conversation.resolved) == (
        2,
        "meh",
        False,
    )
    row = DailyRollup.objects.get()
    assert (row.rated, row.rating_2, row.resolved) == (1, 1, 0)
    signals.send_now(signals.conversation_rated, rating=rated(reply.session_id, 5))
    row = DailyRollup.objects.get()
    assert (row.rated, row.rating_2, row.rating_5, row.resolved) == (1, 0, 1, 1)


def test_an_escalation_is_recorded_once_whichever_signal_comes_first():
    reply = finished_reply(escalation_reason="frustrated")
    send(reply)
    signals.send_now(signals.conversation_escalated,
                     escalation=escalated(reply.session_id, "frustrated"))  # fmt: skip
    conversation = ConversationFact.objects.get()
    assert conversation.escalated and conversation.escalation_reason == "frustrated"
    row = DailyRollup.objects.get()
    assert (row.escalated, row.resolved) == (1, 0)

    other = finished_reply()
    send(other)
    signals.send_now(signals.conversation_escalated, escalation=escalated(other.session_id))
    send(finished_reply(session_id=other.session_id, escalation_reason="asked"))
    row = DailyRollup.objects.get()
    assert (row.conversations, row.escalated, row.resolved) == (2, 2, 0)


def test_a_rating_for_an_unknown_conversation_is_ignored():
    signals.send_now(signals.conversation_rated,
                     rating=rated("00000000-0000-0000-0000-000000000000", 4))  # fmt: skip
    assert not ConversationFact.objects.exists()


def test_a_visitors_day_is_one_row_even_when_two_first_replies_race():
    from django.db import IntegrityError, transaction

    send(finished_reply())
    with pytest.raises(IntegrityError), transaction.atomic():
        OwnerDay.objects.create(day=OwnerDay.objects.get().day, user_id=None,
                                visitor_key="visitor-a", user_type="anonymous")  # fmt: skip


def _snapshot() -> dict:
    def rows(model, *order):
        return [{k: v for k, v in row.items() if k != "id"}
                for row in model.objects.order_by(*order).values()]  # fmt: skip

    return {
        "replies": rows(ReplyFact, "reply_id"),
        "conversations": rows(ConversationFact, "session_id"),
        "rollups": rows(DailyRollup, "day", "user_type", "universe", "provider", "model"),
        "counts": rows(DailyCount, "kind", "key", "user_type"),
        "owners": rows(OwnerDay, "visitor_key", "user_id"),
    }


def test_a_batch_records_its_events_in_arrival_order_as_one_by_one_would():
    first, other = "6f0c1d5e-8a1e-4a8e-9d8e-2b7a9b6c1a03", "6f0c1d5e-8a1e-4a8e-9d8e-2b7a9b6c1a04"
    opening = finished_reply(session_id=first, ttft_ms=90)
    events = [
        recording.RatingEvent(session_id=first, score=5, comment=""),  # before its conversation
        recording.ReplyEvent(reply=opening),
        recording.RatingEvent(session_id=first, score=2, comment="meh"),
        recording.ReplyEvent(reply=finished_reply(session_id=first, page_url="/pricing/")),
        recording.ReplyEvent(reply=opening),  # delivered twice
        recording.EscalationEvent(session_id=first, reason="asked"),
        recording.ReplyEvent(
            reply=finished_reply(
                session_id=other, escalation_reason="asked", asker=asker("user", user_id=5)
            )
        ),  # fmt: skip
        recording.EscalationEvent(session_id=other, reason="frustrated"),
        recording.RatingEvent(session_id=first, score=4, comment="fine"),
        recording.ReplyEvent(
            reply=finished_reply(session_id=other, status="failed", regenerated=True, ttft_ms=None)
        ),  # fmt: skip
    ]
    results = recording.events_record(events)
    assert [r if isinstance(r, bool) or r is None else "fact" for r in results] == [
        False, "fact", True, "fact", None, True, "fact", False, True, "fact"
    ]  # fmt: skip
    batched = _snapshot()
    for model in (ReplyFact, ConversationFact, DailyRollup, DailyCount, OwnerDay):
        model.objects.all().delete()
    for event in events:
        recording.events_record([event])
    assert _snapshot() == batched
    assert batched["conversations"][0]["rating"] == 4 and batched["rollups"][0]["rated"] == 1


def test_a_batch_locks_and_writes_shared_rows_in_one_order_whatever_its_events_order(
    monkeypatch,
):
    """Two processes writing overlapping batches take their row locks in the same order, so
    neither waits on the other crosswise (a deadlock on PostgreSQL)."""
    sessions = [f"{i}f0c1d5e-8a1e-4a8e-9d8e-2b7a9b6c1a10" for i in range(1, 7)]
    for session in sessions:
        send(finished_reply(session_id=session))  # known: the batch locks and updates them
    saved, added = [], []
    real_save, real_add = ConversationFact.save, batch.row_add

    def save(self, *args, **kwargs):
        saved.append(str(self.session_id))
        real_save(self, *args, **kwargs)

    def add(model, *, key, **kwargs):
        added.append((model.__name__, key.get("visitor_key", "")))
        real_add(model, key=key, **kwargs)

    monkeypatch.setattr(ConversationFact, "save", save)
    monkeypatch.setattr(batch, "row_add", add)
    events = [
        recording.ReplyEvent(
            reply=finished_reply(session_id=session, asker=asker(visitor_key=f"visitor-{i}"))
        )  # fmt: skip
        for i, session in reversed(list(enumerate(sessions)))
    ]
    with CaptureQueriesContext(connection) as queries:
        recording.events_record(events)
    (locking,) = [q["sql"] for q in queries if q["sql"].startswith("SELECT")
                  and "analytics_conversationfact" in q["sql"]]  # fmt: skip
    assert "ORDER BY" in locking and "session_id" in locking.split("ORDER BY")[1]
    assert saved == sorted(sessions)
    models = [name for name, _ in added]
    assert models == sorted(models)  # DailyCount, DailyRollup, OwnerDay
    owners = [visitor for name, visitor in added if name == "OwnerDay"]
    assert owners == [f"visitor-{i}" for i in range(6)]
