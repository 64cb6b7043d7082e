"""Secrets at rest: Fernet with the keys in CONCIERGE_ENCRYPTION_KEY (MultiFernet, rotatable).

CONCIERGE_ENCRYPTION_KEY is a comma-separated list of Fernet keys, newest first. New secrets are
encrypted with the first; every listed key can decrypt. To rotate: put a new key in front, run
`manage.py rotate_encryption_key` (re-encrypts every stored secret with the new key), then drop
the old key. Plaintext never reaches a log, a page or the cache.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from chat.operator.exceptions import EncryptionKeyMissing, SecretUnreadable


def _keys() -> list[str]:
    raw = getattr(settings, "CONCIERGE_ENCRYPTION_KEY", "") or ""
    return [key.strip() for key in raw.split(",") if key.strip()]


def encryption_configured() -> bool:
    return bool(_keys())


def _fernet() -> MultiFernet:
    keys = _keys()
    if not keys:
        raise EncryptionKeyMissing(
            "CONCIERGE_ENCRYPTION_KEY is not set, so API keys cannot be stored. Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
            ".decode())'`, set it in the environment and restart."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise EncryptionKeyMissing(
            "CONCIERGE_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe "
            "base64-encoded bytes); fix it and restart."
        ) from None


def secret_encrypt(plaintext: str) -> str:
    """Encrypt `plaintext` with the newest key; return the Fernet token as text."""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    """Decrypt a token made by `secret_encrypt` with any configured key."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored API key cannot be decrypted with CONCIERGE_ENCRYPTION_KEY: was the key it "
            "was encrypted with removed before `manage.py rotate_encryption_key` ran? Put the old "
            "key back at the end of the list, or enter the API key again."
        ) from None


def secret_rotate(token: str) -> str:
    """Re-encrypt a token with the newest key (it must decrypt with one of the keys)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored API key cannot be decrypted with any key in CONCIERGE_ENCRYPTION_KEY; "
            "nothing was changed."
        ) from None
