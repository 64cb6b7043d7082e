"""API keys at rest: Fernet tokens, rotation with the old key, never in clear."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from chat.operator.crypto import secret_decrypt, secret_encrypt
from chat.operator.exceptions import EncryptionKeyMissing, SecretUnreadable
from chat.operator.models import AssistantSettings
from chat.operator.services import settings_update
from tests.operator.conftest import API_KEY


def test_a_secret_round_trips_and_the_token_hides_it(encryption_key):
    token = secret_encrypt(API_KEY)
    assert API_KEY not in token
    assert secret_decrypt(token) == API_KEY


def test_without_a_key_nothing_can_be_stored(settings):
    settings.CONCIERGE_ENCRYPTION_KEY = ""
    with pytest.raises(EncryptionKeyMissing, match="CONCIERGE_ENCRYPTION_KEY is not set"):
        secret_encrypt(API_KEY)


def test_a_malformed_key_is_named(settings):
    settings.CONCIERGE_ENCRYPTION_KEY = "not-a-fernet-key"
    with pytest.raises(EncryptionKeyMissing, match="not a Fernet key"):
        secret_encrypt(API_KEY)


def test_a_dropped_key_makes_the_secret_unreadable_with_advice(settings, encryption_key):
    token = secret_encrypt(API_KEY)
    settings.CONCIERGE_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(SecretUnreadable, match="rotate_encryption_key"):
        secret_decrypt(token)


@pytest.mark.django_db
def test_the_key_is_not_in_the_database_in_clear(encryption_key):
    settings_update(values={}, api_key=API_KEY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM chat_assistantsettings")
        rows = cursor.fetchall()
    assert rows and API_KEY not in repr(rows)


@pytest.mark.django_db
def test_rotation_reencrypts_with_the_new_key_so_the_old_one_can_go(settings, encryption_key):
    old = encryption_key
    settings_update(values={}, api_key=API_KEY)
    before = AssistantSettings.objects.get().api_key_encrypted
    new = Fernet.generate_key().decode()
    settings.CONCIERGE_ENCRYPTION_KEY = f"{new},{old}"
    assert secret_decrypt(before) == API_KEY  # the old key still reads it

    call_command("rotate_encryption_key")

    after = AssistantSettings.objects.get().api_key_encrypted
    assert after != before
    settings.CONCIERGE_ENCRYPTION_KEY = new  # the old key dropped
    assert secret_decrypt(after) == API_KEY
    with pytest.raises(SecretUnreadable):
        secret_decrypt(before)


@pytest.mark.django_db
def test_rotation_without_the_old_key_changes_nothing(settings, encryption_key):
    from django.core.management.base import CommandError

    settings_update(values={}, api_key=API_KEY)
    before = AssistantSettings.objects.get().api_key_encrypted
    settings.CONCIERGE_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_encryption_key")
    assert AssistantSettings.objects.get().api_key_encrypted == before


def test_without_database_access_the_overlay_keeps_the_environment():
    """Code that may not touch the database (a test without the db mark) still gets a config."""
    from chat.config import assistant_config, env_config

    assert assistant_config() == env_config()


def test_the_system_checks_name_a_malformed_key_and_a_missing_one(settings, encryption_key):
    from chat.operator.checks import encryption_key_check, encryption_key_deploy_check

    assert encryption_key_check(None) == [] and encryption_key_deploy_check(None) == []
    settings.CONCIERGE_ENCRYPTION_KEY = f"{encryption_key},oops"
    [error] = encryption_key_check(None)
    assert error.id == "chat.E101" and "key number 2" in error.msg
    settings.CONCIERGE_ENCRYPTION_KEY = ""
    assert encryption_key_check(None) == []
    assert [w.id for w in encryption_key_deploy_check(None)] == ["chat.W101"]
