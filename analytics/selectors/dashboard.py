"""The dashboard's figures, read from the daily rollups only (never from the messages).

Every function takes the same `Filters`; each returns plain rows that the page draws as a chart
and prints as a table, so a person can check every number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Max, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from analytics.models import TTFT_BUCKET_COUNT, TTFT_BUCKETS_MS, DailyCount, DailyRollup, OwnerDay

DEFAULT_DAYS = 30
REPLY_SUMS = (
    "conversations", "messages", "replies", "replies_complete", "replies_stopped",
    "replies_failed", "replies_interrupted", "input_tokens", "output_tokens", "cost",
    "cache_hits", "fallbacks", "checked", "grounded", "gaps", "escalated", "resolved", "rated",
    "rating_1", "rating_2", "rating_3", "rating_4", "rating_5",
    *(f"ttft_{index}" for index in range(TTFT_BUCKET_COUNT)),
)  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters; empty strings mean "all"."""

    start: date
    end: date
    user_type: str = ""
    universe: str = ""
    provider: str = ""
    model: str = ""

    @classmethod
    def default(cls, today: date | None = None) -> Filters:
        today = today or timezone.localdate()
        return cls(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today)

    def query(self) -> str:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for name in ("user_type", "universe", "provider", "model"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return urlencode(params)


def user_type_q(value: str, *, prefix: str = "") -> Q:
    """`user` matches `user` and `user:client`; `user:client` matches itself only."""
    name = f"{prefix}user_type"
    if ":" in value:
        return Q(**{name: value})
    return Q(**{name: value}) | Q(**{f"{name}__startswith": f"{value}:"})


def dimensions_q(filters: Filters, *, prefix: str = "") -> Q:
    q = Q()
    if filters.user_type:
        q &= user_type_q(filters.user_type, prefix=prefix)
    for name in ("universe", "provider", "model"):
        value = getattr(filters, name)
        if value:
            q &= Q(**{f"{prefix}{name}": value})
    return q


def _rollups(filters: Filters) -> QuerySet:
    days = (filters.start, filters.end)
    return DailyRollup.objects.filter(dimensions_q(filters), day__range=days)


def percentile_from_histogram(hist: list[int], q: float) -> int | None:
    """Estimate the q-quantile (ms) from bucket counts, interpolating inside the bucket."""
    total = sum(hist)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(hist):
        if count and seen + count >= rank:
            low = TTFT_BUCKETS_MS[index - 1] if index else 0
            if index >= len(TTFT_BUCKETS_MS):
                return low
            high = TTFT_BUCKETS_MS[index]
            return round(low + (high - low) * (rank - seen) / count)
        seen += count
    return TTFT_BUCKETS_MS[-1]


def _histogram(row: dict) -> list[int]:
    return [row[f"ttft_{index}"] or 0 for index in range(TTFT_BUCKET_COUNT)]


def _share(part, whole) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def days_of(filters: Filters) -> list[date]:
    count = (filters.end - filters.start).days + 1
    return [filters.start + timedelta(days=i) for i in range(count)]


def daily(filters: Filters) -> list[dict]:
    """One row per day of the range (zeros on quiet days)."""
    rows = {
        row["day"]: row
        for row in _rollups(filters).values("day").annotate(**{n: Sum(n) for n in REPLY_SUMS})
    }
    result = []
    for day in days_of(filters):
        row = rows.get(day) or dict.fromkeys(REPLY_SUMS, 0)
        hist = _histogram(row)
        result.append(
            {
                "day": day,
                "conversations": row["conversations"],
                "messages": row["messages"],
                "replies": row["replies"],
                "input_tokens": row["input_tokens"],
                "output_tokens": row["output_tokens"],
                "cost": row["cost"] or Decimal(0),
                "ttft_p50": percentile_from_histogram(hist, 0.5),
                "ttft_p95": percentile_from_histogram(hist, 0.95),
                "checked": row["checked"],
                "grounded": row["grounded"],
                "grounded_share": _share(row["grounded"], row["checked"]),
                "escalated": row["escalated"],
                "resolved": row["resolved"],
                "escalation_rate": _share(row["escalated"], row["conversations"]),
                "resolution_rate": _share(row["resolved"], row["conversations"]),
            }
        )
    return result


def totals(filters: Filters) -> dict:
    """Sums over the whole range, with rates and the rating distribution."""
    sums = _rollups(filters).aggregate(**{n: Sum(n) for n in REPLY_SUMS})
    sums = {name: value or 0 for name, value in sums.items()}
    hist = _histogram(sums)
    ratings = [{"score": s, "count": sums[f"rating_{s}"]} for s in range(1, 6)]
    rated = sum(r["count"] for r in ratings)
    average = sum(r["score"] * r["count"] for r in ratings) / rated if rated else None
    return {
        **sums,
        "cost": sums["cost"] or Decimal(0),
        "ttft_p50": percentile_from_histogram(hist, 0.5),
        "ttft_p95": percentile_from_histogram(hist, 0.95),
        "escalation_rate": _share(sums["escalated"], sums["conversations"]),
        "resolution_rate": _share(sums["resolved"], sums["conversations"]),
        "grounded_share": _share(sums["grounded"], sums["checked"]),
        "ratings": ratings,
        "rating_average": round(average, 2) if average is not None else None,
        "synthetic_conversations": _rollups(filters)
        .filter(synthetic=True)
        .aggregate(n=Sum("conversations"))["n"]
        or 0,
    }


def by_model(filters: Filters) -> list[dict]:
    rows = (
        _rollups(filters)
        .values("provider", "model")
        .annotate(
            replies=Sum("replies"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
        )
        .order_by("-cost", "-replies")
    )
    return list(rows)


def top_keys(filters: Filters, *, kind: str, limit: int = 10) -> list[dict]:
    """The most frequent topics or pages in the range."""
    return list(
        DailyCount.objects.filter(
            dimensions_q(filters), kind=kind, day__range=(filters.start, filters.end)
        )
        .values("key")
        .annotate(count=Sum("count"))
        .order_by("-count", "key")[:limit]
    )


@dataclass
class Spender:
    label: str
    user_type: str
    replies: int
    tokens: int
    cost: Decimal
    url: str
    user_id: int | None = None
    visitor_key: str = ""
    extra: dict = field(default_factory=dict)


def costliest(filters: Filters, *, since: date, until: date, limit: int = 10) -> list[Spender]:
    """Who spent the most between two days (the denial-of-wallet view)."""
    rows = OwnerDay.objects.filter(day__range=(since, until))
    if filters.user_type:
        rows = rows.filter(user_type_q(filters.user_type))
    rows = (
        rows.values("user_id", "visitor_key")
        .annotate(
            replies=Sum("replies"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
            user_type=Max("user_type"),
        )
        .order_by("-cost", "-replies")[:limit]
    )
    rows = list(rows)
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[r["user_id"] for r in rows if r["user_id"] is not None])
        .values_list("pk", "username")
    )
    return [_spender(row, names) for row in rows]


def _spender(row: dict, names: dict) -> Spender:
    changelist = reverse("admin:chat_chatsession_changelist")
    if row["user_id"] is not None:
        label = names.get(row["user_id"], f"user #{row['user_id']}")
        url = f"{changelist}?user__id__exact={row['user_id']}"
    else:
        label = f"visitor {row['visitor_key'][:12]}"
        url = f"{changelist}?{urlencode({'visitor_key': row['visitor_key']})}"
    return Spender(
        label=label,
        user_type=row["user_type"],
        replies=row["replies"],
        tokens=row["input_tokens"] + row["output_tokens"],
        cost=row["cost"] or Decimal(0),
        url=url,
        user_id=row["user_id"],
        visitor_key=row["visitor_key"],
    )


def filter_choices() -> dict[str, list[str]]:
    """The values each filter can take, from what was recorded."""
    rows = DailyRollup.objects.values_list("user_type", "universe", "provider", "model").distinct()
    choices: dict[str, set] = {"user_type": set(), "universe": set(), "provider": set(),
                               "model": set()}  # fmt: skip
    for user_type, universe, provider, model in rows:
        choices["user_type"].add(user_type)
        if ":" in user_type:
            choices["user_type"].add(user_type.split(":", 1)[0])
        choices["universe"].add(universe)
        choices["provider"].add(provider)
        choices["model"].add(model)
    return {name: sorted(v for v in values if v) for name, values in choices.items()}


def dashboard(filters: Filters, *, today: date | None = None) -> dict:
    """Everything the dashboard page shows."""
    today = today or timezone.localdate()
    week_start = today - timedelta(days=today.weekday())
    return {
        "daily": daily(filters),
        "totals": totals(filters),
        "models": by_model(filters),
        "topics": top_keys(filters, kind=DailyCount.Kind.TOPIC),
        "pages": top_keys(filters, kind=DailyCount.Kind.PAGE),
        "costliest_today": costliest(filters, since=today, until=today),
        "costliest_week": costliest(filters, since=week_start, until=today),
        "choices": filter_choices(),
    }
