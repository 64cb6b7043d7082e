"""CSV exports: streamed, filtered like the dashboard, parsed back; the command writes the same."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.http import StreamingHttpResponse

from chat import signals
from chat.models import ChatMessage, ChatSession
from chat.signals import Asker
from tests.analytics.factories import asker, finished_reply

pytestmark = pytest.mark.django_db
URL = "/admin/analytics/dashboard/export/"
DAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def conversation(*, who: Asker, text: str, model="gpt-4o-mini"):
    session = ChatSession.objects.create(user_id=who.user_id, visitor_key=who.visitor_key)
    question = ChatMessage.objects.create(session=session, role="user", text=text)
    reply = ChatMessage.objects.create(session=session, role="assistant", text=f"About {text}",
                                       reply_to=question, model=model, output_tokens=7)  # fmt: skip
    ChatMessage.objects.filter(session=session).update(created_at=DAY)
    signals.send_now(signals.reply_finished, reply=finished_reply(
        session_id=str(session.id), reply_id=str(reply.id), question=text, asker=who,
        model=model, finished_at=DAY))  # fmt: skip
    return session


@pytest.fixture
def analyst(django_user_model):
    user = django_user_model.objects.create_user("ana", "a@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return user


@pytest.fixture
def two_conversations(django_user_model):
    bob = django_user_model.objects.create_user("bob", "b@example.com", "pw")
    anonymous = conversation(who=asker(), text="=HYPERLINK(\"http://evil\")")
    signed_in = conversation(who=asker("user", user_id=bob.pk), text="Where is my order, 42?",
                             model="claude-sonnet-4-5")  # fmt: skip
    return anonymous, signed_in


def parse(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_messages_stream_as_csv_and_parse_back(client, analyst, two_conversations):
    client.force_login(analyst)
    response = client.get(URL + "messages.csv", {"start": "2026-11-24", "end": "2026-11-24"})
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = parse(response)
    assert len(rows) == 4
    texts = {row["text"] for row in rows}
    assert "Where is my order, 42?" in texts
    assert "'=HYPERLINK(\"http://evil\")" in texts  # never a formula in a spreadsheet


def test_the_export_takes_the_dashboards_filters(client, analyst, two_conversations):
    client.force_login(analyst)
    base = {"start": "2026-11-24", "end": "2026-11-24"}
    users = parse(client.get(URL + "messages.csv", {**base, "user_type": "user"}))
    assert {row["session_id"] for row in users} == {str(two_conversations[1].id)}
    claude = parse(client.get(URL + "conversations.csv", {**base, "model": "claude-sonnet-4-5"}))
    assert [row["session_id"] for row in claude] == [str(two_conversations[1].id)]
    assert claude[0]["cost"] == "0.00600000" and claude[0]["user_type"] == "user"
    assert parse(client.get(URL + "conversations.csv", {"start": "2026-11-25",
                                                          "end": "2026-11-26"})) == []  # fmt: skip


def test_an_unknown_export_is_refused(client, analyst):
    client.force_login(analyst)
    assert client.get(URL + "passwords.csv").status_code == 403


def test_the_command_writes_the_same_csv(tmp_path, two_conversations):
    out = tmp_path / "conversations.csv"
    call_command("export_chats", "conversations", "--start=2026-11-24", "--end=2026-11-24",
                 "--user-type=anonymous", f"--output={out}")  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert [row["session_id"] for row in rows] == [str(two_conversations[0].id)]
    assert rows[0]["messages"] == "2" and rows[0]["escalated"] == "false"


def test_the_command_refuses_a_backwards_range():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="start date"):
        call_command("export_chats", "messages", "--start=2026-11-24", "--end=2026-11-01")


def test_both_export_paths_write_the_same_rows(two_conversations):
    from analytics.selectors.dashboard import Filters
    from analytics.selectors.export import csv_chunks, export_chunks, export_rows

    filters = Filters(start=DAY.date(), end=DAY.date())
    for kind in ("messages", "conversations"):
        portable = list(csv.reader(io.StringIO("".join(csv_chunks(*export_rows(kind, filters))))))
        native = list(csv.reader(io.StringIO("".join(export_chunks(kind, filters)))))
        assert native == portable and len(native) > 1


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_streams_an_async_iterator(async_client, analyst,
                                                               two_conversations):  # fmt: skip
    await async_client.aforce_login(analyst)
    response = await async_client.get(URL + "messages.csv", {"start": "2026-11-24",
                                                              "end": "2026-11-24"})  # fmt: skip
    assert response.is_async  # Django would otherwise read a sync iterator whole first
    body = b"".join([part async for part in response.streaming_content]).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 4
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()  # the streaming thread's connection
