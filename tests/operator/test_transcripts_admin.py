"""Transcripts in the admin are read-only; deleting a conversation is logged."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse
from structlog.testing import capture_logs

from chat.models import ChatMessage, ChatSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def transcript():
    session = ChatSession.objects.create(visitor_key="visitor-a", title="Refund question")
    question = ChatMessage.objects.create(session=session, role="user", text="Can I get a refund?")
    answer = ChatMessage.objects.create(
        session=session, role="assistant", text="Yes, within 30 days.", reply_to=question
    )
    return session, question, answer


def test_staff_read_a_transcript_but_cannot_edit_it(operator_client, transcript):
    session, question, answer = transcript
    page = operator_client.get(reverse("admin:chat_chatsession_change", args=[session.pk]))
    assert page.status_code == 200 and b"Can I get a refund?" in page.content
    assert b'name="title"' not in page.content  # no input: read-only
    url = reverse("admin:chat_chatmessage_change", args=[answer.pk])
    assert b'name="text"' not in operator_client.get(url).content
    operator_client.post(url, {"text": "No refunds, ever.", "role": "assistant"})
    answer.refresh_from_db()
    assert answer.text == "Yes, within 30 days."
    assert operator_client.get(reverse("admin:chat_chatmessage_add")).status_code == 403
    delete = reverse("admin:chat_chatmessage_delete", args=[answer.pk])
    assert operator_client.post(delete, {"post": "yes"}).status_code == 403
    assert ChatMessage.objects.filter(pk=answer.pk).exists()


def test_deleting_conversations_is_an_action_that_is_logged(operator_client, transcript, operator):
    session, _, _ = transcript
    with capture_logs() as logs:
        response = operator_client.post(
            reverse("admin:chat_chatsession_changelist"),
            {"action": "delete_selected", "_selected_action": [str(session.pk)], "post": "yes"},
        )
    assert response.status_code == 302
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert not ChatMessage.objects.filter(session_id=session.pk).exists()
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.user == operator and entry.object_id == str(session.pk)
    deleted = [e for e in logs if e["event"] == "conversations_deleted"]
    assert deleted and deleted[0]["user_id"] == operator.pk and deleted[0]["messages"] == 2
    assert deleted[0]["reason"] == "admin"


def test_deleting_one_conversation_from_its_page_is_logged(operator_client, transcript):
    session, _, _ = transcript
    with capture_logs() as logs:
        operator_client.post(
            reverse("admin:chat_chatsession_delete", args=[session.pk]), {"post": "yes"}
        )
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(session.pk)).exists()
    assert any(e["event"] == "conversations_deleted" for e in logs)
