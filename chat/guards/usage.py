"""What each user or anonymous visitor used per local day: the rows the daily quotas read.

Charges are upserts (`INSERT ... ON CONFLICT ... DO UPDATE`, PostgreSQL and SQLite, the two
databases Concierge runs on: chat.E008): the database adds to the counters itself, so
concurrent replies from several processes never lose a charge, and a first message of the day
is one statement, not an UPDATE that finds nothing and then an INSERT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from chat.db import db_async
from chat.identity import Owner
from chat.models import DailyUsage


@dataclass(frozen=True)
class Usage:
    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _owner_lookup(owner: Owner) -> dict:
    if owner.is_authenticated:
        return {"user_id": owner.user_id}
    return {"user__isnull": True, "visitor_key": owner.visitor_key}


def _owner_key(owner: Owner) -> tuple[int | None, str]:
    return _row_key(owner.user_id, owner.visitor_key)


def _row_key(user_id: int | None, visitor_key: str) -> tuple[int | None, str]:
    """A user's row by user, an anonymous visitor's by visitor key."""
    return (user_id, "") if user_id is not None else (None, visitor_key)


def daily_usage_get(*, owner: Owner, day: date) -> Usage:
    """What `owner` used on `day` (zeros when nothing was charged)."""
    return daily_usages_get(owners=[owner], day=day)[0]


def daily_usages_get(*, owners: list[Owner], day: date) -> list[Usage]:
    """What each of `owners` used on `day`, in one query."""
    match = Q()
    for owner in owners:
        match |= Q(**_owner_lookup(owner))
    rows = DailyUsage.objects.filter(match, day=day).values(
        "user_id", "visitor_key", "messages", "input_tokens", "output_tokens"
    )
    found = {}
    for row in rows:
        key = _row_key(row.pop("user_id"), row.pop("visitor_key"))
        found[key] = Usage(**row)
    return [found.get(_owner_key(owner), Usage()) for owner in owners]


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


def daily_usage_add(
    *, owner: Owner, day: date, messages: int, input_tokens: int, output_tokens: int
) -> None:
    """Add to `owner`'s counters for `day`, creating the row on first use (one statement)."""
    daily_usages_add(owners=[owner], day=day, messages=messages, input_tokens=input_tokens,
                     output_tokens=output_tokens)  # fmt: skip


def daily_usages_add(
    *, owners: list[Owner], day: date, messages: int, input_tokens: int, output_tokens: int
) -> None:
    """Charge each of `owners` (distinct) for `day`: one upsert per kind of owner (signed in,
    anonymous), so an anonymous visitor and its IP network are one statement."""
    counts = (messages, input_tokens, output_tokens)
    for signed_in in (True, False):
        of_kind = [owner for owner in owners if owner.is_authenticated == signed_in]
        if of_kind:
            _usages_upsert(owners=of_kind, day=day, counts=counts)


adaily_usage_get = db_async(daily_usage_get)
adaily_usages_get = db_async(daily_usages_get)
adaily_usages_add = db_async(daily_usages_add)
