"""Knowledge gaps: unanswered questions, paraphrases grouped, resolvable by staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from analytics.models import GapGroup, GapQuestion
from chat import signals
from tests.analytics.factories import finished_reply

pytestmark = pytest.mark.django_db
NO_ANSWER = {"top_passage_score": None, "sources": [], "verdict": ""}


def ask(question: str, **overrides):
    reply = finished_reply(question=question, **{**NO_ANSWER, **overrides})
    signals.send_now(signals.reply_finished, reply=reply)
    return reply


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, "no_passage"),
        ({"top_passage_score": 0.7, "escalation_reason": "unanswered"}, "unanswered"),
        ({"top_passage_score": 0.7, "verdict": "ungrounded"}, "ungrounded"),
    ],
)
def test_a_question_without_a_grounded_answer_is_a_gap(overrides, reason):
    ask("Do you ship to Iceland?", **overrides)
    entry = GapQuestion.objects.get()
    assert (entry.reason, entry.group.count) == (reason, 1)
    assert entry.question == "Do you ship to Iceland?"


def test_answered_grounded_questions_are_not_gaps():
    signals.send_now(signals.reply_finished, reply=finished_reply())
    signals.send_now(signals.reply_finished, reply=finished_reply(verdict="partly"))
    assert not GapQuestion.objects.exists()


def test_without_embeddings_questions_group_by_their_words():
    ask("Do you ship to Iceland?")
    ask("do you ship to iceland")
    ask("Shipping to Iceland?")  # "shipping" is another word: its own group lexically
    ask("Can I pay with PayPal?")
    groups = {g.question: g.count for g in GapGroup.objects.all()}
    assert groups == {"Do you ship to Iceland?": 2, "Shipping to Iceland?": 1,
                      "Can I pay with PayPal?": 1}  # fmt: skip


def test_with_the_embedding_model_paraphrases_land_together(settings):
    from knowledge import embeddings

    settings.ANALYTICS_EMBEDDER = "knowledge.embeddings.encode_query"
    if not embeddings.available():
        pytest.skip(f"the embedding model is not available: {embeddings.unavailable_reason()}")
    for question in (
        "Do you deliver to Iceland?",
        "Can you ship my order to Reykjavik, Iceland?",
        "Is shipping to Iceland possible?",
        "Can I pay with PayPal?",
        "Do you accept PayPal payments?",
        "How do I change the language of the interface?",
    ):
        ask(question)
    counts = sorted(GapGroup.objects.values_list("count", flat=True))
    assert counts == [1, 2, 3], list(GapGroup.objects.values_list("question", "count"))
    shipping = GapGroup.objects.get(count=3)
    assert shipping.question == "Do you deliver to Iceland?"


def test_staff_with_the_dashboard_permission_mark_a_gap_resolved(client, django_user_model):
    ask("Do you ship to Iceland?")
    ask("Do you ship to Iceland?")
    group = GapGroup.objects.get()
    user = django_user_model.objects.create_user("ana", "a@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(user)
    page = client.get("/admin/analytics/gapgroup/").content.decode()
    assert "Do you ship to Iceland?" in page and "2 conversations" in page
    response = client.post("/admin/analytics/gapgroup/",
                           {"action": "mark_resolved", "_selected_action": [group.pk]})  # fmt: skip
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.resolved_at is not None and group.resolved_by == "ana"
    ask("Do you ship to Iceland?")  # asked again: a new open gap, the resolved one stays closed
    assert GapGroup.objects.filter(resolved_at__isnull=True).get().count == 1
    assert "Do you ship to Iceland?" in client.get("/admin/analytics/gapgroup/").content.decode()


def test_a_non_staff_user_cannot_see_the_gaps(client, django_user_model):
    user = django_user_model.objects.create_user("bob", "b@example.com", "pw")
    client.force_login(user)
    assert client.get("/admin/analytics/gapgroup/").status_code == 302
