"""System checks for the operator's controls (registered from chat/apps.py)."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


def _keys() -> list[str]:
    raw = getattr(settings, "CONCIERGE_ENCRYPTION_KEY", "") or ""
    return [key.strip() for key in raw.split(",") if key.strip()]


@register(Tags.security)
def encryption_key_check(app_configs, **kwargs) -> list:
    """Every key in CONCIERGE_ENCRYPTION_KEY must be a Fernet key."""
    for position, key in enumerate(_keys(), start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return [
                Error(
                    f"CONCIERGE_ENCRYPTION_KEY's key number {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    id="chat.E101",
                )
            ]
    return []


@register(Tags.security, deploy=True)
def encryption_key_deploy_check(app_configs, **kwargs) -> list:
    """Without CONCIERGE_ENCRYPTION_KEY the admin cannot store API keys (`check --deploy`)."""
    if _keys():
        return []
    return [
        Warning(
            "CONCIERGE_ENCRYPTION_KEY is not set: API keys cannot be entered in the admin "
            "(keys in the environment still work).",
            hint="Generate one: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'",
            id="chat.W101",
        )
    ]
