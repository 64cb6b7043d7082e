"""Synthetic demo data: marked, realistic enough to fill the dashboard, removable alone."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from analytics.models import ConversationFact, DailyRollup, GapGroup, ReplyFact
from analytics.selectors.dashboard import Filters, totals
from analytics.services.demo import demo_seed
from chat import signals
from chat.models import ChatMessage, ChatSession
from tests.analytics.factories import finished_reply

pytestmark = pytest.mark.django_db


def test_the_demo_fills_every_figure_and_marks_its_rows(django_user_model):
    count = demo_seed(days=14, per_day=6, today=date(2026, 11, 30))
    assert count >= 40
    figures = totals(Filters(start=date(2026, 11, 17), end=date(2026, 11, 30)))
    assert figures["conversations"] == count == figures["synthetic_conversations"]
    assert figures["messages"] > figures["conversations"]
    assert figures["cost"] > 0 and figures["rated"] > 0 and figures["escalated"] > 0
    assert 0 < figures["grounded_share"] < 100 and figures["ttft_p95"] > figures["ttft_p50"]
    assert GapGroup.objects.filter(synthetic=True).exists()
    assert not ReplyFact.objects.filter(synthetic=False).exists()
    assert ChatSession.objects.filter(context__synthetic=True).count() == count
    assert not ChatMessage.objects.exclude(metadata__synthetic=True).exists()


def test_remove_deletes_only_the_synthetic_rows(django_user_model):
    real = finished_reply()
    session = ChatSession.objects.create(visitor_key="real-visitor")
    signals.send_now(signals.reply_finished, reply=real)
    call_command("seed_analytics_demo", "--days=3", "--per-day=3")
    call_command("seed_analytics_demo", "--days=3", "--per-day=3")  # seeded once only
    seeded = ReplyFact.objects.filter(synthetic=True).count()
    assert seeded and DailyRollup.objects.filter(synthetic=True).exists()
    call_command("seed_analytics_demo", "--remove")
    assert [str(r) for r in ReplyFact.objects.values_list("reply_id", flat=True)] == [
        real.reply_id
    ]
    assert ConversationFact.objects.count() == 1 and DailyRollup.objects.count() == 1
    assert list(ChatSession.objects.all()) == [session]
    assert not django_user_model.objects.filter(username__startswith="demo-analytics-").exists()
