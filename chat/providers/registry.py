"""Providers by name: dotted paths in `settings.CHAT_PROVIDERS`, imported lazily."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from chat.providers.base import ErrorKind, Provider, ProviderError


def provider_class(name: str) -> type[Provider]:
    try:
        path = settings.CHAT_PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(settings.CHAT_PROVIDERS))
        raise ProviderError(
            f"Unknown provider {name!r}. Set CHAT_PROVIDER to one of: {known}.",
            kind=ErrorKind.BAD_REQUEST,
        ) from None
    return import_string(path)


def get_provider(name: str | None = None) -> Provider:
    """Build the named provider (default: the configured one) from settings."""
    name = name or settings.CHAT_PROVIDER
    cls = provider_class(name)
    return cls.from_settings()
