"""The help center a visitor can browse: an index by category, a category's questions, search,
StackFAQ pages that link their source and licence, and one source per title for chat."""

from __future__ import annotations

import pytest
from django.urls import reverse

from knowledge.models import KnowledgeBaseEntry
from knowledge.search import retrieve_passages
from tests.knowledge.conftest import make_entry

pytestmark = pytest.mark.django_db

STACKFAQ = "StackFAQ (Karan & Šnajder, 2018), Stack Exchange content, CC BY-SA 3.0"


@pytest.fixture
def answers(db):
    """Two answers to one StackFAQ question (the better-ranked first), and other entries."""
    best = make_entry(
        "GitHub",
        "Strikethrough with GitHub Markdown",
        "Use ~~two tildes~~ around the words.",
        source="stackfaq",
        attribution=STACKFAQ,
    )
    second = make_entry(
        "GitHub",
        "Strikethrough with GitHub Markdown",
        "The HTML tag <del> works in GitHub issues and comments for strikethrough text.",
        source="stackfaq",
        attribution=STACKFAQ,
    )
    other = make_entry("GitHub", "How do I fork a repository?", "Press **Fork** at the top.")
    billing = make_entry("Billing", "How do I get a refund?", "Write to support within 30 days.")
    hidden = make_entry("Secret", "Hidden entry", "Not shown.", is_active=False)
    return {"best": best, "second": second, "other": other, "billing": billing, "hidden": hidden}


def test_the_index_lists_categories_with_their_number_of_questions(client, answers):
    html = client.get(reverse("knowledge:index")).content.decode()
    assert 'href="/help/kb/category/GitHub/">GitHub</a>' in html
    assert "(2 questions)" in html  # two answers to one question count once
    assert 'href="/help/kb/category/Billing/">Billing</a>' in html and "(1 question)" in html
    assert "Secret" not in html
    assert 'action="/help/kb/search/"' in html


def test_a_category_lists_each_question_once_with_its_best_answer(client, answers):
    response = client.get(reverse("knowledge:category", kwargs={"name": "GitHub"}))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Strikethrough with GitHub Markdown</a>") == 1
    assert f'href="/help/kb/{answers["best"].pk}/"' in html
    assert f'href="/help/kb/{answers["second"].pk}/"' not in html
    assert "How do I fork a repository?" in html


def test_an_unknown_or_hidden_category_is_not_found(client, answers):
    assert client.get("/help/kb/category/Nope/").status_code == 404
    assert client.get("/help/kb/category/Secret/").status_code == 404


def test_a_category_with_spaces_and_slashes_in_its_name_is_reachable(client, db):
    make_entry("Google Docs", "Print a doc", "Press Ctrl+P.")
    url = reverse("knowledge:category", kwargs={"name": "Google Docs"})
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_search_finds_entries_and_shows_one_per_question(client, answers, mode, request):
    if mode == "lexical":
        request.getfixturevalue("no_model")
    response = client.get(reverse("knowledge:search"), {"q": "strikethrough markdown github"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Strikethrough with GitHub Markdown</a>") == 1  # the better-matching answer
    shown = [f'href="/help/kb/{answers[k].pk}/"' in html for k in ("best", "second")]
    assert sorted(shown) == [False, True]
    assert "refund" not in html


def test_search_says_when_nothing_matches_and_offers_a_person(client, answers):
    html = client.get(reverse("knowledge:search"), {"q": "zebra quantum violin"}).content.decode()
    assert "Nothing in the help center matches" in html
    assert 'href="/help/#contact"' in html


def test_search_shows_the_query_as_text_and_caps_its_length(client, answers):
    html = client.get(
        reverse("knowledge:search"), {"q": '<script>alert("x")</script>' + "a" * 500}
    ).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert "a" * 201 not in html


def test_an_empty_search_shows_the_form_only(client, answers):
    html = client.get(reverse("knowledge:search")).content.decode()
    assert 'name="q"' in html and "result" not in html


def page(client, entry) -> str:
    return client.get(reverse("knowledge:entry", kwargs={"pk": entry.pk})).content.decode()


def test_a_stackfaq_page_links_its_source_and_licence(client, answers):
    html = page(client, answers["best"])
    assert 'href="https://doi.org/10.1016/j.eswa.2017.09.044"' in html
    assert 'href="https://creativecommons.org/licenses/by-sa/3.0/" rel="license' in html
    assert "CC BY-SA 3.0" in html and "Stack Exchange" in html
    assert 'href="/help/kb/category/GitHub/"' in html  # back to its topic


def test_a_page_of_the_site_s_own_help_center_has_no_licence_link(client, answers):
    html = page(client, answers["other"])
    assert "creativecommons.org" not in html.split("<footer")[0]


def test_chat_gets_one_source_per_title_the_best_answer(answers):
    passages = retrieve_passages("strikethrough in github markdown", limit=3)
    titles = [p.title for p in passages]
    assert len(titles) == len(set(titles))
    assert titles.count("Strikethrough with GitHub Markdown") == 1


def test_the_help_center_needs_no_login_but_hides_inactive_entries(client, answers):
    assert client.get(reverse("knowledge:index")).status_code == 200
    hidden = reverse("knowledge:entry", kwargs={"pk": answers["hidden"].pk})
    assert client.get(hidden).status_code == 404
    assert KnowledgeBaseEntry.objects.filter(is_active=False).count() == 1
