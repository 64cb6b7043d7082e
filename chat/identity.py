"""Who is asking: a logged-in user, or an anonymous visitor known by their Django session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from chat.signals import Asker

VISITOR_SESSION_KEY = "concierge_visitor"


@dataclass(frozen=True)
class Owner:
    """The owner of conversations: a user id, or a visitor key for anonymous visitors.

    The visitor key lives inside the Django session (not the session key itself), so it survives
    `cycle_key()` at login.
    """

    user_id: int | None
    visitor_key: str

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def label(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"visitor:{self.visitor_key}"


def visitor_key_for(session) -> str:
    """Return the visitor key stored in a Django session, creating one if needed."""
    key = session.get(VISITOR_SESSION_KEY)
    if not key:
        key = uuid.uuid4().hex
        session[VISITOR_SESSION_KEY] = key
    return key


def owner_from_request(request) -> Owner:
    """Identify the requester of an HTTP request (saving the session if it is new)."""
    key = visitor_key_for(request.session)
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    return Owner(user_id=user_id, visitor_key=key)


def client_ip(scope) -> str | None:
    """The client's address from an ASGI scope. Behind a trusted balancer
    (CHAT_TRUSTED_PROXIES), config/proxy.py has already put the real one there."""
    client = scope.get("client") if scope else None
    return client[0] if client else None


def asker_for(owner: Owner) -> Asker:
    """Who is asking, as the prompt and analytics may know it: anonymous, user or staff, and the
    host site's own role (settings.CHAT_USER_ROLE names `role(user) -> str`). No name, no e-mail:
    only what that callable returns enters a prompt."""
    if owner.user_id is None:
        return Asker(user_id=None, visitor_key=owner.visitor_key, kind="anonymous")
    user = get_user_model().objects.filter(pk=owner.user_id).first()
    if user is None:
        return Asker(user_id=None, visitor_key=owner.visitor_key, kind="anonymous")
    kind = "staff" if user.is_staff else "user"
    role_of = _role_function(settings.CHAT_USER_ROLE)
    role = str(role_of(user) or "")[:40] if role_of is not None else ""
    return Asker(user_id=user.pk, visitor_key=owner.visitor_key, kind=kind, role=role)


@cache
def _role_function(path: str):
    return import_string(path) if path else None
