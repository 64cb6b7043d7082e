"""The weekly report's figures for one ISO week (Monday to Sunday in settings.TIME_ZONE).

Exact figures from the facts of that week (percentiles by nearest rank), and the week before for
the changes. Everything returned is JSON-ready (numbers, strings, lists, dicts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from analytics.models import ConversationFact, DailyCount, GapQuestion, ReplyFact

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")
TOP = 10


class WeekError(ValueError):
    """A week that is not written as YYYY-Www (for example 2026-W48) or does not exist."""


@dataclass(frozen=True)
class Week:
    start: date  # a Monday

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def label(self) -> str:
        year, number, _ = self.start.isocalendar()
        return f"{year}-W{number:02d}"

    def previous(self) -> Week:
        return Week(self.start - timedelta(days=7))

    def bounds(self) -> tuple[datetime, datetime]:
        """The week's first and first-after instants in the server's time zone."""
        start = timezone.make_aware(datetime.combine(self.start, time.min))
        return start, timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))


def week_parse(text: str) -> Week:
    match = WEEK_PATTERN.match(text.strip())
    if not match:
        raise WeekError(f"{text!r} is not a week: write it as YYYY-Www, for example 2026-W48.")
    try:
        return Week(date.fromisocalendar(int(match[1]), int(match[2]), 1))
    except ValueError as exc:
        raise WeekError(f"{text!r} is not a week of that year: {exc}.") from exc


def week_last(today: date | None = None) -> Week:
    """The last complete week before `today` (in TIME_ZONE)."""
    today = today or timezone.localdate()
    return Week(today - timedelta(days=today.weekday() + 7))


def percentile(values: list[int], q: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _change(current: int, previous: int) -> float | None:
    return round(100 * (current - previous) / previous, 1) if previous else None


def volumes(week: Week) -> dict:
    days = (week.start, week.end)
    replies = ReplyFact.objects.filter(day__range=days).aggregate(
        replies=Count("id"), regenerated=Count("id", filter=Q(regenerated=True))
    )
    return {
        "conversations": ConversationFact.objects.filter(day__range=days).count(),
        "messages": 2 * replies["replies"] - replies["regenerated"],
        "replies": replies["replies"],
    }


def _top_topics(week: Week) -> list[dict]:
    rows = (
        DailyCount.objects.filter(kind=DailyCount.Kind.TOPIC, day__range=(week.start, week.end))
        .values("key")
        .annotate(count=Sum("count"))
        .order_by("-count", "key")[:TOP]
    )
    return [{"topic": row["key"], "count": row["count"]} for row in rows]


def _conversations(week: Week) -> dict:
    conversations = ConversationFact.objects.filter(day__range=(week.start, week.end))
    counts = conversations.aggregate(
        total=Count("id"),
        resolved=Count("id", filter=Q(resolved=True)),
        escalated=Count("id", filter=Q(escalated=True)),
        synthetic=Count("id", filter=Q(synthetic=True)),
    )
    distribution = dict(
        conversations.filter(rating__isnull=False)
        .values_list("rating")
        .annotate(n=Count("id"))
        .values_list("rating", "n")
    )
    rated = sum(distribution.values())
    average = sum(s * n for s, n in distribution.items()) / rated if rated else None
    reasons = (
        conversations.filter(escalated=True)
        .values("escalation_reason")
        .annotate(count=Count("id"))
        .order_by("-count", "escalation_reason")
    )
    return {
        "resolution": {
            "conversations": counts["total"],
            "resolved": counts["resolved"],
            "rate": _rate(counts["resolved"], counts["total"]),
        },
        "ratings": {
            "count": rated,
            "average": round(average, 2) if average is not None else None,
            "distribution": {str(s): distribution.get(s, 0) for s in range(1, 6)},
        },
        "escalations": {
            "total": counts["escalated"],
            "by_reason": {r["escalation_reason"] or "unknown": r["count"] for r in reasons},
        },
        "synthetic_conversations": counts["synthetic"],
    }


def _latency(week: Week) -> dict:
    replies = ReplyFact.objects.filter(day__range=(week.start, week.end))
    rows = list(replies.values_list("ttft_ms", "total_ms"))
    ttft = [t for t, _ in rows if t is not None]
    total = [t for _, t in rows]
    return {
        "ttft_p50_ms": percentile(ttft, 0.5),
        "ttft_p95_ms": percentile(ttft, 0.95),
        "total_p50_ms": percentile(total, 0.5),
        "total_p95_ms": percentile(total, 0.95),
    }


def _cost(week: Week) -> dict:
    rows = (
        ReplyFact.objects.filter(day__range=(week.start, week.end))
        .values("provider", "model")
        .annotate(
            cost=Sum("cost"),
            replies=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
        )
        .order_by("-cost", "provider", "model")
    )
    by_model = [
        {**row, "cost": _money(row["cost"])} for row in rows
    ]
    total = sum((row["cost"] or Decimal(0) for row in rows), Decimal(0))
    return {"currency": settings.ANALYTICS_CURRENCY, "total": _money(total), "by_model": by_model}


def _money(value) -> float:
    return float(round(value or Decimal(0), 6))


def _gaps(week: Week) -> list[dict]:
    start, end = week.bounds()
    rows = (
        GapQuestion.objects.filter(asked_at__gte=start, asked_at__lt=end)
        .values("group_id", "group__question", "group__resolved_at")
        .annotate(count=Count("id"))
        .order_by("-count", "group__question")[:TOP]
    )
    return [
        {
            "question": row["group__question"],
            "count": row["count"],
            "resolved": row["group__resolved_at"] is not None,
            "url": reverse("admin:analytics_gapgroup_change", args=[row["group_id"]]),
        }
        for row in rows
    ]


def _worst_rated(week: Week) -> list[dict]:
    rows = (
        ConversationFact.objects.filter(day__range=(week.start, week.end), rating__isnull=False)
        .order_by("rating", "-last_at")
        .values("session_id", "rating", "rating_comment", "user_type", "replies")[:5]
    )
    return [
        {
            "session_id": str(row["session_id"]),
            "rating": row["rating"],
            "comment": row["rating_comment"],
            "user_type": row["user_type"],
            "replies": row["replies"],
            "url": reverse("admin:chat_chatsession_change", args=[row["session_id"]]),
        }
        for row in rows
    ]


def report_build(week: Week) -> dict:
    """Every figure of the weekly report."""
    current, previous = volumes(week), volumes(week.previous())
    return {
        "week": week.label,
        "start": week.start.isoformat(),
        "end": week.end.isoformat(),
        "time_zone": settings.TIME_ZONE,
        "volumes": {
            **current,
            "previous": previous,
            "change_pct": {name: _change(current[name], previous[name]) for name in current},
        },
        "top_topics": _top_topics(week),
        **_conversations(week),
        "latency": _latency(week),
        "cost": _cost(week),
        "knowledge_gaps": _gaps(week),
        "worst_rated": _worst_rated(week),
    }
