"""Daily quotas: charged from reported usage, refused before the call, reset at local midnight."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import close_old_connections, connection

from chat.guards import quotas
from chat.guards import usage as rows
from chat.guards.quotas import quota_charge, quota_check, usage_snapshot
from chat.identity import Owner
from chat.models import DailyUsage

pytestmark = pytest.mark.django_db(transaction=True)

# 14:30 UTC on 10 March 2026: 23:30 in Tokyo (UTC+9), 10:30 in New York (EDT, UTC-4).
NOON_ISH = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """Freeze chat.guards.quotas' clock; `clock.set(datetime)` moves it."""

    class Clock:
        now = NOON_ISH

        def set(self, value: datetime) -> None:
            self.now = value

    frozen = Clock()
    monkeypatch.setattr(quotas, "_now", lambda: frozen.now)
    return frozen


@pytest.fixture(autouse=True)
def small_quotas(settings):
    settings.TIME_ZONE = "UTC"
    settings.CHAT_QUOTA_ANON_MESSAGES = 3
    settings.CHAT_QUOTA_ANON_INPUT_TOKENS = 1000
    settings.CHAT_QUOTA_ANON_OUTPUT_TOKENS = 500
    settings.CHAT_QUOTA_USER_MESSAGES = 5
    settings.CHAT_QUOTA_USER_INPUT_TOKENS = 10_000
    settings.CHAT_QUOTA_USER_OUTPUT_TOKENS = 5000


async def test_charges_accumulate_into_todays_snapshot(clock, visitor_owner):
    await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=120, output_tokens=40)
    await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=80, output_tokens=60)
    snapshot = await usage_snapshot(owner=visitor_owner, tz="UTC")
    assert snapshot == {
        "messages_used": 2,
        "messages_remaining": 1,
        "messages_limit": 3,
        "tokens_used": 300,
        "input_tokens_used": 200,
        "output_tokens_used": 100,
        "resets_at": "2026-03-11T00:00:00Z",
    }


async def test_a_cached_answer_counts_as_a_message_but_costs_no_tokens(clock, visitor_owner):
    await quota_charge(owner=visitor_owner, tz=None, input_tokens=0, output_tokens=0)
    snapshot = await usage_snapshot(owner=visitor_owner, tz=None)
    assert (snapshot["messages_used"], snapshot["tokens_used"]) == (1, 0)


async def test_it_refuses_before_the_call_when_no_message_is_left(clock, visitor_owner):
    for _ in range(3):
        assert (await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=10)).allowed
        await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=10, output_tokens=10)
    decision = await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=10)
    assert (decision.allowed, decision.reason) == (False, "messages")
    assert decision.retry_after == pytest.approx(9.5 * 3600)  # to midnight UTC


async def test_without_quotas_the_check_reads_nothing_and_usage_is_still_counted(
    clock, visitor_owner, settings, monkeypatch
):
    for what in ("MESSAGES", "INPUT_TOKENS", "OUTPUT_TOKENS"):
        setattr(settings, f"CHAT_QUOTA_ANON_{what}", 0)
        setattr(settings, f"CHAT_QUOTA_ANON_IP_{what}", 0)
    reads = []
    monkeypatch.setattr(quotas, "adaily_usages_get", lambda **kw: reads.append(kw))
    for _ in range(5):
        await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=10, output_tokens=10)

    decision = await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=10**6)

    assert decision.allowed and reads == []  # every question asks: no trip to the database
    assert (await usage_snapshot(owner=visitor_owner, tz="UTC"))["messages_used"] == 5


async def test_it_refuses_a_prompt_larger_than_the_input_tokens_left(clock, visitor_owner):
    await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=700, output_tokens=10)
    fits = await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=300)
    too_big = await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=301)
    assert fits.allowed
    assert (too_big.allowed, too_big.reason) == (False, "input_tokens")


async def test_it_refuses_when_output_tokens_are_used_up(clock, visitor_owner):
    await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=10, output_tokens=500)
    decision = await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=1)
    assert (decision.allowed, decision.reason) == (False, "output_tokens")


