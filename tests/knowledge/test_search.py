"""Hybrid search on a small help center: dense, lexical, fused, threshold, category filter."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from knowledge import embeddings, services
from knowledge.search import entry_search, status
from knowledge.search.lexical import BM25Index, coverage, tokenize
from knowledge.services import entries_embed_stale
from tests.knowledge.conftest import make_entry

pytestmark = pytest.mark.django_db


def titles(hits):
    return [hit.entry.title for hit in hits]


def test_it_finds_the_entry_a_paraphrased_question_is_about(help_center):
    hits = entry_search("I forgot my login, how can I set a new one?", limit=3)
    assert titles(hits)[0] == "How do I reset my password?"
    assert hits[0].mode == "hybrid"
    assert hits[0].relevance >= 0.35


def test_it_ranks_by_meaning_when_no_word_matches(help_center):
    hits = entry_search("money back for an order", limit=1)
    assert titles(hits) == ["How do I get a refund?"]


def test_the_lexical_term_breaks_a_tie_between_near_identical_entries(db):
    make_entry(
        "export", "How do I export my data?", "Choose Export, then the file type: spreadsheet."
    )
    make_entry("export", "How can I export my data?", "Choose Export, then the file type: XLSB.")
    hits = entry_search("export my data as XLSB", limit=2)
    assert titles(hits)[0] == "How can I export my data?"


def test_nothing_is_returned_under_the_relevance_threshold(help_center):
    assert entry_search("What is the capital of France?") == []
    assert entry_search("   ") == []


def test_the_category_filter_keeps_only_that_category(help_center):
    store = make_entry("App store", "How do I get a refund?", "Ask the app store, not us.")
    hits = entry_search("can I get my money back", category="app STORE", limit=5)
    assert [hit.entry for hit in hits] == [store]
    hits = entry_search("can I get my money back", category="billing", limit=5)
    assert hits and {hit.entry.category for hit in hits} == {"billing"}
    assert entry_search("how do I pay", category="no-such-category") == []


def test_one_answer_per_question_comes_before_the_other_answers(db):
    first = make_entry("tyres", "Which tyre is fastest?", "The soft tyre, over one lap.")
    second = make_entry("tyres", "Which tyre is fastest?", "Softs are quickest but wear out first.")
    other = make_entry("tyres", "How long does a hard tyre last?", "Often more than 30 laps.")
    hits = entry_search("what is the quickest tyre compound", limit=3)
    assert titles(hits)[0] == "Which tyre is fastest?"
    assert hits[1].entry == other
    assert hits[2].entry in (first, second)


def test_inactive_entries_are_never_found(help_center):
    entry = help_center["Where is my parcel?"]
    services.entries_set_active(ids=[entry.pk], active=False)
    assert "Where is my parcel?" not in titles(entry_search("track my parcel delivery"))


def test_an_edit_is_searchable_at_once(help_center):
    assert titles(entry_search("track my parcel", limit=1)) == ["Where is my parcel?"]
    entry = help_center["Where is my parcel?"]
    entry.title, entry.body = "Can I bring my dog?", "Dogs on a lead are welcome in the shop."
    services.entry_save(entry=entry)
    assert titles(entry_search("are pets allowed in the store", limit=1)) == ["Can I bring my dog?"]


def test_entries_store_their_vector_when_saved(help_center):
    entry = help_center["How do I delete my account?"]
    entry.refresh_from_db()
    assert embeddings.from_bytes(entry.embedding).shape == (embeddings.DIMENSIONS,)
    assert entry.embedding_model == embeddings.RECIPE


def test_without_the_model_search_is_lexical_and_says_so(help_center, no_model):
    with capture_logs() as logs:
        hits = entry_search("reset my password", limit=2)
        entry_search("delete account", limit=2)
    assert titles(hits)[0] == "How do I reset my password?"
    assert {hit.mode for hit in hits} == {"lexical"}
    warnings = [log for log in logs if log["event"] == "knowledge_embeddings_unavailable"]
    assert len(warnings) == 1
    assert status()["mode"] == "lexical" and status()["dense_unavailable_reason"]


def test_lexical_only_search_keeps_the_threshold_and_the_category_filter(help_center, no_model):
    assert entry_search("capital of France") == []
    hits = entry_search("delete account password", category="account", limit=5)
    assert hits and {hit.entry.category for hit in hits} == {"account"}


def test_entries_saved_without_the_model_are_found_once_it_is_back(db, settings):
    settings.KNOWLEDGE_EMBEDDING_MODEL = "/nonexistent/model-directory"
    embeddings.reset()
    entry = make_entry("garden", "When should I water tomatoes?", "Early in the morning.")
    assert entry.embedding is None
    settings.KNOWLEDGE_EMBEDDING_MODEL = ""
    embeddings.reset()
    assert titles(entry_search("best time of day to water tomato plants", limit=1)) == [
        "When should I water tomatoes?"
    ]
    entry.refresh_from_db()
    assert entry.embedding is None  # a search is a read: it embeds in memory, stores nothing
    assert entries_embed_stale() == 1  # the write path (reindex_knowledge) stores the vector
    entry.refresh_from_db()
    assert entry.embedding_model == embeddings.RECIPE


def test_bm25_scores_are_normalised_and_prefer_the_matching_document():
    index = BM25Index(["red soft tyre", "yellow medium tyre", "white hard tyre lasts long"])
    scores = index.scores("soft tyres")
    assert scores.argmax() == 0
    assert 0 < scores.max() <= 1
    assert index.scores("unknownword").max() == 0


def test_the_tokenizer_drops_stopwords_and_light_stems():
    assert tokenize("How do I delete the accounts?") == ["delet", "account"]
    assert coverage(tokenize("delete accounts"), "Deleting your account") == 1.0


@pytest.mark.django_db(transaction=True)
def test_edits_through_the_services_show_at_once_between_version_checks(settings):
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 3600
    make_entry("garden", "When should I water tomatoes?", "Early in the morning.")
    assert titles(entry_search("watering tomato plants", limit=1)) == [
        "When should I water tomatoes?"
    ]
    entry = make_entry("garden", "How do I prune roses?", "In late winter, above a bud.")
    assert titles(entry_search("cutting back rose bushes", limit=1)) == ["How do I prune roses?"]
    services.entries_set_active(ids=[entry.pk], active=False)
    assert entry_search("cutting back rose bushes", limit=1) == []
