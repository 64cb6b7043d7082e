"""Writes of the operator's settings: save (with the encrypted key), publish, rotate keys."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from django.core.cache import cache
from django.db import transaction

from chat.operator.crypto import secret_encrypt, secret_rotate
from chat.operator.models import AssistantSettings
from chat.operator.overlay import STAMP_CACHE_KEY, overlay_expire

log = structlog.get_logger(__name__)


@transaction.atomic
def settings_update(
    *,
    values: dict[str, Any],
    api_key: str = "",
    clear_api_key: bool = False,
    user=None,
) -> AssistantSettings:
    """Save the operator's overrides; a non-empty `api_key` replaces the stored one.

    The new stamp is published to the cache after commit, so other processes never read a
    stamp whose row they cannot see yet.
    """
    row, _ = AssistantSettings.objects.select_for_update().get_or_create(
        pk=AssistantSettings.SINGLETON_ID
    )
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    key_changed = bool(api_key) or (clear_api_key and row.api_key_set)
    if api_key:
        row.api_key_encrypted = secret_encrypt(api_key)
    elif clear_api_key:
        row.api_key_encrypted = ""
    row.stamp = uuid.uuid4().hex
    row.updated_by = user if user is not None and user.is_authenticated else None
    row.save()
    stamp = row.stamp
    transaction.on_commit(lambda: stamp_publish(stamp))
    log.info(
        "assistant_settings_changed",
        user_id=row.updated_by_id,
        fields=sorted(changed),
        api_key_changed=key_changed,
    )
    return row


def stamp_publish(stamp: str) -> None:
    """Tell every process the settings changed (they compare stamps at their next check)."""
    try:
        cache.set(STAMP_CACHE_KEY, stamp, timeout=None)
    except Exception as exc:  # noqa: BLE001 - processes fall back to reading the database
        log.warning("assistant_settings_stamp_unpublished", error=type(exc).__name__)
    overlay_expire()


@transaction.atomic
def encryption_key_rotate() -> int:
    """Re-encrypt every stored secret with the newest key; return how many were rewritten."""
    rows = AssistantSettings.objects.select_for_update().exclude(api_key_encrypted="")
    count = 0
    for row in rows:
        row.api_key_encrypted = secret_rotate(row.api_key_encrypted)
        row.save(update_fields=["api_key_encrypted"])
        count += 1
    log.info("encryption_key_rotated", secrets=count)
    return count