async def test_the_day_ends_at_midnight_in_the_visitors_time_zone(clock, visitor_owner):
    tokyo, new_york = "Asia/Tokyo", "America/New_York"
    for _ in range(3):
        await quota_charge(owner=visitor_owner, tz=tokyo, input_tokens=1, output_tokens=1)
    refused = await quota_check(owner=visitor_owner, tz=tokyo, estimated_input_tokens=1)
    assert (refused.allowed, refused.retry_after) == (False, pytest.approx(30 * 60))
    snapshot = await usage_snapshot(owner=visitor_owner, tz=tokyo)
    assert snapshot["resets_at"] == "2026-03-10T15:00:00Z"

    clock.set(datetime(2026, 3, 10, 15, 0, 1, tzinfo=UTC))  # 00:00:01 on 11 March in Tokyo
    assert (await quota_check(owner=visitor_owner, tz=tokyo, estimated_input_tokens=1)).allowed
    # Usage is kept per calendar date: New York is still on 10 March, the day already used up.
    snapshot = await usage_snapshot(owner=visitor_owner, tz=new_york)
    assert snapshot["messages_used"] == 3
    assert snapshot["resets_at"] == "2026-03-11T04:00:00Z"


async def test_retry_after_counts_to_new_york_midnight(clock, visitor_owner):
    for _ in range(3):
        await quota_charge(
            owner=visitor_owner, tz="America/New_York", input_tokens=1, output_tokens=1
        )
    decision = await quota_check(
        owner=visitor_owner, tz="America/New_York", estimated_input_tokens=1
    )
    assert decision.retry_after == pytest.approx(13.5 * 3600)  # 10:30 EDT -> midnight


async def test_a_daylight_saving_day_is_23_hours_long(clock, visitor_owner):
    # 01:00 EST on 8 March 2026; clocks jump to EDT at 02:00, so midnight is 22 hours away.
    clock.set(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
    snapshot = await usage_snapshot(owner=visitor_owner, tz="America/New_York")
    assert snapshot["resets_at"] == "2026-03-09T04:00:00Z"


@pytest.mark.parametrize("bad", ["Not/AZone", "../../etc/passwd", "", "x" * 500, "UTC\x00"])
async def test_an_invalid_time_zone_falls_back_to_the_site_zone(
    clock, visitor_owner, settings, bad
):
    settings.TIME_ZONE = "Asia/Tokyo"
    snapshot = await usage_snapshot(owner=visitor_owner, tz=bad)
    assert snapshot["resets_at"] == "2026-03-10T15:00:00Z"  # Tokyo midnight


async def test_a_user_is_counted_across_browsers_with_user_limits(clock, alice):
    laptop = Owner(user_id=alice.pk, visitor_key="laptop")
    phone = Owner(user_id=alice.pk, visitor_key="phone")
    for owner in (laptop, phone, laptop, phone, laptop):
        await quota_charge(owner=owner, tz="UTC", input_tokens=1, output_tokens=1)
    snapshot = await usage_snapshot(owner=phone, tz="UTC")
    assert (snapshot["messages_used"], snapshot["messages_limit"]) == (5, 5)
    decision = await quota_check(owner=laptop, tz="UTC", estimated_input_tokens=1)
    assert (decision.allowed, decision.reason) == (False, "messages")
    assert await DailyUsage.objects.acount() == 1


async def test_two_visitors_have_separate_quotas(clock, visitor_owner, other_visitor_owner):
    for _ in range(3):
        await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=1, output_tokens=1)
    assert not (await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=1)).allowed
    assert (
        await quota_check(owner=other_visitor_owner, tz="UTC", estimated_input_tokens=1)
    ).allowed


async def test_a_zero_limit_means_no_limit(clock, visitor_owner, settings):
    settings.CHAT_QUOTA_ANON_MESSAGES = 0
    for _ in range(10):
        await quota_charge(owner=visitor_owner, tz="UTC", input_tokens=1, output_tokens=1)
    assert (await quota_check(owner=visitor_owner, tz="UTC", estimated_input_tokens=1)).allowed
    snapshot = await usage_snapshot(owner=visitor_owner, tz="UTC")
    assert (snapshot["messages_remaining"], snapshot["messages_limit"]) == (None, None)


