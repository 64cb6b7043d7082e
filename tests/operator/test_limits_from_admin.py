"""The operator's limits and quotas in the admin are the ones the guards enforce."""

from __future__ import annotations

import pytest
from django.db import transaction

from chat.guards.limits import rate_for_key
from chat.guards.quotas import quota_for
from chat.identity import Owner
from chat.operator.overlay import overlay_expire
from chat.operator.services import settings_update

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_limits_override_the_environment(settings):
    settings.CHAT_RATE_LIMIT = "10/minute"
    settings.CHAT_QUOTA_ANON_MESSAGES = 20
    visitor = Owner(user_id=None, visitor_key="v")
    assert rate_for_key("visitor:v").limit == 10 and quota_for(visitor).messages == 20
    with transaction.atomic():
        settings_update(values={"rate_limit": "2/minute", "quota_anon_messages": 3})
    overlay_expire()
    assert rate_for_key("visitor:v").limit == 2
    assert quota_for(visitor).messages == 3
    assert (
        quota_for(Owner(user_id=1, visitor_key="u")).messages == settings.CHAT_QUOTA_USER_MESSAGES
    )
