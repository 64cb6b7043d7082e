"""The model a reply uses, resolved once at its start and carried to its end.

Provider, model, options and prompt profile come from the assistant's configuration
(chat/config.py: environment defaults, operator overrides) and, where the operator allows it, the
conversation's own choice (a signed-in visitor's model and options, stored on `ChatSession`).
Nothing else in the reply path reads these settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from chat.config import AssistantConfig
from chat.exceptions import InvalidInput
from chat.providers.base import GenerationOptions

# Options a conversation may set, with their ranges: out of range is a clear error, not a clamp.
OPTION_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (1, 500),
    "repeat_penalty": (0.5, 2.0),
    "max_tokens": (16, 8192),
}
_OWN_FIELDS = {f.name for f in fields(GenerationOptions)} - {"extra"}


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str
    options: GenerationOptions
    profile: str = "large"
    sees_images: bool = False
    base_url: str = ""
    api_key: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    def fingerprint(self) -> str:
        """What the response cache keys on: the same model with the same options."""
        raw = json.dumps([self.label, self.base_url, self.options.as_dict()], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def options_from(values: dict[str, Any]) -> GenerationOptions:
    """Build GenerationOptions from a flat dict: known fields by name, the rest (top_k,
    repeat_penalty, num_ctx, ...) as provider-specific `extra`."""
    own = {k: v for k, v in values.items() if k in _OWN_FIELDS and v is not None}
    if "stop" in own:
        own["stop"] = tuple(own["stop"])
    extra = {k: v for k, v in values.items() if k not in _OWN_FIELDS and v is not None}
    return GenerationOptions(**own, extra=extra)


def options_validate(values: dict[str, Any], *, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Check a visitor's options against what the operator allows; raise InvalidInput."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name not in allowed:
            raise InvalidInput(f"The option {name!r} cannot be changed on this site.")
        low, high = OPTION_RANGES.get(name, (None, None))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidInput(f"{name} must be a number.")
        if low is not None and not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.")
        clean[name] = value
    return clean


def choice_resolve(
    *, config: AssistantConfig, session_model: str = "", session_options: dict | None = None
) -> ModelChoice:
    """The model, options and profile of one reply."""
    model = session_model if session_model in config.visitor_models else config.model
    options = dict(config.generation)
    for name, value in (session_options or {}).items():
        if name in config.visitor_options:
            options[name] = value
    return ModelChoice(
        provider=config.provider,
        model=model,
        options=options_from(options),
        profile=config.profile,
        sees_images=config.sees_images(model),
        base_url=config.base_url,
        api_key=config.api_key,
    )
