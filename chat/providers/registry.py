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


def get_provider(name: str | None = None, *, api_key: str = "", base_url: str = "") -> Provider:
    """Build the named provider (default: the configured one) from settings, with the
    operator's key and base URL when given."""
    name = name or settings.CHAT_PROVIDER
    cls = provider_class(name)
    overrides = {k: v for k, v in (("api_key", api_key), ("base_url", base_url)) if v}
    return cls.from_settings(**overrides)  # providers without a key or URL take no overrides
