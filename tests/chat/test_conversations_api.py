"""The widget's conversation pane over REST (issue 14): search, ownership on every verb, the
model and options a signed-in visitor may choose, suggested questions, message figures."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from chat import services
from chat.identity import VISITOR_SESSION_KEY, Owner
from chat.models import ChatSession

pytestmark = [pytest.mark.django_db]


def browser(visitor_key: str, user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    session = client.session
    session[VISITOR_SESSION_KEY] = visitor_key
    session.save()
    return client


def conversation(owner: Owner, question: str, answer: str, title: str = "") -> ChatSession:
    session = services.session_create(owner=owner, title=title)
    exchange = services.exchange_begin(session=session, client_id=question[:60], text=question)
    services.message_finish(
        message_id=exchange.reply.id, status="complete", text=answer,
        model="m-1", ttft_ms=120, total_ms=1120, output_tokens=50,
    )  # fmt: skip
    return ChatSession.objects.get(pk=session.pk)


def patch(client: Client, path: str, body: dict):
    return client.patch(path, json.dumps(body), content_type="application/json")


def test_search_finds_conversations_by_title_and_by_message_text():
    owner = Owner(None, "visitor-a")
    by_title = conversation(owner, "hello", "hi", title="Refund for my order")
    by_text = conversation(owner, "Where is the parcel tracking page?", "Under Orders.")
    conversation(owner, "Opening hours?", "Nine to five.")
    conversation(Owner(None, "visitor-b"), "My refund and parcel", "Someone else's")
    client = browser("visitor-a")

    def found(query: str) -> set[str]:
        sessions = client.get("/api/chat/sessions/", {"q": query}).json()["sessions"]
        return {s["id"] for s in sessions}

    assert found("refund") == {str(by_title.id)}
    assert found("PARCEL tracking") == {str(by_text.id)}
    assert found("under orders") == {str(by_text.id)}  # the assistant's words count too
    assert len(found("")) == 3


def test_pinned_conversations_come_first_then_the_newest():
    owner = Owner(None, "visitor-a")
    old = conversation(owner, "first", "a")
    conversation(owner, "second", "b")
    newest = conversation(owner, "third", "c")
    client = browser("visitor-a")
    patch(client, f"/api/chat/sessions/{old.id}/", {"pinned": True})

    ids = [s["id"] for s in client.get("/api/chat/sessions/").json()["sessions"]]

    assert ids[0] == str(old.id) and ids[1] == str(newest.id)


def test_another_visitors_conversation_is_not_found_on_every_verb():
    theirs = conversation(Owner(None, "visitor-b"), "secret question", "secret answer")
    message = theirs.messages.first()
    me = browser("visitor-a")
    base = f"/api/chat/sessions/{theirs.id}/"

    answers = [
        me.get(base),
        patch(me, base, {"title": "mine now"}),
        patch(me, base, {"pinned": True}),
        me.delete(base),
        me.get(base + "messages/"),
        me.get(base + "export.md"),
        patch(me, f"/api/chat/messages/{message.id}/", {"pinned": True}),
        me.delete(f"/api/chat/messages/{message.id}/"),
        me.get(f"/api/chat/messages/{message.id}/image"),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(a.json()["error"]["code"] == "not_found" for a in answers)
    theirs.refresh_from_db()
    assert (theirs.title, theirs.pinned, theirs.messages.count()) == ("secret question", False, 2)
    assert me.get("/api/chat/sessions/", {"q": "secret"}).json()["sessions"] == []


@pytest.mark.django_db(transaction=True)
def test_another_visitor_cannot_stop_a_reply_in_my_conversation():
    """The stop endpoint is async (its own database connection): a transactional test."""
    theirs = conversation(Owner(None, "visitor-b"), "secret question", "secret answer")

    answer = browser("visitor-a").post(f"/api/chat/sessions/{theirs.id}/stop/")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_a_signed_in_users_conversation_is_not_reachable_from_their_old_visitor_key(alice):
    mine = conversation(Owner(alice.pk, ""), "account question", "answer")
    stranger = browser("alice-old-key")  # same visitor key, not signed in

    assert stranger.get(f"/api/chat/sessions/{mine.id}/").status_code == 404
    assert browser("x", alice).get(f"/api/chat/sessions/{mine.id}/").status_code == 200


def test_the_detail_replays_rating_and_escalation():
    session = conversation(Owner(None, "visitor-a"), "help!", "a person can help")
    services.session_rate(session=session, score=4)
    services.session_escalate(session_id=session.id)

    body = browser("visitor-a").get(f"/api/chat/sessions/{session.id}/").json()

    assert (body["rating"], body["escalated"], body["message_count"]) == (4, True, 2)


def test_messages_carry_the_model_and_timings_of_each_reply():
    session = conversation(Owner(None, "visitor-a"), "How fast?", "Fast.")

    messages = browser("visitor-a").get(f"/api/chat/sessions/{session.id}/messages/").json()

    reply = messages["messages"][1]
    assert (reply["model"], reply["ttft_ms"], reply["total_ms"], reply["output_tokens"]) == (
        "m-1", 120, 1120, 50,
    )  # fmt: skip


@pytest.fixture
def choices(settings):
    settings.CHAT_VISITOR_MODELS = ["small-model", "big-model"]
    settings.CHAT_VISITOR_OPTIONS = ["temperature", "top_k"]


def test_a_signed_in_user_picks_an_allowed_model_and_options(alice, choices):
    session = conversation(Owner(alice.pk, ""), "q", "a")
    client = browser("x", alice)

    answer = patch(
        client, f"/api/chat/sessions/{session.id}/",
        {"model": "big-model", "options": {"temperature": 0.3, "top_k": 40}},
    )  # fmt: skip

    assert answer.status_code == 200
    assert answer.json()["model"] == "big-model"
    session.refresh_from_db()
    assert session.model == "big-model"
    assert session.generation_options["temperature"] == 0.3
    assert session.generation_options["top_k"] == 40


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": "gpt-secret"}, "not offered here"),
        ({"options": {"temperature": 3.5}}, "temperature must be between 0.0 and 2.0"),
        ({"options": {"temperature": "hot"}}, "must be a number"),
        ({"options": {"top_k": 0}}, "top_k must be between 1 and 500"),
        ({"options": {"top_p": 0.5}}, "cannot be changed"),
        ({"options": [0.2]}, "must be an object"),
    ],
)
def test_out_of_range_choices_are_a_clear_400(alice, choices, body, says):
    session = conversation(Owner(alice.pk, ""), "q", "a")

    answer = patch(browser("x", alice), f"/api/chat/sessions/{session.id}/", body)

    assert answer.status_code == 400
    assert says in answer.json()["error"]["message"]
    session.refresh_from_db()
    assert session.model == "" and "temperature" not in session.generation_options


def test_an_anonymous_visitor_may_not_choose_the_model(choices):
    session = conversation(Owner(None, "visitor-a"), "q", "a")
    path = f"/api/chat/sessions/{session.id}/"

    answer = patch(browser("visitor-a"), path, {"model": "big-model"})

    assert answer.status_code == 403
    assert "Sign in" in answer.json()["error"]["message"]


def test_suggested_questions_are_the_operators_or_the_help_centers(client, settings):
    settings.CHAT_SUGGESTED_QUESTIONS = ["Where are you?", "When are you open?"]
    assert client.get("/api/chat/suggestions/").json() == {
        "questions": ["Where are you?", "When are you open?"]
    }
    settings.CHAT_SUGGESTED_QUESTIONS = []
    settings.CHAT_SUGGESTIONS_SOURCE = "tests.chat.test_conversations_api.help_center"
    from django.core.cache import cache

    cache.clear()
    questions = client.get("/api/chat/suggestions/").json()["questions"]
    assert questions == ["How do I pay?", "Can I return it?"]  # one per category, questions only


class Entry:
    def __init__(self, title: str, category: str) -> None:
        self.title, self.category = title, category


def help_center(*, limit: int):
    return [
        Entry("How do I pay?", "billing"),
        Entry("Invoices", "billing"),
        Entry("Which cards do you take?", "billing"),
        Entry("Can I return it?", "returns"),
    ][:limit]


def test_the_widget_template_says_whether_the_model_sees_images(client, settings):
    settings.CHAT_VISION_MODELS = ["*"]
    assert 'data-sees-images="true"' in client.get("/").content.decode()
    settings.CHAT_VISION_MODELS = []
    assert 'data-sees-images="false"' in client.get("/").content.decode()
