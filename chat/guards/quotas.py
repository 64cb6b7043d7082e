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
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from chat.config import limit
from chat.db import db_async
from chat.guards.limits import ip_network_key
from chat.identity import Owner
from chat.models import DailyUsage

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
class Usage:
    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


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


# --- Sync ORM: read and write one owner's row for one day ---------------------------------------


def _owner_lookup(owner: Owner) -> dict:
    if owner.is_authenticated:
        return {"user_id": owner.user_id}
    return {"user__isnull": True, "visitor_key": owner.visitor_key}


def daily_usage_get(*, owner: Owner, day: date) -> Usage:
    """What `owner` used on `day` (zeros when nothing was charged)."""
    row = (
        DailyUsage.objects.filter(day=day, **_owner_lookup(owner))
        .values("messages", "input_tokens", "output_tokens")
        .first()
    )
    return Usage(**row) if row else Usage()


def daily_usage_add(
    *, owner: Owner, day: date, messages: int, input_tokens: int, output_tokens: int
) -> None:
    """Add to `owner`'s counters for `day`, creating the row on first use.

    On PostgreSQL and SQLite one upsert (`_usages_upsert`). Elsewhere, increments are `F()`
    updates done by the database, so concurrent charges from several processes add up; when two
    processes create the same row at once, the unique constraint refuses one, which then
    updates the row the other created.
    """
    if connection.vendor in UPSERT_VENDORS:
        _usages_upsert(owners=[owner], day=day, counts=(messages, input_tokens, output_tokens))
        return
    increments = {
        "messages": F("messages") + messages,
        "input_tokens": F("input_tokens") + input_tokens,
        "output_tokens": F("output_tokens") + output_tokens,
        "updated_at": timezone.now(),
    }
    rows = DailyUsage.objects.filter(day=day, **_owner_lookup(owner))
    if rows.update(**increments):
        return
    try:
        with transaction.atomic():
            DailyUsage.objects.create(
                user_id=owner.user_id,
                visitor_key="" if owner.is_authenticated else owner.visitor_key,
                day=day,
                messages=messages,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
    except IntegrityError:
        rows.update(**increments)


UPSERT_VENDORS = ("postgresql", "sqlite")  # INSERT ... ON CONFLICT (...) WHERE ... DO UPDATE
_UPSERT = """
INSERT INTO {table} (user_id, visitor_key, day, messages, input_tokens, output_tokens, updated_at)
VALUES {rows}
ON CONFLICT ({owner}, day) WHERE user_id IS {null} DO UPDATE SET
    messages = {table}.messages + excluded.messages,
    input_tokens = {table}.input_tokens + excluded.input_tokens,
    output_tokens = {table}.output_tokens + excluded.output_tokens,
    updated_at = excluded.updated_at
"""


def _usages_upsert(*, owners: list[Owner], day: date, counts: tuple[int, int, int]) -> None:
    """Charge `owners` (all signed in, or all anonymous) in one statement, whether the day's
    rows exist or not: an UPDATE that found nothing then an INSERT in a transaction was four
    round trips for each visitor's first message of the day, and an anonymous visitor's charge
    is two rows (its own and its IP network's). The conflict target is the partial unique
    index of the owners' kind (chat/models.py), so concurrent charges add up."""
    signed_in = owners[0].is_authenticated
    if any(owner.is_authenticated != signed_in for owner in owners):
        raise ValueError("one upsert charges owners of one kind: signed in, or anonymous")
    table = connection.ops.quote_name(DailyUsage._meta.db_table)
    sql = _UPSERT.format(
        table=table,
        rows=", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(owners)),
        owner="user_id" if signed_in else "visitor_key",
        null="NOT NULL" if signed_in else "NULL",
    )
    day_value = connection.ops.adapt_datefield_value(day)
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # as the ORM stores it
    params = []
    for owner in owners:
        visitor_key = "" if signed_in else owner.visitor_key
        params += [owner.user_id, visitor_key, day_value, *counts, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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


def _owner_key(owner: Owner) -> tuple[int | None, str]:
    return (owner.user_id, "") if owner.is_authenticated else (None, owner.visitor_key)


def _owners_match(owners: list[Owner]) -> Q:
    match = Q()
    for owner in owners:
        match |= Q(**_owner_lookup(owner))
    return match


def daily_usages_get(*, owners: list[Owner], day: date) -> list[Usage]:
    """What each of `owners` used on `day`, in one trip to the database."""
    if len(owners) == 1:
        return [daily_usage_get(owner=owners[0], day=day)]
    rows = DailyUsage.objects.filter(_owners_match(owners), day=day).values(
        "user_id", "visitor_key", "messages", "input_tokens", "output_tokens"
    )
    found = {}
    for row in rows:
        user_id, visitor_key = row.pop("user_id"), row.pop("visitor_key")
        found[(user_id, "") if user_id is not None else (None, visitor_key)] = Usage(**row)
    return [found.get(_owner_key(owner), Usage()) for owner in owners]


def daily_usages_add(
    *, owners: list[Owner], day: date, messages: int, input_tokens: int, output_tokens: int
) -> None:
    """Charge each of `owners` (distinct) for `day`: in one statement where the database
    upserts and the owners are of one kind (an anonymous visitor and its IP network)."""
    kinds = {owner.is_authenticated for owner in owners}
    if connection.vendor in UPSERT_VENDORS and len(kinds) == 1:
        _usages_upsert(owners=owners, day=day, counts=(messages, input_tokens, output_tokens))
        return
    for owner in owners:
        daily_usage_add(owner=owner, day=day, messages=messages, input_tokens=input_tokens,
                        output_tokens=output_tokens)  # fmt: skip


adaily_usage_get = db_async(daily_usage_get)
adaily_usages_get = db_async(daily_usages_get)
adaily_usages_add = db_async(daily_usages_add)
adaily_usage_add = db_async(daily_usage_add)


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
