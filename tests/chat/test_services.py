"""The chat data model through its services: idempotency, cascades, the reply lifecycle."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from chat import selectors, services
from chat.exceptions import Busy, Forbidden, InvalidTransition, NotFound
from chat.models import ChatMessage, ChatSession

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def session(visitor_owner):
    return services.session_create(owner=visitor_owner, provider="fake", model="m")


def test_the_same_client_id_stores_one_question_and_one_reply(session):
    first = services.exchange_begin(session=session, client_id="c-1", text="Hello?")
    services.message_finish(message_id=first.reply.id, status="complete", text="Hi")
    again = services.exchange_begin(session=session, client_id="c-1", text="Hello?")
    assert again.created is False
    assert (again.question.id, again.reply.id) == (first.question.id, first.reply.id)
    assert session.messages.count() == 2


def test_the_database_refuses_a_duplicate_client_id_in_a_session(session, visitor_owner):
    services.exchange_begin(session=session, client_id="c-1", text="One")
    with pytest.raises(IntegrityError):
        ChatMessage.objects.create(session=session, role="user", text="Two", client_id="c-1")


def test_the_same_client_id_in_another_session_is_another_question(session, visitor_owner):
    other = services.session_create(owner=visitor_owner)
    services.exchange_begin(session=session, client_id="c-1", text="One")
    assert services.exchange_begin(session=other, client_id="c-1", text="One").created is True


def test_a_question_while_a_reply_streams_is_busy_and_stores_nothing(session):
    services.exchange_begin(session=session, client_id="c-1", text="One")
    with pytest.raises(Busy):
        services.exchange_begin(session=session, client_id="c-2", text="Two")
    assert session.messages.count() == 2


def test_a_reply_is_finished_exactly_once(session):
    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    assert exchange.reply.status == ChatMessage.Status.STREAMING
    done = services.message_finish(
        message_id=exchange.reply.id, status="stopped", text="Par", output_tokens=3, ttft_ms=12
    )
    assert (done.status, done.text, done.output_tokens, done.ttft_ms) == ("stopped", "Par", 3, 12)
    assert done.finished_at is not None and done.is_final
    with pytest.raises(InvalidTransition):
        services.message_finish(message_id=exchange.reply.id, status="complete", text="Other")
    assert ChatMessage.objects.get(id=exchange.reply.id).text == "Par"


def test_streaming_is_not_a_final_status(session):
    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    with pytest.raises(InvalidTransition):
        services.message_finish(message_id=exchange.reply.id, status="streaming", text="")


def test_deleting_a_session_deletes_its_messages(session):
    services.exchange_begin(session=session, client_id="c-1", text="Q")
    services.session_delete(session=session)
    assert ChatMessage.objects.count() == 0


def test_deleting_a_user_deletes_their_conversations(alice, alice_owner):
    session = services.session_create(owner=alice_owner)
    services.exchange_begin(session=session, client_id="c-1", text="Q")
    alice.delete()
    assert ChatSession.objects.count() == 0 and ChatMessage.objects.count() == 0


def test_deleting_a_question_deletes_its_reply(session):
    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    services.message_delete(message=exchange.question)
    assert not ChatMessage.objects.filter(id=exchange.reply.id).exists()


def test_the_first_question_titles_the_conversation(session):
    services.exchange_begin(session=session, client_id="c-1", text="  How do   I pay\n by card? ")
    session.refresh_from_db()
    assert session.title == "How do I pay by card?"


def test_a_rename_made_meanwhile_wins_over_the_first_question(session):
    stale = ChatSession.objects.get(pk=session.pk)  # loaded before the rename, still untitled
    ChatSession.objects.filter(pk=session.pk).update(title="Card payments")  # renamed (REST)

    services.exchange_begin(session=stale, client_id="c-1", text="How do I pay by card?")

    assert stale.title != "How do I pay by card?"  # the first words never replace the rename
    session.refresh_from_db()
    assert session.title == "Card payments"
    assert session.last_activity_at is not None and session.last_activity_at == (
        stale.last_activity_at
    )


def test_regenerate_replaces_the_last_reply(session):
    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    services.message_finish(message_id=exchange.reply.id, status="failed", text="")
    again = services.reply_regenerate(session=session)
    assert again.question.id == exchange.question.id
    assert list(session.messages.values_list("role", "status")) == [
        ("user", "complete"),
        ("assistant", "streaming"),
    ]


def test_stale_streaming_replies_are_marked_interrupted(session):
    from datetime import timedelta

    from django.utils import timezone

    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    ChatMessage.objects.filter(id=exchange.reply.id).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    assert services.messages_reap_stale(older_than=timedelta(hours=1)) == 1
    assert ChatMessage.objects.get(id=exchange.reply.id).status == "interrupted"


def test_open_tells_someone_elses_session_from_a_missing_one(session, other_visitor_owner):
    with pytest.raises(Forbidden):
        services.session_open(owner=other_visitor_owner, session_id=session.id)
    with pytest.raises(NotFound):
        services.session_open(owner=other_visitor_owner, session_id="not-a-uuid")


def test_a_user_session_is_not_visible_to_an_anonymous_visitor_with_the_same_key(alice):
    from chat.identity import Owner

    mine = services.session_create(owner=Owner(user_id=alice.pk, visitor_key="shared"))
    with pytest.raises(NotFound):
        selectors.session_get(owner=Owner(user_id=None, visitor_key="shared"), session_id=mine.id)


def test_ratings_outside_one_to_five_are_refused_by_the_database(session):
    with pytest.raises(IntegrityError):
        ChatSession.objects.filter(id=session.id).update(rating=6)


def test_the_reap_command_settles_stale_replies(session):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    ChatMessage.objects.filter(id=exchange.reply.id).update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    out = io.StringIO()
    call_command("reap_replies", "--older-than", "3600", stdout=out)
    assert out.getvalue().strip() == "1 stale reply marked interrupted."
    assert ChatMessage.objects.get(id=exchange.reply.id).status == "interrupted"


def test_regenerate_keeps_the_old_answer_until_the_new_one_has_text(session):
    exchange = services.exchange_begin(session=session, client_id="c-1", text="Q")
    services.message_finish(message_id=exchange.reply.id, status="complete", text="Old answer")
    again = services.reply_regenerate(session=session)
    assert ChatMessage.objects.filter(id=exchange.reply.id).exists()  # not lost yet
    services.message_finish(message_id=again.reply.id, status="complete", text="New answer")
    assert services.replies_supersede(reply_id=again.reply.id) == 1
    assert [m.text for m in session.messages.all()] == ["Q", "New answer"]
