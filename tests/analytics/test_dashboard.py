"""The dashboard page in the admin: who may see it, what it shows, how the filters act."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from analytics.selectors.dashboard import Filters, percentile_from_histogram, totals
from chat import signals
from tests.analytics.factories import asker, finished_reply, rated

pytestmark = pytest.mark.django_db
URL = "/admin/analytics/dashboard/"
DAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def analyst(django_user_model):
    user = django_user_model.objects.create_user("ana", "ana@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return user


@pytest.fixture
def week_of_replies():
    """Two anonymous replies on Nov 24 (one rated 2), one staff Claude reply on Nov 25."""
    first = finished_reply(finished_at=DAY, ttft_ms=300)
    signals.send_now(signals.reply_finished, reply=first)
    second = finished_reply(finished_at=DAY, ttft_ms=900, page_url="/pricing/")
    signals.send_now(signals.reply_finished, reply=second)
    signals.send_now(signals.conversation_rated, rating=rated(first.session_id, 2))
    signals.send_now(
        signals.reply_finished,
        reply=finished_reply(
            finished_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
            asker=asker("staff", user_id=99),
            provider="anthropic",
            model="claude-sonnet-4-5",
            universe="telemetry",
            ttft_ms=1200,
        ),
    )


def test_a_visitor_who_is_not_staff_is_sent_to_the_login(client, django_user_model):
    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_the_dashboard_permission_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert client.get(URL + "export/messages.csv").status_code == 403


def test_the_admin_index_links_the_dashboard(client, analyst):
    client.force_login(analyst)
    page = client.get(reverse("admin:index")).content.decode()
    assert URL in page


def test_the_dashboard_shows_the_ranges_figures_and_its_chart_data(client, analyst,
                                                                   week_of_replies):  # fmt: skip
    client.force_login(analyst)
    response = client.get(URL, {"start": "2026-11-20", "end": "2026-11-26"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-total="conversations">3<' in page and 'data-total="messages">6<' in page
    assert "Resolved:" in page and "not rated below 3" in page
    charts = {c["id"]: c for c in response.context["charts"]}
    assert charts["volume"]["labels"][4:6] == ["2026-11-24", "2026-11-25"]
    assert charts["volume"]["datasets"][0]["data"][4:6] == [2, 1]
    assert charts["ratings"]["datasets"][0]["data"] == [0, 1, 0, 0, 0]
    assert '<script id="analytics-data" type="application/json">' in page
    assert "<script>" not in page  # nothing inline for the CSP to block


def test_filters_change_the_numbers(client, analyst, week_of_replies):
    client.force_login(analyst)
    base = {"start": "2026-11-20", "end": "2026-11-26"}
    staff = client.get(URL, {**base, "user_type": "staff"}).context["data"]["totals"]
    anonymous = client.get(URL, {**base, "user_type": "anonymous"}).context["data"]["totals"]
    claude = client.get(URL, {**base, "model": "claude-sonnet-4-5"}).context["data"]["totals"]
    one_day = client.get(URL, {"start": "2026-11-25", "end": "2026-11-25"}).context["data"]
    assert (staff["conversations"], anonymous["conversations"]) == (1, 2)
    assert claude["conversations"] == 1 and float(claude["cost"]) == pytest.approx(0.006)
    assert one_day["totals"]["conversations"] == 1 and len(one_day["daily"]) == 1
    assert anonymous["rating_average"] == 2.0 and anonymous["resolution_rate"] == 50.0


def test_a_bad_range_falls_back_to_the_default_and_says_why(client, analyst):
    client.force_login(analyst)
    response = client.get(URL, {"start": "2026-11-26", "end": "2026-11-20"})
    assert response.status_code == 200
    assert "start date must be on or before" in response.content.decode()


def test_the_costliest_table_links_to_their_conversations(client, analyst, settings):
    settings.TIME_ZONE = "UTC"
    from django.utils import timezone

    now = timezone.now()
    signals.send_now(signals.reply_finished, reply=finished_reply(
        finished_at=now, asker=asker("user", user_id=analyst.pk), input_tokens=10_000))  # fmt: skip
    analyst.user_permissions.add(Permission.objects.get(codename="view_chatsession"))
    client.force_login(analyst)
    spenders = client.get(URL).context["data"]["costliest_today"]
    assert spenders[0].label == "ana"
    assert spenders[0].url == f"/admin/chat/chatsession/?user__id__exact={analyst.pk}"
    assert client.get(spenders[0].url).status_code == 200


def test_percentiles_come_from_the_histogram_by_interpolation():
    hist = [0] * 17
    hist[1] = 10  # ten replies between 50 and 100 ms
    assert percentile_from_histogram(hist, 0.5) == 75
    assert percentile_from_histogram([0] * 17, 0.5) is None


def test_totals_read_rollups_only(django_assert_max_num_queries, week_of_replies):
    with django_assert_max_num_queries(3):
        figures = totals(Filters(start=date(2026, 11, 1), end=date(2026, 11, 30)))
    assert figures["conversations"] == 3
    assert json.dumps(figures["ratings"])
