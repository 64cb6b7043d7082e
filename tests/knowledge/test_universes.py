"""The demo universes: who may use them, and what their loaders give a prompt."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps

from chat.guards.quotas import local_day, quota_for
from chat.guards.usage import daily_usage_add
from chat.identity import Owner
from chat.models import ChatSession
from chat.reply.universes import (
    DEFAULT_UNIVERSE,
    ContextRequest,
    universe_get,
    universe_list,
)
from chat.signals import Asker
from knowledge.models import NavigationHelp, Service
from knowledge.routing import example_parse
from knowledge.stamps import kb_version

pytestmark = pytest.mark.django_db

ANONYMOUS = Asker(user_id=None, visitor_key="visitor-browser", kind="anonymous")
INTENTS = {"general_help", "service_inquiry", "provider_question", "navigation_help", "account"}


def ask(universe: str, *, asker: Asker = ANONYMOUS, page: dict | None = None, question="?"):
    request = ContextRequest(question=question, universe=universe, asker=asker, page=page or {})
    return universe_get(universe, asker).load(request)


def signed_in(user, *, kind: str = "user") -> Asker:
    return Asker(user_id=user.pk, visitor_key="alice-browser", kind=kind)


# --- Registration ------------------------------------------------------------------------------


def test_anonymous_visitors_get_three_universes_and_general_is_the_default(alice):
    anonymous = [u.key for u in universe_list(ANONYMOUS)]
    member = [u.key for u in universe_list(signed_in(alice))]

    assert DEFAULT_UNIVERSE == "general" == anonymous[0]
    assert {"general", "services", "navigation"} <= set(anonymous)
    assert "account" not in anonymous
    assert "account" in member


def test_each_demo_universe_has_what_the_selector_and_the_router_need():
    for key in ("general", "services", "navigation", "account"):
        universe = universe_get(key, Asker(user_id=1, visitor_key="v", kind="user"))
        intents = {example_parse(e, universe=key)[0] for e in universe.examples}

        assert universe.label and universe.intro and "\n" not in universe.intro
        assert 100 <= universe.token_budget <= 1000
        assert len(universe.examples) >= 10
        assert intents <= INTENTS, intents


def test_registering_again_from_ready_changes_nothing():
    before = {u.key: u for u in universe_list(Asker(user_id=1, visitor_key="v", kind="user"))}

    apps.get_app_config("knowledge").ready()

    after = {u.key: u for u in universe_list(Asker(user_id=1, visitor_key="v", kind="user"))}
    assert after == before


# --- Loaders -----------------------------------------------------------------------------------


def test_the_services_loader_lists_each_active_service_with_price_and_availability():
    Service.objects.create(
        name="Guided setup session",
        slug="setup",
        price=Decimal("490"),
        duration=timedelta(hours=2),
        availability="Weekdays, 9:00 to 17:00 UTC.",
        description="A video call with an engineer. It lasts two hours.",
        url="/help/#contact",
    )
    Service.objects.create(name="Self-hosted", slug="self", price=Decimal("0"), position=1)
    Service.objects.create(name="Custom integration", slug="custom", price=None, position=2)
    Service.objects.create(name="Retired offer", slug="old", price=Decimal("10"), is_active=False)

    part = ask("services")

    assert part.source == "universe:services"
    assert "Guided setup session: 490.00 USD, 2 h. Availability: Weekdays" in part.text
    assert "A video call with an engineer." in part.text
    assert "Self-hosted: free" in part.text
    assert "Custom integration: on request" in part.text
    assert "Retired offer" not in part.text


def test_the_services_loader_gives_nothing_when_there_are_no_services():
    assert ask("services") is None


@pytest.fixture
def page_guide():
    for pattern, title, help_ in [
        ("/", "Home", "What Concierge does."),
        ("/help/", "Help", "How the chat works."),
        ("/help/kb/*", "Help-center article", "One article; use the breadcrumb to go back."),
        ("/telemetry/*", "F1 telemetry dashboards", "Lap times and traces."),
        ("/admin/*", "Administration", "Staff only."),
    ]:
        NavigationHelp.objects.create(url_pattern=pattern, title=title, description=help_)


def test_the_navigation_loader_gives_the_page_guide_entry_of_the_page(page_guide):
    page = {"url": "https://site.example/help/kb/12/?from=chat", "title": "An article"}

    part = ask("navigation", page=page)

    assert "This page (/help/kb/12/) is the Help-center article page" in part.text
    assert "use the breadcrumb to go back" in part.text


def test_the_navigation_loader_lists_the_main_sections_but_staff_pages_only_to_staff(
    page_guide, alice
):
    visitor = ask("navigation", page={"url": "/nowhere/"}).text
    staff = ask("navigation", asker=signed_in(alice, kind="staff"), page={"url": "/"}).text

    assert "This page" not in visitor  # no entry for /nowhere/
    for section in ("- Home: /", "- Help: /help/", "- F1 telemetry dashboards: /telemetry/"):
        assert section in visitor
    assert "Help-center article:" not in visitor  # one level deep only
    assert "Administration" not in visitor
    assert "- Administration: /admin/" in staff


def test_the_navigation_universe_is_not_cached_because_it_depends_on_the_page():
    assert universe_get("navigation").cache_seconds == 0


def test_the_account_loader_tells_usage_and_history_without_personal_data(alice, bob):
    alice.first_name, alice.last_name = "Alice", "Liddell"
    alice.save()
    for _ in range(2):
        ChatSession.objects.create(user=alice)
    ChatSession.objects.create(user=bob)
    owner = Owner(user_id=alice.pk, visitor_key="alice-browser")
    today = local_day(now=alice.date_joined, tz=None).date
    daily_usage_add(owner=owner, day=today, messages=3, input_tokens=1200, output_tokens=300)

    part = ask("account", asker=signed_in(alice))

    quota = quota_for(owner)
    assert f"Member since {alice.date_joined:%B %Y}." in part.text
    assert "Conversations: 2." in part.text
    assert f"3 messages sent of {quota.messages} allowed ({quota.messages - 3} left)" in part.text
    assert "1,500 tokens used" in part.text
    for personal in ("alice", "liddell", "example.com", "@"):
        assert personal not in part.text.casefold()


def test_the_account_universe_is_refused_to_anonymous_visitors():
    from chat.exceptions import Forbidden

    with pytest.raises(Forbidden):
        ask("account")


def test_loaders_are_quick_and_make_few_queries(
    page_guide, alice, django_assert_max_num_queries, settings
):
    Service.objects.create(name="Import", slug="import", price=Decimal("290"))
    member = signed_in(alice)
    # The knowledge base's stamp is read once a second per process, not once per loader.
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600
    kb_version()
    for universe in ("services", "navigation", "account"):
        started = time.perf_counter()
        with django_assert_max_num_queries(3):
            assert ask(universe, asker=member, page={"url": "/help/"}) is not None
        assert time.perf_counter() - started < settings.CHAT_CONTEXT_DEADLINE / 2
