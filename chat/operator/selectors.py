"""Reads for the operator's pages: the settings row, its stamp, today's usage."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.utils import timezone

from chat.models import ChatMessage, ChatSession, DailyUsage
from chat.operator.models import AssistantSettings


def settings_get() -> AssistantSettings:
    """The settings row, or an unsaved one with every field empty (all from the environment)."""
    row = AssistantSettings.objects.filter(pk=AssistantSettings.SINGLETON_ID).first()
    return row or AssistantSettings(pk=AssistantSettings.SINGLETON_ID)


def usage_today() -> dict:
    """Today's traffic (the server's day): quota counters, replies and their outcomes."""
    today = timezone.localdate()
    start = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time()))
    counters = DailyUsage.objects.filter(day=today).aggregate(
        messages=Sum("messages"),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
    )
    replies = ChatMessage.objects.filter(
        role=ChatMessage.Role.ASSISTANT, created_at__gte=start
    ).aggregate(
        total=Count("id"),
        failed=Count("id", filter=Q(status=ChatMessage.Status.FAILED)),
        cached=Count("id", filter=Q(cached=True)),
    )
    return {
        "day": today.isoformat(),
        "messages": counters["messages"] or 0,
        "input_tokens": counters["input_tokens"] or 0,
        "output_tokens": counters["output_tokens"] or 0,
        "replies": replies["total"],
        "replies_failed": replies["failed"],
        "replies_cached": replies["cached"],
        "conversations_started": ChatSession.objects.filter(created_at__gte=start).count(),
    }
