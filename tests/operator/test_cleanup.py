"""`manage.py cleanup_chats`: close idle conversations, delete expired anonymous ones."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from structlog.testing import capture_logs

from chat.models import ChatMessage, ChatSession

pytestmark = pytest.mark.django_db


def conversation(*, idle: timedelta, user=None, visitor="visitor-a", image: bool = False):
    session = ChatSession.objects.create(user=user, visitor_key="" if user else visitor)
    message = ChatMessage.objects.create(session=session, role="user", text="hello")
    if image:
        message.image.save("cleanup-test.png", ContentFile(b"\x89PNG fake"), save=True)
    ChatMessage.objects.create(session=session, role="assistant", text="hi", reply_to=message)
    ChatSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - idle)
    return session


def run(*args) -> str:
    out = StringIO()
    call_command("cleanup_chats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def mix(alice, settings):
    settings.CHAT_RETENTION_DAYS = 30
    return {
        "fresh": conversation(idle=timedelta(hours=1)),
        "idle": conversation(idle=timedelta(hours=25)),
        "idle_user": conversation(idle=timedelta(days=90), user=alice),
        "expired": conversation(idle=timedelta(days=31), visitor="visitor-b", image=True),
    }


def status(session) -> str | None:
    found = ChatSession.objects.filter(pk=session.pk).first()
    return found.status if found else None


def test_it_closes_idle_conversations_and_deletes_expired_anonymous_ones(
    mix, django_capture_on_commit_callbacks
):
    image = ChatMessage.objects.get(session=mix["expired"], role="user").image.name
    assert default_storage.exists(image)
    with capture_logs() as logs, django_capture_on_commit_callbacks(execute=True):
        output = run()
    assert "closed 2 conversation(s)" in output
    assert "deleted 1 anonymous conversation(s) (2 message(s))" in output
    assert status(mix["fresh"]) == "active"
    assert status(mix["idle"]) == "closed"
    assert status(mix["idle_user"]) == "closed"  # a user's conversation is kept, closed
    assert status(mix["expired"]) is None
    assert not ChatMessage.objects.filter(session_id=mix["expired"].pk).exists()
    assert not default_storage.exists(image)  # the visitor's upload goes too
    assert [e["event"] for e in logs if e["event"] == "conversations_deleted"]


def test_a_second_run_changes_nothing(mix):
    run()
    assert "closed 0 conversation(s)" in run()


def test_closing_is_not_activity(mix):
    before = ChatSession.objects.get(pk=mix["idle"].pk).last_activity_at
    run()
    assert ChatSession.objects.get(pk=mix["idle"].pk).last_activity_at == before


def test_a_dry_run_counts_and_changes_nothing(mix):
    output = run("--dry-run")
    assert "would close 2" in output and "would delete 1" in output
    assert status(mix["idle"]) == "active" and status(mix["expired"]) == "active"


def test_zero_retention_keeps_every_conversation(mix, settings):
    output = run("--retention-days", "0")
    assert "deleted 0" in output and status(mix["expired"]) == "closed"
