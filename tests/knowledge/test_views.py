"""The help-center page of an entry (the link under an answer) and the admin that edits it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from knowledge import embeddings
from knowledge.models import KnowledgeBaseEntry
from tests.knowledge.conftest import make_entry

pytestmark = pytest.mark.django_db


def test_an_entry_page_renders_markdown_safely_with_its_attribution(client):
    entry = make_entry(
        "Gmail",
        "Undo send",
        "Turn on **Undo send**.\n\n<script>alert(1)</script>\n\n[bad](javascript:alert(2))",
        attribution="StackFAQ, Stack Exchange, CC BY-SA 3.0",
        url="javascript:alert(3)",
    )
    response = client.get(f"/help/kb/{entry.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Undo send</strong>" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'href="javascript' not in html
    assert "CC BY-SA 3.0" in html


def test_an_inactive_or_missing_entry_is_not_found(client):
    entry = make_entry("x", "Hidden", "Body", is_active=False)
    assert client.get(f"/help/kb/{entry.pk}/").status_code == 404
    assert client.get("/help/kb/999999/").status_code == 404


def test_saving_in_the_admin_updates_the_search_data(admin_client):
    response = admin_client.post(
        reverse("admin:knowledge_knowledgebaseentry_add"),
        {
            "title": "Opening hours",
            "category": "Shop",
            "body": "Nine to **five**.",
            "keywords": "",
            "url": "/shop/",
            "is_active": "on",
            "source": "",
            "external_id": "",
            "attribution": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = KnowledgeBaseEntry.objects.get(title="Opening hours")
    assert entry.embedding_model == embeddings.RECIPE
    page = admin_client.get(reverse("admin:knowledge_knowledgebaseentry_change", args=[entry.pk]))
    assert "Nine to <strong>five</strong>." in page.content.decode()


def test_the_admin_lists_and_searches_entries(admin_client, help_center):
    url = reverse("admin:knowledge_knowledgebaseentry_changelist")
    response = admin_client.get(url, {"q": "refund", "category": "billing"})
    assert response.status_code == 200
    assert "How do I get a refund?" in response.content.decode()
