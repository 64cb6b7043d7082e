"""Universes and context sources: what the assistant can talk about, and what apps add to a prompt.

Any installed app plugs in from its `AppConfig.ready()`:

    universe_register(Universe(key="race", label="Race", intro="...", token_budget=900,
                               loader=race_summary, examples=("Who won?", ...)))
    context_source_register("telemetry.facts", race_facts, universes=("race",))

A universe's `loader(request) -> ContextPart | str | None` gives what every question in it starts
from (a summary, the visitor's account); its result is cached for `cache_seconds` per (universe,
owner) in the Django cache (Redis in production) until the host app calls `universe_invalidate`.
A context source `(request) -> ContextPart | None` answers one question (the facts it names) and
is not cached. Both are plain sync functions: chat runs them in worker threads, in parallel with
retrieval, each under a deadline; one that fails or is late is skipped and logged, and the reply
goes on without it (chat/reply/context.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from django.core.cache import cache as django_cache
from django.utils.module_loading import import_string

from chat.exceptions import Forbidden, InvalidInput
from chat.signals import Asker

DEFAULT_UNIVERSE = "general"
AUDIENCES = ("anyone", "signed_in", "staff")


@dataclass(frozen=True)
class ContextRequest:
    """What a loader or context source may look at. `page` and `context` come from the visitor's
    browser: treat them as untrusted hints (ids to look up), never as facts."""

    question: str
    universe: str
    asker: Asker
    page: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)
    category: str = ""  # the knowledge category the router chose, "" for any
    language: str = ""


@dataclass(frozen=True)
class ContextPart:
    """One piece of a prompt with where it came from. `priority`: higher is kept longer when the
    prompt must be cut (parts are cut least important first, never mid-word). `trusted=False`
    marks visitor-controlled text, which the prompt puts in its delimited data section."""

    source: str
    title: str
    text: str
    priority: int = 50
    trusted: bool = True


Loader = Callable[[ContextRequest], "ContextPart | str | None"]


@dataclass(frozen=True)
class Universe:
    key: str
    label: str
    intro: str
    token_budget: int = 800
    loader: Loader | str | None = None  # a callable or its dotted path
    audience: str = "anyone"  # anyone, signed_in or staff
    examples: tuple[str, ...] = ()  # labelled questions the intent router learns this universe by
    category: str = ""  # the knowledge category its questions search first ("" for all)
    cache_seconds: int = 300
    order: int = 100  # position in the widget's selector
    # The keys of an "Ask AI about this" context that reach the prompt (None: all of them). A
    # universe whose sources rebuild the facts from ids lists the ids only, so numbers a
    # browser sends never reach the model.
    context_keys: tuple[str, ...] | None = None

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "intro": self.intro}

    def open_to(self, asker: Asker | None) -> bool:
        if self.audience == "anyone":
            return True
        if asker is None:
            return False
        if self.audience == "signed_in":
            return asker.user_id is not None
        return asker.kind == "staff"

    def load(self, request: ContextRequest) -> ContextPart | None:
        """Run the loader (no caching here: see chat.reply.context)."""
        if not self.loader:
            return None
        loader = _import(self.loader) if isinstance(self.loader, str) else self.loader
        return as_part(loader(request), source=f"universe:{self.key}", title=self.label)


@dataclass(frozen=True)
class ContextSource:
    key: str
    function: Callable[[ContextRequest], ContextPart | None]
    universes: tuple[str, ...] | None = None  # None: every universe
    deadline: float | None = None  # seconds; None: settings.CHAT_CONTEXT_DEADLINE

    def applies_to(self, universe: str) -> bool:
        return self.universes is None or universe in self.universes


_universes: dict[str, Universe] = {}
_sources: dict[str, ContextSource] = {}


def universe_register(universe: Universe, *, replace: bool = True) -> None:
    """Add a universe, or replace the one with its key (unless `replace=False`: chat's own
    default gives way to any app's). Call from `AppConfig.ready()`."""
    if universe.audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {universe.audience!r}")
    if replace or universe.key not in _universes:
        _universes[universe.key] = universe


def universe_unregister(key: str) -> None:
    _universes.pop(key, None)


def universe_list(asker: Asker | None = None) -> list[Universe]:
    """The universes open to `asker` (all of them when None is given and `anyone`), in order."""
    return sorted(
        (u for u in _universes.values() if u.open_to(asker)), key=lambda u: (u.order, u.key)
    )


def universe_get(key: str | None, asker: Asker | None = None) -> Universe:
    """Return the universe `key` (the default when empty). Raise InvalidInput for an unknown key,
    Forbidden for one the asker may not use."""
    key = key or DEFAULT_UNIVERSE
    universe = _universes.get(key)
    if universe is None:
        known = ", ".join(u.key for u in universe_list(asker))
        raise InvalidInput(f"Unknown universe {key!r}. Choose one of: {known}.")
    if not universe.open_to(asker):
        raise Forbidden(f"The {universe.label!r} universe is for signed-in users. Log in first.")
    return universe


def context_source_register(
    key: str,
    function: Callable[[ContextRequest], ContextPart | None],
    *,
    universes: tuple[str, ...] | None = None,
    deadline: float | None = None,
) -> None:
    """Add a per-question context source (replacing one with the same key)."""
    _sources[key] = ContextSource(key, function, universes, deadline)


def context_source_unregister(key: str) -> None:
    _sources.pop(key, None)


def context_sources_for(universe: str) -> list[ContextSource]:
    return [s for s in _sources.values() if s.applies_to(universe)]


def universe_invalidate(key: str, *, owner_label: str | None = None) -> None:
    """Forget cached loader results of universe `key` (for one owner, or for everyone): call it
    when the data behind the universe changes. Every process sees it (the Django cache)."""
    scope = _version_key(key, owner_label)
    try:
        django_cache.incr(scope)
    except ValueError:  # never set: any new value differs from the default
        django_cache.set(scope, 2, None)


def loader_cache_key(key: str, owner_label: str) -> str:
    """Where a loader's result for (universe, owner) is cached: it changes on invalidation."""
    everyone = django_cache.get(_version_key(key, None), 1)
    mine = django_cache.get(_version_key(key, owner_label), 1)
    return f"concierge:universe:{key}:{owner_label}:{everyone}.{mine}"


def _version_key(key: str, owner_label: str | None) -> str:
    return f"concierge:universe-version:{key}:{owner_label or '*'}"


def as_part(value, *, source: str, title: str) -> ContextPart | None:
    if value is None or value == "":
        return None
    if isinstance(value, ContextPart):
        return value
    return ContextPart(source=source, title=title, text=str(value))


@cache
def _import(path: str):
    return import_string(path)
