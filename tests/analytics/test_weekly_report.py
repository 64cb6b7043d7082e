"""The weekly report's figures against ones computed by hand on a small fixture."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.models import WeeklyReport
from analytics.selectors.report import percentile, report_build, week_last, week_parse
from chat import signals
from tests.analytics.factories import asker, escalated, finished_reply, rated

pytestmark = pytest.mark.django_db
A, B, C, D = (f"00000000-0000-0000-0000-00000000000{n}" for n in range(1, 5))


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def reply(**fields):
    signals.send_now(signals.reply_finished, reply=finished_reply(**fields))


@pytest.fixture
def two_weeks():
    """Week 2026-W47 (Nov 16-22): two one-reply conversations. 2026-W48 (Nov 23-29): four.

    A: anonymous, two gpt-4o-mini replies (the second regenerated), rated 5: resolved.
    B: a signed-in user, one Claude reply, escalated (frustrated), rated 1 "Useless".
    C: a local model, no passage cleared the threshold (a gap), rated 3.
    D: failed without a first token, offered a person as unanswered (a gap).
    """
    reply(finished_at=at(17), ttft_ms=5000)
    reply(finished_at=at(18), ttft_ms=5000)
    reply(session_id=A, finished_at=at(23), ttft_ms=100, total_ms=1000)
    reply(session_id=A, finished_at=at(23, 11), ttft_ms=300, total_ms=2000, regenerated=True)
    reply(session_id=B, finished_at=at(24), ttft_ms=200, total_ms=1500,
          asker=asker("user", user_id=7), provider="anthropic", model="claude-sonnet-4-5",
          sources=[{"id": 3, "title": "Order tracking", "url": "/help/orders/"}],
          escalation_reason="frustrated")  # fmt: skip
    reply(session_id=C, finished_at=at(26), ttft_ms=400, total_ms=3000,
          model="smollm2-135m-instruct", question="Do you ship to Iceland?", sources=[],
          top_passage_score=None, intent="shipping", verdict="")  # fmt: skip
    reply(session_id=D, finished_at=at(29, 22), ttft_ms=None, total_ms=500, status="failed",
          input_tokens=0, output_tokens=0, question="Talk to a human please", sources=[],
          intent="", escalation_reason="unanswered")  # fmt: skip
    signals.send_now(signals.conversation_escalated, escalation=escalated(B, "frustrated"))
    signals.send_now(signals.conversation_rated, rating=rated(A, 5))
    signals.send_now(signals.conversation_rated, rating=rated(B, 1, "Useless"))
    signals.send_now(signals.conversation_rated, rating=rated(C, 3))
    reply(finished_at=at(30))  # Monday of the next week: not in W48


def test_the_report_matches_the_hand_computed_figures(two_weeks):
    report = report_build(week_parse("2026-W48"))
    assert (report["start"], report["end"]) == ("2026-11-23", "2026-11-29")
    assert report["volumes"] == {
        "conversations": 4, "messages": 9, "replies": 5,  # 5 replies, 1 without a new question
        "previous": {"conversations": 2, "messages": 4, "replies": 2},
        "change_pct": {"conversations": 100.0, "messages": 125.0, "replies": 150.0},
    }  # fmt: skip
    assert report["resolution"] == {"conversations": 4, "resolved": 1, "rate": 25.0}
    assert report["ratings"] == {
        "count": 3, "average": 3.0, "distribution": {"1": 1, "2": 0, "3": 1, "4": 0, "5": 1}
    }  # fmt: skip
    assert report["escalations"] == {"total": 2, "by_reason": {"frustrated": 1, "unanswered": 1}}
    # TTFT [100, 200, 300, 400]: nearest rank p50 = 2nd, p95 = 4th; totals sorted
    # [500, 1000, 1500, 2000, 3000]: p50 = 3rd, p95 = 5th.
    assert report["latency"] == {"ttft_p50_ms": 200, "ttft_p95_ms": 400,
                                 "total_p50_ms": 1500, "total_p95_ms": 3000}  # fmt: skip
    cost = report["cost"]
    assert cost["total"] == pytest.approx(0.00654)  # 2 * 0.00027 (gpt-4o-mini) + 0.006 (Claude)
    assert [(r["model"], r["replies"]) for r in cost["by_model"]] == [
        ("claude-sonnet-4-5", 1), ("gpt-4o-mini", 3), ("smollm2-135m-instruct", 1)
    ]  # fmt: skip
    assert report["top_topics"] == [
        {"topic": "Resetting your password", "count": 2},
        {"topic": "Order tracking", "count": 1},
        {"topic": "shipping", "count": 1},
    ]
    assert [(g["question"], g["count"]) for g in report["knowledge_gaps"]] == [
        ("Do you ship to Iceland?", 1), ("Talk to a human please", 1)
    ]  # fmt: skip
    assert [(w["session_id"], w["rating"], w["comment"]) for w in report["worst_rated"]] == [
        (B, 1, "Useless"), (C, 3, ""), (A, 5, "")
    ]  # fmt: skip


def test_percentiles_are_nearest_rank():
    assert percentile([10], 0.95) == 10
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([], 0.5) is None


def test_the_default_week_is_the_last_complete_one():
    assert week_last(date(2026, 12, 2)).label == "2026-W48"  # a Wednesday
    assert week_last(date(2026, 11, 30)).label == "2026-W48"  # a Monday


def test_every_format_carries_the_same_figures(two_weeks, capsys):
    for fmt, marker in (("text", "resolved: 1 of 4 (25.0%)"), ("markdown", "## Volumes"),
                        ("html", "<td>Conversations</td><td>4</td>")):  # fmt: skip
        call_command("weekly_report", "--week=2026-W48", f"--format={fmt}")
        assert marker in capsys.readouterr().out
    call_command("weekly_report", "--week=2026-W48", "--format=json")
    assert json.loads(capsys.readouterr().out)["volumes"]["messages"] == 9


def test_saving_twice_replaces_and_the_admin_shows_it(two_weeks, client, django_user_model):
    call_command("weekly_report", "--week=2026-W48", "--save")
    reply(session_id=A, finished_at=at(25))
    call_command("weekly_report", "--week=2026-W48", "--save")
    saved = WeeklyReport.objects.get()
    assert saved.data["volumes"]["replies"] == 6 and "weekly report 2026-W48" in saved.text
    user = django_user_model.objects.create_user("ana", "a@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(user)
    page = client.get(f"/admin/analytics/weeklyreport/{saved.pk}/change/").content.decode()
    assert "Weekly report 2026-W48" in page and "Useless" in page


def test_the_report_is_emailed_through_djangos_backend(two_weeks):
    call_command("weekly_report", "--week=2026-W48", "--email=ops@example.com, cto@example.com")
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "cto@example.com"]
    assert "2026-W48" in message.subject and "resolved: 1 of 4" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "<table>" in html


@pytest.mark.parametrize(("args", "error"), [
    (["--week=2026-48"], "YYYY-Www"), (["--week=2026-W60"], "not a week of that year"),
    (["--email=not-an-address"], "not an e-mail address"),
])  # fmt: skip
def test_bad_arguments_are_refused_with_a_reason(args, error):
    with pytest.raises(CommandError, match=error):
        call_command("weekly_report", *args)
