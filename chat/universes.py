"""Universes: what the assistant can talk about, each with an optional context loader.

`settings.CHAT_UNIVERSES` maps a key to `{"label", "intro", "token_budget", "loader"}`; `loader` is
the dotted path of `load(*, question: str, page: dict, context: dict) -> str`, whose text the
prompt builder adds (cut to `token_budget`). Host apps (telemetry, ...) add their own entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from chat.exceptions import InvalidInput

DEFAULT_UNIVERSE = "general"


@dataclass(frozen=True)
class Universe:
    key: str
    label: str
    intro: str
    token_budget: int = 800
    loader: str = ""

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "intro": self.intro}

    def load_context(self, *, question: str, page: dict, context: dict) -> str:
        if not self.loader:
            return ""
        return _import(self.loader)(question=question, page=page, context=context)


@cache
def _import(path: str):
    return import_string(path)


def universe_list() -> list[Universe]:
    return [Universe(key=key, **conf) for key, conf in settings.CHAT_UNIVERSES.items()]


def universe_get(key: str | None) -> Universe:
    """Return the universe `key` (the default when empty), or raise InvalidInput."""
    key = key or DEFAULT_UNIVERSE
    conf = settings.CHAT_UNIVERSES.get(key)
    if conf is None:
        known = ", ".join(settings.CHAT_UNIVERSES)
        raise InvalidInput(f"Unknown universe {key!r}. Choose one of: {known}.")
    return Universe(key=key, **conf)
