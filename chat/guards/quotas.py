"""Daily quotas: messages, input tokens and output tokens per user or anonymous visitor.

The day is the owner's local day: it ends at midnight in the time zone the browser reports (the
caller passes it; an unknown name falls back to settings.TIME_ZONE, then UTC). Usage is what the
provider reported, charged after each reply with `quota_charge`; `quota_check` refuses before
the call a request that would clearly go over: no messages left, output tokens used up, or an
estimated prompt larger than the input tokens left.

A cached answer costs no tokens but counts as a message: the caller charges it with
`input_tokens=0, output_tokens=0`. Messages measure how much a visitor asks, tokens what it cost.

Two requests checked at the same moment can both pass and together go a little over; the rate
limit bounds how far. The time zone is the browser's word: a visitor who forges it can move its
day boundary, and since at most three calendar dates exist on Earth at once, reach at most three
days' budget within one day. A limit of 0 means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from django.conf import settings

from chat.config import limit
from chat.guards.limits import ip_network_key
from chat.guards.usage import Usage, adaily_usage_get, adaily_usages_add, adaily_usages_get
from chat.identity import Owner

log = structlog.get_logger(__name__)

MAX_TZ_NAME = 64


@dataclass(frozen=True)
class QuotaDecision:
    """Whether a request fits today's quota. When refused, `reason` is the exhausted quota
    (`messages`, `input_tokens` or `output_tokens`) and `retry_after` the seconds to the reset."""

    allowed: bool
    retry_after: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Quota:
    """Daily limits for one kind of owner; 0 means no limit."""

    messages: int
    input_tokens: int
    output_tokens: int


UNLIMITED = Quota(messages=0, input_tokens=0, output_tokens=0)


@dataclass(frozen=True)
class Day:
    """The owner's local day and the UTC instant it ends."""

    date: date
    resets_at: datetime

    def seconds_left(self, now: datetime) -> float:
        return max((self.resets_at - now).total_seconds(), 0.0)


def _now() -> datetime:
    """The current time (aware, UTC). Tests patch this to freeze the clock."""
    return datetime.now(UTC)


IP_PREFIX = "ip:"


def ip_owner(ip: str | None) -> Owner | None:
    """The pseudo-owner that counts every anonymous visitor of one IP network (an IPv4 address,
    an IPv6 /64): a new cookie, or none, does not buy a new daily budget."""
    return Owner(user_id=None, visitor_key=IP_PREFIX + ip_network_key(ip)) if ip else None


def quota_for(owner: Owner) -> Quota:
    if owner.visitor_key.startswith(IP_PREFIX) and not owner.is_authenticated:
        return Quota(
            messages=settings.CHAT_QUOTA_ANON_IP_MESSAGES,
            input_tokens=settings.CHAT_QUOTA_ANON_IP_INPUT_TOKENS,
            output_tokens=settings.CHAT_QUOTA_ANON_IP_OUTPUT_TOKENS,
        )
    kind = "user" if owner.is_authenticated else "anon"  # the operator's values, else env's
    return Quota(
        messages=int(limit(f"quota_{kind}_messages")),
        input_tokens=int(limit(f"quota_{kind}_input_tokens")),
        output_tokens=int(limit(f"quota_{kind}_output_tokens")),
    )


def owner_zone(tz: str | None) -> ZoneInfo:
    """The zone named `tz`, else settings.TIME_ZONE, else UTC: never raises."""
    for name in (tz, settings.TIME_ZONE, "UTC"):
        if not name or len(name) > MAX_TZ_NAME:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            log.info("quota_timezone_unknown", tz=name[:MAX_TZ_NAME])
    return ZoneInfo("UTC")


def local_day(*, now: datetime, tz: str | None) -> Day:
    """The owner's date at `now`, and the next local midnight as a UTC instant."""
    zone = owner_zone(tz)
    today = now.astimezone(zone).date()
    # Where midnight does not exist (a DST jump at 00:00), zoneinfo maps it to the jump itself.
    midnight = datetime.combine(today + timedelta(days=1), dt_time.min, tzinfo=zone)
    return Day(date=today, resets_at=midnight.astimezone(UTC))


# --- The async API the consumer and the SSE view call -------------------------------------------


def _refusal(*, quota: Quota, used: Usage, estimated_input_tokens: int) -> str:
    """The quota a request would exceed, or "" when it fits."""
    if quota.messages and used.messages >= quota.messages:
        return "messages"
    if quota.output_tokens and used.output_tokens >= quota.output_tokens:
        return "output_tokens"
    if quota.input_tokens and estimated_input_tokens > quota.input_tokens - used.input_tokens:
        return "input_tokens"
    return ""




def _charged(owner: Owner, ip: str | None) -> list[Owner]:
    """Whom a message counts against: the owner and, for an anonymous visitor, its IP network."""
    network = None if owner.is_authenticated else ip_owner(ip)
    return [owner, network] if network is not None else [owner]


async def quota_check(
    *, owner: Owner, tz: str | None, estimated_input_tokens: int, ip: str | None = None
) -> QuotaDecision:
    """Whether `owner` (and, anonymous, its IP network) may send one more message of about
    `estimated_input_tokens` today."""
    now = _now()
    day = local_day(now=now, tz=tz)
    counted_owners = [o for o in _charged(owner, ip) if quota_for(o) != UNLIMITED]
    if not counted_owners:  # nothing to check: no trip to the database
        return QuotaDecision(allowed=True)
    usages = await adaily_usages_get(owners=counted_owners, day=day.date)
    for counted, used in zip(counted_owners, usages, strict=True):
        reason = _refusal(
            quota=quota_for(counted), used=used, estimated_input_tokens=estimated_input_tokens
        )
        if reason:
            log.info("quota_exceeded", owner=counted.label, reason=reason, day=day.date.isoformat())
            return QuotaDecision(allowed=False, retry_after=day.seconds_left(now), reason=reason)
    return QuotaDecision(allowed=True)


async def quota_charge(
    *,
    owner: Owner,
    tz: str | None,
    input_tokens: int,
    output_tokens: int,
    messages: int = 1,
    ip: str | None = None,
) -> None:
    """Charge what one reply used (as the provider reported it) to `owner`'s local day, and to
    its IP network's for an anonymous visitor."""
    day = local_day(now=_now(), tz=tz)
    await adaily_usages_add(
        owners=_charged(owner, ip),
        day=day.date,
        messages=max(messages, 0),
        input_tokens=max(input_tokens, 0),
        output_tokens=max(output_tokens, 0),
    )


def _remaining(limit: int, used: int) -> int | None:
    return max(limit - used, 0) if limit else None


async def usage_snapshot(*, owner: Owner, tz: str | None) -> dict:
    """Today's usage and limits, for the `usage` event and GET /api/chat/usage/.

    `messages_limit` and `messages_remaining` are None when messages are not limited.
    """
    day = local_day(now=_now(), tz=tz)
    used = await adaily_usage_get(owner=owner, day=day.date)
    quota = quota_for(owner)
    return {
        "messages_used": used.messages,
        "messages_remaining": _remaining(quota.messages, used.messages),
        "messages_limit": quota.messages or None,
        "tokens_used": used.input_tokens + used.output_tokens,
        "input_tokens_used": used.input_tokens,
        "output_tokens_used": used.output_tokens,
        "resets_at": day.resets_at.isoformat().replace("+00:00", "Z"),
    }
