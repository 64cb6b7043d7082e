"""The PostgreSQL path: a stored, GIN-indexed tsvector and full-text search in the database.

These run in the PostgreSQL pass of scripts/test.sh (DATABASE_URL=postgres://...).
"""

from __future__ import annotations

import pytest
from django.db import connection

from knowledge import services
from knowledge.models import KnowledgeBaseEntry
from knowledge.search import entry_search, postgres, status
from tests.services import require_postgres

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture(autouse=True)
def on_postgres():
    require_postgres()
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL path: runs with DATABASE_URL=postgres://... (second test pass)")


def test_saving_an_entry_stores_its_full_text_vector(help_center):
    entry = KnowledgeBaseEntry.objects.get(title="How do I get a refund?")
    assert "refund" in entry.search_vector


def test_the_search_vector_has_a_gin_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'knowledge_entry_search_gin'"
        )
        (definition,) = cursor.fetchone()
    assert "gin" in definition.lower() and "search_vector" in definition


def test_lexical_search_runs_in_the_database(help_center):
    ranked = postgres.ranked_ids("refunds for my purchase")
    assert ranked and ranked[0][0] == KnowledgeBaseEntry.objects.get(title__contains="refund").pk
    assert status()["lexical"] == "postgresql"


def test_full_text_search_honours_the_category_filter(help_center):
    ranked = postgres.ranked_ids("delete account password tyres", category="telemetry")
    categories = set(
        KnowledgeBaseEntry.objects.filter(pk__in=[pk for pk, _ in ranked]).values_list(
            "category", flat=True
        )
    )
    assert categories == {"telemetry"}


def test_an_imported_entry_is_found_through_full_text_search(db, tmp_path, no_model):
    source = tmp_path / "kb.jsonl"
    source.write_text('{"id": "1", "title": "Opening hours", "body": "We open at nine."}\n')
    services.knowledge_import(paths=[source])
    hits = entry_search("when do you open, what are the opening hours")
    assert [hit.entry.title for hit in hits] == ["Opening hours"]
    assert hits[0].mode == "lexical"


def test_full_text_ranking_can_be_limited_to_the_dense_candidates(help_center):
    refund = KnowledgeBaseEntry.objects.get(title="How do I get a refund?")
    payment = KnowledgeBaseEntry.objects.get(title="Which payment methods do you accept?")
    ranked = postgres.ranked_ids("refund card payment", among=[payment.pk])
    assert [pk for pk, _ in ranked] == [payment.pk]
    assert refund.pk in [pk for pk, _ in postgres.ranked_ids("refund card payment")]
