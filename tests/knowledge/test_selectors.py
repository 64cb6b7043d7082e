"""Reads for the assistant and the pages: version stamp, services, FAQ list, page guide."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from knowledge import selectors, services, stamps
from knowledge.models import KnowledgeBaseEntry, NavigationHelp, Service
from tests.knowledge.conftest import make_entry

pytestmark = pytest.mark.django_db


def test_kb_version_changes_on_every_kind_of_edit(help_center):
    stamps = [selectors.kb_version()]
    entry = help_center["Where is my parcel?"]
    entry.body = "Ask the carrier."
    services.entry_save(entry=entry)
    stamps.append(selectors.kb_version())
    services.entries_set_active(ids=[entry.pk], active=False)
    stamps.append(selectors.kb_version())
    KnowledgeBaseEntry.objects.filter(pk=help_center["How do I get a refund?"].pk).delete()
    stamps.append(selectors.kb_version())
    Service.objects.create(name="Setup", slug="setup")
    stamps.append(selectors.kb_version())
    assert len(set(stamps)) == len(stamps)
    assert selectors.kb_version() == stamps[-1]


def test_service_info_gives_price_duration_and_availability(db):
    Service.objects.create(
        name="Guided setup",
        slug="setup",
        price=Decimal("490"),
        currency="EUR",
        duration=timedelta(minutes=90),
        availability="Weekdays",
    )
    Service.objects.create(name="Custom work", slug="custom", price=None)
    Service.objects.create(name="Retired", slug="retired", is_active=False)
    info = selectors.service_info(name_or_slug="guided SETUP")
    assert info["price"] == "490.00 EUR" and info["duration"] == "1 h 30 min"
    assert info["availability"] == "Weekdays"
    assert selectors.service_info(name_or_slug="custom")["price"] == "on request"
    assert selectors.service_info(name_or_slug="retired") is None
    assert [s.slug for s in selectors.service_list()] == ["custom", "setup"]


def test_faq_list_filters_by_category_and_skips_inactive(help_center):
    services.entries_set_active(ids=[help_center["How do I get a refund?"].pk], active=False)
    billing = selectors.faq_list(category="BILLING")
    assert [e.title for e in billing] == ["Which payment methods do you accept?"]
    assert "account" in selectors.category_list()


def test_navigation_help_picks_the_most_specific_pattern(db):
    NavigationHelp.objects.create(url_pattern="/", title="Home", description="Start here.")
    NavigationHelp.objects.create(url_pattern="/telemetry/*", title="Telemetry", description="F1.")
    NavigationHelp.objects.create(
        url_pattern="/telemetry/compare/*", title="Compare", description="Two drivers."
    )
    assert (
        selectors.navigation_help_for("https://x.test/telemetry/compare/?a=VER").title == "Compare"
    )
    assert selectors.navigation_help_for("/telemetry/laps/").title == "Telemetry"
    assert selectors.navigation_help_for("/").title == "Home"
    assert selectors.navigation_help_for("/about/") is None


def test_other_answers_are_the_same_question_in_the_same_set(db):
    first = make_entry("tyres", "Which tyre is fastest?", "Softs.", source="f1", external_id="1")
    second = make_entry(
        "tyres", "Which tyre is fastest?", "The soft.", source="f1", external_id="2"
    )
    make_entry("tyres", "Which tyre is fastest?", "Other set.", source="other", external_id="1")
    assert selectors.entry_other_answers(entry=first) == [second]


def test_kb_version_is_read_once_per_interval_and_at_once_after_an_edit_here(
    settings, django_assert_num_queries
):
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600
    first = selectors.kb_version()

    with django_assert_num_queries(0):  # every question reads it: six queries, once a while
        assert selectors.kb_version() == first
    Service.objects.create(name="Setup", slug="setup")  # an edit in this process: seen at once
    assert selectors.kb_version() != first


def test_kb_version_sees_another_processs_edit_after_the_interval(settings, monkeypatch):
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(stamps.time, "monotonic", lambda: now[0])
    first = selectors.kb_version()
    # bulk_create sends no signal: as far as this process knows, someone else wrote it.
    NavigationHelp.objects.bulk_create([NavigationHelp(url_pattern="/x/*", title="X")])

    now[0] += 4.9
    assert selectors.kb_version() == first
    now[0] += 0.2
    assert selectors.kb_version() != first


def test_services_and_page_guides_are_read_once_per_knowledge_stamp(
    settings, django_assert_num_queries
):
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600
    Service.objects.create(name="Setup", slug="setup")
    NavigationHelp.objects.create(url_pattern="/help/*", title="Help", description="FAQ")
    assert [s.slug for s in selectors.service_list()] == ["setup"]
    assert selectors.navigation_help_for("/help/x").title == "Help"

    with django_assert_num_queries(0):  # both asked for every question
        assert [s.slug for s in selectors.service_list()] == ["setup"]
        assert selectors.navigation_help_for("/help/x").title == "Help"
    Service.objects.create(name="Audit", slug="audit")  # a new stamp: read again
    assert {s.slug for s in selectors.service_list()} == {"setup", "audit"}


def test_an_edit_forgets_the_stamp_again_when_it_commits(
    settings, django_capture_on_commit_callbacks
):
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=True):
        Service.objects.create(name="Setup", slug="setup")
        # Another thread asks before the commit and keeps the stamp it could still see.
        stamps._kb_memo["default"] = (stamps.time.monotonic(), "stamp-before-the-edit")

    assert selectors.kb_version() != "stamp-before-the-edit"


def test_an_expired_stamp_is_read_again_by_one_thread_while_the_others_keep_it(
    db, monkeypatch, settings
):
    """A burst arriving as the stamp expires: one thread reads it (six queries), the others
    answer with the stamp of a moment ago instead of all reading it at once."""
    import threading
    import time

    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 1
    stamps.stamps_forget()
    old = stamps.kb_version()
    stamps._kb_memo["default"] = (time.monotonic() - 5, old)  # expired
    reading, release, reads = threading.Event(), threading.Event(), []

    def slow_stamp(model):
        reads.append(model)
        reading.set()
        release.wait(5)
        return "new"

    monkeypatch.setattr(stamps, "model_stamp", slow_stamp)
    results: list[str] = []
    reader = threading.Thread(target=lambda: results.append(stamps.kb_version()))
    reader.start()
    assert reading.wait(5)
    others = [stamps.kb_version() for _ in range(20)]  # while the reader is still reading
    release.set()
    reader.join(5)
    assert others == [old] * 20
    assert results == ["new-new-new"] and len(reads) == len(stamps.STAMPED_MODELS)
    assert stamps.kb_version() == "new-new-new"  # fresh now: not read again
    assert len(reads) == len(stamps.STAMPED_MODELS)


def test_a_forgotten_stamp_is_never_answered_from_before_the_edit(db, monkeypatch, settings):
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600  # kept for long: only a forget reads it again
    stamps.kb_version()
    stamps.stamps_forget()  # an edit
    monkeypatch.setattr(stamps, "model_stamp", lambda model: "edited")
    assert stamps.kb_version() == "edited-edited-edited"


def test_a_stamp_read_while_an_edit_lands_is_not_kept(db, monkeypatch, settings):
    """The reader that read the old stamp as an edit was saved must not keep it for the whole
    interval: the next question reads it again."""
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600  # kept for long: only a forget reads it again
    reads = []

    def edited_meanwhile(model):
        reads.append(model)
        if len(reads) == 1:
            stamps.stamps_forget()  # an edit lands while this stamp is read
        return "old" if len(reads) <= len(stamps.STAMPED_MODELS) else "new"

    monkeypatch.setattr(stamps, "model_stamp", edited_meanwhile)
    assert stamps.kb_version() == "old-old-old"  # what was read, for this question only
    assert stamps.kb_version() == "new-new-new"
