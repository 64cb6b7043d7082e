"""Signing in keeps the conversations a visitor had in this browser.

A visitor's anonymous conversations belong to the visitor key kept in their Django session
(chat/identity.py). When they sign in, those conversations move to the user, once: they stop
belonging to the key, and the session gets a new key, so nothing that held the old one (another
tab signed out, a copied cookie) can reach them afterwards.
"""

from __future__ import annotations

import uuid

import structlog
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from chat.identity import VISITOR_SESSION_KEY
from chat.services import sessions_adopt

log = structlog.get_logger(__name__)


@receiver(user_logged_in, dispatch_uid="chat.accounts.conversations_adopt_at_sign_in")
def conversations_adopt_at_sign_in(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    key = session.get(VISITOR_SESSION_KEY)
    if not key:
        return
    moved = sessions_adopt(visitor_key=key, user_id=user.pk)
    session[VISITOR_SESSION_KEY] = uuid.uuid4().hex
    if moved:
        log.info("conversations_adopted", user_id=user.pk, count=moved)
