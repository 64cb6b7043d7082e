"""The assistant's effective configuration: environment defaults, overlaid by the operator's.

Everything a reply needs to know about *how* to answer (provider, model, base URL, generation
defaults, persona, which choices visitors may make) is read here and nowhere else. Environment
variables (config/settings.py) are the defaults; the operator's settings in the admin (issue 15:
`chat.operator`) overlay them and reach every process within seconds. A reply resolves this once,
at its start, into a `chat.reply.choice.ModelChoice` that it carries to the end.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class AssistantConfig:
    provider: str
    model: str
    generation: dict[str, Any]  # temperature, top_p, top_k, repeat_penalty, max_tokens, stop, ...
    base_url: str = ""  # for the openai provider; "" keeps the provider's own setting
    api_key: str = ""  # decrypted operator key; "" keeps the environment's
    profile: str = "large"  # prompt profile: small (tiny local models) or large
    site_name: str = "Concierge"
    tone: str = ""
    scope: str = ""
    support: dict[str, str] = field(default_factory=dict)
    vision_models: tuple[str, ...] = ()  # models that read images ("*" for every model)
    visitor_models: tuple[str, ...] = ()  # models a signed-in visitor may pick (none: no choice)
    visitor_options: tuple[str, ...] = ()  # options a signed-in visitor may set (temperature ...)
    # The model's context window in tokens, when the operator gave it: a budget for the prompt
    # (history, passages), not a request option (OpenAI refuses unknown ones). None: unknown.
    context_window: int | None = None
    # Rate limits and daily quotas (keys of LIMIT_SETTINGS; the operator may override them).
    limits: dict[str, Any] = field(default_factory=dict)

    def sees_images(self, model: str | None = None) -> bool:
        model = model or self.model
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.vision_models)


def env_config() -> AssistantConfig:
    """The configuration the environment gives, before any operator override."""
    return AssistantConfig(
        provider=settings.CHAT_PROVIDER,
        model=settings.CHAT_MODEL,
        generation=dict(settings.CHAT_GENERATION),
        profile=settings.CHAT_MODEL_PROFILE,
        site_name=settings.CONCIERGE_SITE_NAME,
        tone=settings.CONCIERGE_TONE,
        scope=settings.CONCIERGE_SCOPE,
        support=dict(settings.CONCIERGE_SUPPORT),
        vision_models=tuple(settings.CHAT_VISION_MODELS),
        visitor_models=tuple(settings.CHAT_VISITOR_MODELS),
        visitor_options=tuple(settings.CHAT_VISITOR_OPTIONS),
        limits={key: getattr(settings, name) for key, name in LIMIT_SETTINGS.items()},
    )


# AssistantConfig.limits: key -> the setting that gives its environment default.
LIMIT_SETTINGS = {
    "rate_limit": "CHAT_RATE_LIMIT",
    "rate_limit_ip": "CHAT_RATE_LIMIT_IP",
    "quota_user_messages": "CHAT_QUOTA_USER_MESSAGES",
    "quota_user_input_tokens": "CHAT_QUOTA_USER_INPUT_TOKENS",
    "quota_user_output_tokens": "CHAT_QUOTA_USER_OUTPUT_TOKENS",
    "quota_anon_messages": "CHAT_QUOTA_ANON_MESSAGES",
    "quota_anon_input_tokens": "CHAT_QUOTA_ANON_INPUT_TOKENS",
    "quota_anon_output_tokens": "CHAT_QUOTA_ANON_OUTPUT_TOKENS",
}


def limit(name: str) -> Any:
    """One rate limit or quota in force (`rate_limit`, `quota_anon_messages`...): the operator's
    value when set, else the environment's. In-process after the first call of each second."""
    value = assistant_config().limits.get(name)
    return value if value is not None else getattr(settings, LIMIT_SETTINGS[name])


def assistant_config() -> AssistantConfig:
    """The effective configuration now (cheap: call it once per reply, not per token)."""
    overlay = _overlay()
    return overlay(env_config()) if overlay is not None else env_config()


def _overlay():
    """The operator's overlay, `(AssistantConfig) -> AssistantConfig`, when one is installed
    (settings.CHAT_CONFIG_OVERLAY, a dotted path), else None."""
    path = getattr(settings, "CHAT_CONFIG_OVERLAY", "")
    if not path:
        return None
    return _import(path)


@cache
def _import(path: str) -> Any:
    return import_string(path)
