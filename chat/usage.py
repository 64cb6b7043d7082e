"""Today's usage for the `usage` event, `ready.usage` and GET /api/chat/usage/."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from chat.identity import Owner
from chat.models import ChatMessage


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def _usage(owner: Owner, tz: str | None) -> dict:
    zone = _zone(tz)
    now = timezone.now().astimezone(zone)
    day_start = datetime.combine(now.date(), time.min, tzinfo=zone)
    messages = ChatMessage.objects.filter(created_at__gte=day_start)
    if owner.user_id is not None:
        messages = messages.filter(session__user_id=owner.user_id)
    else:
        messages = messages.filter(
            session__user__isnull=True, session__visitor_key=owner.visitor_key
        )
    used = messages.filter(role=ChatMessage.Role.USER).count()
    tokens = messages.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    limit = settings.CHAT_DAILY_MESSAGES
    return {
        "messages_used": used,
        "messages_remaining": max(0, limit - used),
        "tokens_used": (tokens["i"] or 0) + (tokens["o"] or 0),
        "resets_at": (day_start + timedelta(days=1)).astimezone(ZoneInfo("UTC")).isoformat(),
    }


async def usage_for(*, owner: Owner, tz: str | None) -> dict:
    return await sync_to_async(_usage)(owner, tz)
