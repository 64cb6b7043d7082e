"""System checks: say clearly, at startup, when the chat configuration cannot work."""

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_chat_provider(app_configs, **kwargs):
    errors = []
    provider = settings.CHAT_PROVIDER
    if provider not in settings.CHAT_PROVIDERS:
        known = ", ".join(sorted(settings.CHAT_PROVIDERS))
        return [
            Error(
                f"CHAT_PROVIDER={provider!r} is not a provider.",
                hint=f"Set CHAT_PROVIDER to one of: {known}.",
                id="chat.E001",
            )
        ]
    if provider == "anthropic" and not settings.ANTHROPIC_API_KEY:
        errors.append(
            Error(
                "CHAT_PROVIDER is 'anthropic' but ANTHROPIC_API_KEY is not set.",
                hint="Set ANTHROPIC_API_KEY, or choose another CHAT_PROVIDER.",
                id="chat.E002",
            )
        )
    if provider == "openai":
        url = urlparse(settings.OPENAI_BASE_URL)
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append(
                Error(
                    f"OPENAI_BASE_URL={settings.OPENAI_BASE_URL!r} is not an http(s) URL.",
                    hint="For a local server use e.g. http://127.0.0.1:1234/v1 (LM Studio).",
                    id="chat.E003",
                )
            )
        elif url.hostname == "api.openai.com" and not settings.OPENAI_API_KEY:
            errors.append(
                Error(
                    "OPENAI_BASE_URL points at OpenAI but OPENAI_API_KEY is not set.",
                    hint="Set OPENAI_API_KEY, or point OPENAI_BASE_URL at a local server.",
                    id="chat.E004",
                )
            )
    if not settings.CHAT_MODEL:
        errors.append(
            Error(
                "CHAT_MODEL is empty.",
                hint="Set CHAT_MODEL to a model the provider serves (see /api/chat/models/).",
                id="chat.E005",
            )
        )
    timeouts = settings.CHAT_TIMEOUTS
    if any(value <= 0 for value in timeouts.values()):
        errors.append(
            Error("CHAT_TIMEOUT_* values must be positive.", hint=str(timeouts), id="chat.E006")
        )
    if not settings.DEBUG and settings.SECRET_KEY.startswith("django-insecure"):
        errors.append(Warning("DJANGO_SECRET_KEY is a development key.", id="chat.W001"))
    return errors


@register()
def check_visitor_options(app_configs, **kwargs):
    """The options signed-in visitors may set go into the model request as they are named: only
    the known sampling options (never `n`, `logit_bias`, `tools`... that change cost or output)."""
    from chat.operator.forms import VISITOR_OPTION_CHOICES

    unknown = [o for o in settings.CHAT_VISITOR_OPTIONS if o not in VISITOR_OPTION_CHOICES]
    if not unknown:
        return []
    return [
        Error(
            f"CHAT_VISITOR_OPTIONS names options visitors may not set: {', '.join(unknown)}.",
            hint=f"Choose from: {', '.join(VISITOR_OPTION_CHOICES)}.",
            id="chat.E007",
        )
    ]


@register()
def check_database(app_configs, **kwargs):
    """Concierge runs on SQLite or PostgreSQL: quota charges are upserts on partial unique
    indexes (`INSERT ... ON CONFLICT ... WHERE`), which other databases write otherwise."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
        return []
    return [
        Error(
            f"DATABASE_URL names a database Concierge does not run on ({engine}).",
            hint="Use PostgreSQL (postgres://...) or SQLite (the default).",
            id="chat.E008",
        )
    ]
