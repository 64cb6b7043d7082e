"""The volume paths on real PostgreSQL: rollups from bulk facts, dashboard speed, flat export."""

from __future__ import annotations

import time
import tracemalloc
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from analytics.models import ReplyFact
from analytics.selectors.dashboard import Filters, totals
from analytics.selectors.export import export_chunks
from analytics.selectors.report import report_build, week_last
from analytics.services.volume import volume_generate

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def volume():
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL volume test: run with DATABASE_URL=postgres://...")
    return volume_generate(conversations=3000, messages_per=10, days=30)


def test_bulk_volume_reads_fast_and_adds_up(volume, client, django_user_model):
    assert volume["messages"] == 30_000 and volume["reply_facts"] == 15_000
    today = timezone.localdate()
    everything = Filters(start=today - timedelta(days=40), end=today)
    figures = totals(everything)
    assert figures["conversations"] == 3000 and figures["replies"] == 15_000
    assert figures["messages"] == 30_000
    assert figures["cost"] == sum(ReplyFact.objects.values_list("cost", flat=True))

    user = django_user_model.objects.create_user("ana", "a@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(user)
    client.get("/admin/analytics/dashboard/")  # warm: templates compiled, modules imported
    for params in ({}, {"start": str(everything.start)}, {"user_type": "user"},
                   {"model": "gpt-4o-mini", "universe": "general"}):  # fmt: skip
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            assert client.get("/admin/analytics/dashboard/", params).status_code == 200
            timings.append(time.perf_counter() - started)
        assert sorted(timings)[1] < 1.0, (params, timings)  # the median, on a shared CPU

    report = report_build(week_last(today))
    assert report["volumes"]["replies"] > 0 and report["knowledge_gaps"]


def test_the_message_export_streams_in_flat_memory(volume):
    today = timezone.localdate()
    filters = Filters(start=today - timedelta(days=40), end=today)

    def peak_for(limit: int) -> tuple[int, int]:
        tracemalloc.start()
        count = 0
        for chunk in export_chunks("messages", filters):
            count += chunk.count("\n")
            if count >= limit:
                break
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return count, peak

    small_count, small_peak = peak_for(3_000)
    all_count, all_peak = peak_for(10**9)
    assert all_count >= 30_000
    assert all_peak < 2.5 * small_peak + 2_000_000, (small_peak, all_peak)