def test_concurrent_charges_from_many_threads_all_add_up(visitor_owner):
    """Each thread has its own database connection, like separate server processes."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:"):
        pytest.skip(
            "in-memory SQLite's shared cache raises 'table is locked' instead of waiting; "
            "the PostgreSQL run (scripts/test.sh, part 2) covers this"
        )
    day = NOON_ISH.date()
    barrier = threading.Barrier(8)
    errors = []

    def charge():
        try:
            barrier.wait()
            for _ in range(5):
                rows.daily_usage_add(
                    owner=visitor_owner, day=day, messages=1, input_tokens=10, output_tokens=2
                )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=charge) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    usage = rows.daily_usage_get(owner=visitor_owner, day=day)
    assert (usage.messages, usage.input_tokens, usage.output_tokens) == (40, 400, 80)
    assert DailyUsage.objects.count() == 1


async def test_new_cookies_from_one_network_share_the_ip_networks_daily_quota(settings):
    settings.CHAT_QUOTA_ANON_MESSAGES = 5
    settings.CHAT_QUOTA_ANON_IP_MESSAGES = 3
    for i in range(3):
        visitor = Owner(user_id=None, visitor_key=f"fresh-cookie-{i}")
        assert (
            await quota_check(owner=visitor, tz=None, estimated_input_tokens=1, ip="2001:db8::1")
        ).allowed
        await quota_charge(
            owner=visitor, tz=None, input_tokens=1, output_tokens=1, ip=f"2001:db8::{i + 1}"
        )  # the same /64
    another = Owner(user_id=None, visitor_key="yet-another-cookie")
    refused = await quota_check(owner=another, tz=None, estimated_input_tokens=1, ip="2001:db8::99")
    assert not refused.allowed and refused.reason == "messages"
    elsewhere = await quota_check(
        owner=another, tz=None, estimated_input_tokens=1, ip="2001:db9::1"
    )
    assert elsewhere.allowed


def test_a_visitor_and_its_network_are_read_in_one_query_each_with_its_own_usage(db):
    from django.contrib.auth import get_user_model
    from django.test.utils import CaptureQueriesContext

    day = datetime(2026, 3, 2, tzinfo=UTC).date()
    visitor = Owner(user_id=None, visitor_key="cookie-1")
    network = quotas.ip_owner("198.51.100.7")
    user = get_user_model().objects.create_user("ann")
    signed_in = Owner(user_id=user.pk, visitor_key="cookie-1")  # same cookie, signed in
    rows.daily_usage_add(owner=visitor, day=day, messages=2, input_tokens=20, output_tokens=4)
    rows.daily_usage_add(owner=network, day=day, messages=5, input_tokens=50, output_tokens=9)
    rows.daily_usage_add(owner=signed_in, day=day, messages=7, input_tokens=1, output_tokens=1)
    fresh = Owner(user_id=None, visitor_key="cookie-2")

    with CaptureQueriesContext(connection) as queries:
        usages = rows.daily_usages_get(owners=[visitor, network, fresh, signed_in], day=day)
    assert len(queries) == 1
    assert [(u.messages, u.input_tokens, u.output_tokens) for u in usages] == [
        (2, 20, 4), (5, 50, 9), (0, 0, 0), (7, 1, 1)
    ]  # fmt: skip


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_charge_is_one_statement_whether_the_days_row_exists_or_not(db, signed_in):
    from django.contrib.auth import get_user_model
    from django.test.utils import CaptureQueriesContext

    day = datetime(2026, 3, 2, tzinfo=UTC).date()
    user = get_user_model().objects.create_user("bea") if signed_in else None
    owner = Owner(user_id=user.pk if user else None, visitor_key="cookie-9")
    for _ in range(2):  # the first message of the day, then the next
        with CaptureQueriesContext(connection) as queries:
            rows.daily_usage_add(
                owner=owner, day=day, messages=1, input_tokens=10, output_tokens=3
            )
        assert len(queries) == 1
    usage = rows.daily_usage_get(owner=owner, day=day)
    assert (usage.messages, usage.input_tokens, usage.output_tokens) == (2, 20, 6)
    assert DailyUsage.objects.count() == 1


def test_an_anonymous_visitor_and_its_network_are_charged_in_one_statement(db):
    from django.test.utils import CaptureQueriesContext

    day = datetime(2026, 3, 2, tzinfo=UTC).date()
    visitor, network = Owner(user_id=None, visitor_key="cookie-3"), quotas.ip_owner("192.0.2.9")
    rows.daily_usage_add(owner=network, day=day, messages=4, input_tokens=4, output_tokens=4)
    with CaptureQueriesContext(connection) as queries:
        rows.daily_usages_add(
            owners=[visitor, network], day=day, messages=1, input_tokens=10, output_tokens=3
        )  # the visitor's row is new, its network's is not
    assert len(queries) == 1
    usages = rows.daily_usages_get(owners=[visitor, network], day=day)
    assert [(u.messages, u.input_tokens, u.output_tokens) for u in usages] == [
        (1, 10, 3), (5, 14, 7)
    ]  # fmt: skip
    stored = DailyUsage.objects.get(visitor_key="cookie-3")
    assert stored.updated_at is not None and stored.day == day  # read back by the ORM
