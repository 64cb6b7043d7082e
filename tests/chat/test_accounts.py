"""Signing in keeps the browser's anonymous conversations, once, for that user only."""

from __future__ import annotations

import pytest
from django.test import Client

from chat import services
from chat.identity import VISITOR_SESSION_KEY, Owner
from chat.models import ChatSession

pytestmark = [pytest.mark.django_db]


def anonymous_browser() -> tuple[Client, str]:
    client = Client()
    client.get("/api/chat/sessions/")  # the widget's first call makes the visitor key
    return client, client.session[VISITOR_SESSION_KEY]


def test_signing_in_moves_this_browsers_conversations_to_the_user(alice):
    client, key = anonymous_browser()
    mine = services.session_create(owner=Owner(None, key), title="Before signing in")
    other = services.session_create(owner=Owner(None, "someone-else"), title="Not mine")

    assert client.login(username="alice", password="alice-password")

    mine.refresh_from_db()
    assert (mine.user_id, mine.visitor_key) == (alice.pk, "")
    ids = [s["id"] for s in client.get("/api/chat/sessions/").json()["sessions"]]
    assert ids == [str(mine.id)]
    other.refresh_from_db()
    assert other.user_id is None  # nobody else's conversations move


def test_the_old_visitor_key_reaches_nothing_after_the_merge(alice, bob):
    client, key = anonymous_browser()
    session = services.session_create(owner=Owner(None, key), title="Private")
    client.login(username="alice", password="alice-password")
    assert client.session[VISITOR_SESSION_KEY] != key  # the browser got a new key

    stale = Client()  # someone holding the old key (a copied cookie)
    store = stale.session
    store[VISITOR_SESSION_KEY] = key
    store.save()
    assert stale.get(f"/api/chat/sessions/{session.id}/").status_code == 404
    assert stale.get("/api/chat/sessions/").json()["sessions"] == []

    client.logout()  # signing out does not take them back to the anonymous side
    assert client.get("/api/chat/sessions/").json()["sessions"] == []
    bob_client = Client()
    bob_client.login(username="bob", password="bob-password")
    assert bob_client.get(f"/api/chat/sessions/{session.id}/").status_code == 404


def test_a_second_sign_in_merges_nothing_more(alice):
    client, key = anonymous_browser()
    services.session_create(owner=Owner(None, key), title="One")
    client.login(username="alice", password="alice-password")
    client.logout()
    client.login(username="alice", password="alice-password")

    assert ChatSession.objects.filter(user=alice).count() == 1
