"""A small help center to search, built through the real services (real embeddings)."""

from __future__ import annotations

import pytest

from knowledge import embeddings, services
from knowledge.models import KnowledgeBaseEntry
from knowledge.search import index

FIXTURE_KB = [
    (
        "billing",
        "How do I get a refund?",
        "Write to support within 30 days of the purchase; the money is back in five business days.",
        "refund, money back",
    ),
    (
        "billing",
        "Which payment methods do you accept?",
        "Visa, Mastercard and bank transfer. We do not accept cheques.",
        "pay, card",
    ),
    (
        "account",
        "How do I reset my password?",
        "Click **Forgot password** on the login page and follow the link we email you.",
        "login, password",
    ),
    (
        "account",
        "How do I delete my account?",
        "Open Settings, then Privacy, then *Delete account*. It cannot be undone.",
        "remove, close account",
    ),
    (
        "telemetry",
        "How do I compare two drivers' laps?",
        "On the telemetry page pick two drivers; their speed traces are drawn on one chart.",
        "F1, chart",
    ),
    (
        "telemetry",
        "What do the tyre colours mean?",
        "Red is soft, yellow is medium and white is hard compound.",
        "tyres, compounds",
    ),
    (
        "shipping",
        "Where is my parcel?",
        "Use the tracking number from your confirmation email on the carrier's site.",
        "delivery, tracking",
    ),
]


@pytest.fixture(autouse=True)
def fresh_index(settings):
    """Each test sees its own data: drop the in-process index (the model stays loaded).

    Tests also change rows behind the services' back, so the version is checked every search.
    """
    settings.KNOWLEDGE_INDEX_CHECK_SECONDS = 0
    index.clear()
    yield
    index.clear()


@pytest.fixture
def no_model(settings):
    """Search as on a machine without the embedding model."""
    settings.KNOWLEDGE_EMBEDDING_MODEL = "/nonexistent/model-directory"
    embeddings.reset()
    yield
    embeddings.reset()


def make_entry(category, title, body, keywords="", **fields) -> KnowledgeBaseEntry:
    return services.entry_save(
        entry=KnowledgeBaseEntry(
            category=category, title=title, body=body, keywords=keywords, **fields
        )
    )


@pytest.fixture
def help_center(db):
    entries = [
        KnowledgeBaseEntry(category=cat, title=title, body=body, keywords=kw)
        for cat, title, body, kw in FIXTURE_KB
    ]
    return {e.title: e for e in services.entries_save(entries=entries)}
