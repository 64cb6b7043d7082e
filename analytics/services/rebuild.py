"""Rebuild the daily rollups from the facts (after a bulk load, or to repair them).

The receivers keep rollups current one reply at a time; this recomputes them all at once with a
few GROUP BY queries, for facts loaded in bulk (bench/analytics_volume.py) or after an edit by
hand. Rollup rows of the chosen scope (synthetic or real rows) are replaced in one transaction.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Max, Q, Sum, Value, When

from analytics.models import (
    TTFT_BUCKETS_MS,
    ConversationFact,
    DailyCount,
    DailyRollup,
    OwnerDay,
    ReplyFact,
)
from analytics.services.events import REPLY_STATUSES, page_key

DIMENSIONS = ("day", "user_type", "universe", "provider", "model", "synthetic")
BATCH = 5000


def _bucket_case() -> Case:
    whens = [When(ttft_ms__lte=bound, then=Value(i)) for i, bound in enumerate(TTFT_BUCKETS_MS)]
    return Case(*whens, default=Value(len(TTFT_BUCKETS_MS)), output_field=IntegerField())


def _reply_sums(replies) -> dict[tuple, dict]:
    sums = {
        "replies": Count("id"),
        "regenerated": Count("id", filter=Q(regenerated=True)),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cost": Sum("cost"),
        "cache_hits": Count("id", filter=Q(cached=True)),
        "fallbacks": Count("id", filter=Q(fallback=True)),
        "checked": Count("id", filter=~Q(verdict="")),
        "grounded": Count("id", filter=Q(verdict="grounded")),
        "gaps": Count("id", filter=Q(is_gap=True)),
        **{f"replies_{s}": Count("id", filter=Q(status=s)) for s in REPLY_STATUSES},
    }
    rows = {}
    for row in replies.values(*DIMENSIONS).annotate(**sums).order_by():
        key = tuple(row[d] for d in DIMENSIONS)
        regenerated = row.pop("regenerated")
        row["messages"] = 2 * row["replies"] - regenerated
        rows[key] = {name: row[name] for name in row if name not in DIMENSIONS}
    return rows


def _histograms(replies) -> dict[tuple, list[int]]:
    hists: dict[tuple, list[int]] = defaultdict(lambda: [0] * (len(TTFT_BUCKETS_MS) + 1))
    grouped = (
        replies.filter(ttft_ms__isnull=False)
        .annotate(bucket=_bucket_case())
        .values(*DIMENSIONS, "bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in grouped:
        hists[tuple(row[d] for d in DIMENSIONS)][row["bucket"]] += row["n"]
    return hists


def _conversation_sums(conversations) -> dict[tuple, dict]:
    sums = {
        "conversations": Count("id"),
        "escalated": Count("id", filter=Q(escalated=True)),
        "resolved": Count("id", filter=Q(resolved=True)),
        "rated": Count("id", filter=Q(rating__isnull=False)),
        **{f"rating_{s}": Count("id", filter=Q(rating=s)) for s in range(1, 6)},
    }
    return {
        tuple(row[d] for d in DIMENSIONS): {k: v for k, v in row.items() if k not in DIMENSIONS}
        for row in conversations.values(*DIMENSIONS).annotate(**sums).order_by()
    }


def _rollup_rows(synthetic_q: Q) -> list[DailyRollup]:
    replies = ReplyFact.objects.filter(synthetic_q)
    reply_sums, hists = _reply_sums(replies), _histograms(replies)
    conversation_sums = _conversation_sums(ConversationFact.objects.filter(synthetic_q))
    rows = []
    for key in set(reply_sums) | set(conversation_sums):
        values = {**reply_sums.get(key, {}), **conversation_sums.get(key, {})}
        buckets = {f"ttft_{i}": n for i, n in enumerate(hists.get(key, ())) if n}
        rows.append(DailyRollup(**dict(zip(DIMENSIONS, key, strict=True)), **values, **buckets))
    return rows


def _count_rows(synthetic_q: Q) -> list[DailyCount]:
    counts: dict[tuple, int] = defaultdict(int)
    replies = ReplyFact.objects.filter(synthetic_q)
    for field, kind in (("topic", DailyCount.Kind.TOPIC), ("page_url", DailyCount.Kind.PAGE)):
        grouped = replies.exclude(**{field: ""}).values(*DIMENSIONS, field).annotate(n=Count("id"))
        for row in grouped.order_by():
            key = row[field] if kind == DailyCount.Kind.TOPIC else page_key(row[field])
            counts[(kind, key, *(row[d] for d in DIMENSIONS))] += row["n"]
    return [
        DailyCount(kind=kind, key=key, count=n, **dict(zip(DIMENSIONS, dims, strict=True)))
        for (kind, key, *dims), n in counts.items()
    ]


def _owner_rows(synthetic_q: Q) -> list[OwnerDay]:
    grouped = (
        ReplyFact.objects.filter(synthetic_q)
        .annotate(owner_key=Case(When(user_id__isnull=False, then=Value("")),
                                 default=F("visitor_key")))  # fmt: skip
        .values("day", "user_id", "owner_key", "synthetic")
        .annotate(
            replies=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
            user_type=Max("user_type"),
        )
        .order_by()
    )
    return [
        OwnerDay(day=r["day"], user_id=r["user_id"], visitor_key=r["owner_key"],
                 synthetic=r["synthetic"], replies=r["replies"], input_tokens=r["input_tokens"],
                 output_tokens=r["output_tokens"], cost=r["cost"],
                 user_type=r["user_type"])  # fmt: skip
        for r in grouped
    ]


def rollups_rebuild(*, synthetic: bool | None = None) -> dict[str, int]:
    """Recompute every rollup row of the scope (None: all rows) from the facts."""
    scope = Q() if synthetic is None else Q(synthetic=synthetic)
    rollups, counts, owners = _rollup_rows(scope), _count_rows(scope), _owner_rows(scope)
    with transaction.atomic():
        for model, rows in ((DailyRollup, rollups), (DailyCount, counts), (OwnerDay, owners)):
            model.objects.filter(scope).delete()
            model.objects.bulk_create(rows, batch_size=BATCH)
    return {"rollups": len(rollups), "counts": len(counts), "owners": len(owners)}
