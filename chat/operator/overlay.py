"""The operator's overlay on the environment's configuration: `apply` (CHAT_CONFIG_OVERLAY).

Called once per reply, so it must be cheap: the effective overrides live in this process's
memory; at most once every `CHAT_CONFIG_CHECK_SECONDS` one cache read (Redis in production)
compares the published stamp with the one loaded, and only a different stamp (or none in the
cache) costs a database read. A save publishes a new stamp after commit, so every process picks
the change up within about a second, without a restart.

When the cache or the database cannot be read, the last known overrides stay in force (none at
start): the assistant keeps answering on the environment's values rather than failing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from chat.config import AssistantConfig
from chat.operator.crypto import secret_decrypt
from chat.operator.exceptions import OperatorError

log = structlog.get_logger(__name__)

# The Django cache key holding the settings' stamp: Redis in production, so every process sees
# a change at its next check.
STAMP_CACHE_KEY = "operator:settings:stamp"

GENERATION_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "repeat_penalty",
    "max_tokens",
)
LIMIT_FIELDS = (
    "rate_limit",
    "rate_limit_ip",
    "quota_user_messages",
    "quota_user_input_tokens",
    "quota_user_output_tokens",
    "quota_anon_messages",
    "quota_anon_input_tokens",
    "quota_anon_output_tokens",
)
RATE_OFF = "off"  # the form's word for "no rate limit" (the setting's empty string)


@dataclasses.dataclass(frozen=True)
class Overrides:
    """What the operator set: plain field replacements, and keys merged into two dicts."""

    fields: dict[str, Any]
    generation: dict[str, Any]
    limits: dict[str, Any]

    def applied_to(self, config: AssistantConfig) -> AssistantConfig:
        if not (self.fields or self.generation or self.limits):
            return config
        return dataclasses.replace(
            config,
            **self.fields,
            generation={**config.generation, **self.generation},
            limits={**config.limits, **self.limits},
        )


NONE = Overrides(fields={}, generation={}, limits={})


@dataclasses.dataclass
class _State:
    checked_at: float = float("-inf")
    stamp: str | None = None
    overrides: Overrides = NONE


_state = _State()
_lock = threading.Lock()
_warned: set[str] = set()


def apply(config: AssistantConfig) -> AssistantConfig:
    """Return `config` with the operator's overrides (the effective configuration)."""
    return current_overrides().applied_to(config)


def current_overrides() -> Overrides:
    """The overrides in force in this process, refreshed when the published stamp changed."""
    interval = settings.CHAT_CONFIG_CHECK_SECONDS
    if time.monotonic() - _state.checked_at < interval:
        return _state.overrides
    if not _lock.acquire(blocking=False):
        return _state.overrides  # another thread is checking: use what we have
    try:
        if time.monotonic() - _state.checked_at >= interval:
            _state.checked_at = time.monotonic()
            _refresh()
        return _state.overrides
    finally:
        _lock.release()


def loaded_stamp() -> str:
    """The stamp of the settings this process has in force ("" for none)."""
    return _state.stamp or ""


def overlay_expire() -> None:
    """Check at the next call (this process saved a change: see it at once)."""
    _state.checked_at = float("-inf")


def overlay_reset() -> None:
    """Forget what this process loaded (tests; the next call reads again)."""
    with _lock:
        _state.checked_at = float("-inf")
        _state.stamp = None
        _state.overrides = NONE
        _warned.clear()


def _refresh() -> None:
    published = _published_stamp()
    if published is not None and published == _state.stamp:
        return
    try:
        stamp, overrides = _in_sync_context(_load)
    except Exception as exc:  # noqa: BLE001 - keep the last known values (see module docstring)
        _warn_once("assistant_settings_unreadable", error=type(exc).__name__)
        return
    if stamp != _state.stamp:
        log.info("assistant_settings_loaded", stamp=stamp[:8], previous=(_state.stamp or "")[:8])
    _state.stamp, _state.overrides = stamp, overrides
    if published is None:
        _publish_missing(stamp)


def _published_stamp() -> str | None:
    try:
        return cache.get(STAMP_CACHE_KEY)
    except Exception as exc:  # noqa: BLE001 - Redis down: read the database instead
        _warn_once("assistant_settings_stamp_unreadable", error=type(exc).__name__)
        return None


def _publish_missing(stamp: str) -> None:
    """Seed the cache after a miss (a fresh cache); never overwrite a newer published stamp."""
    try:
        cache.add(STAMP_CACHE_KEY, stamp, timeout=None)
    except Exception:  # noqa: BLE001, S110 - already warned by _published_stamp
        pass


def _in_sync_context(function):
    """Run `function` here, or in a helper thread when an event loop runs in this thread (the
    ORM refuses to run inside one; this happens at most once per check interval)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="operator-overlay") as pool:
        return pool.submit(_closing_connections, function).result(timeout=10)


def _closing_connections(function):
    try:
        return function()
    finally:
        connections.close_all()


def _load() -> tuple[str, Overrides]:
    from chat.operator.models import AssistantSettings

    row = AssistantSettings.objects.filter(pk=AssistantSettings.SINGLETON_ID).first()
    if row is None:
        return "", NONE
    return row.stamp, overrides_from(row)


def overrides_from(row) -> Overrides:
    """The overrides a settings row makes (empty fields keep the environment's values)."""
    fields: dict[str, Any] = {}
    for name in ("provider", "base_url", "model", "site_name", "tone", "scope", "profile"):
        if getattr(row, name):
            fields[name] = getattr(row, name)
    if row.context_window is not None:
        fields["context_window"] = row.context_window
    if row.model and not row.profile:
        fields["profile"] = "small" if row.model == settings.LOCAL_MODEL_ALIAS else "large"
    for name in ("visitor_models", "visitor_options"):
        if getattr(row, name) is not None:
            fields[name] = tuple(getattr(row, name))
    if row.api_key_encrypted:
        key = _decrypted_key(row.api_key_encrypted)
        if key:
            fields["api_key"] = key
    generation = {n: getattr(row, n) for n in GENERATION_FIELDS if getattr(row, n) is not None}
    if row.stop is not None:
        generation["stop"] = tuple(row.stop)
    limits = {n: getattr(row, n) for n in LIMIT_FIELDS if getattr(row, n) not in (None, "")}
    for name in ("rate_limit", "rate_limit_ip"):
        if limits.get(name) == RATE_OFF:
            limits[name] = ""
    return Overrides(fields=fields, generation=generation, limits=limits)


def _decrypted_key(token: str) -> str:
    try:
        return secret_decrypt(token)
    except OperatorError as exc:
        # The environment's key stays in force; the admin's health panel says why.
        _warn_once("assistant_api_key_unreadable", reason=exc.message)
        return ""


def _warn_once(event: str, **data: Any) -> None:
    if event not in _warned:
        _warned.add(event)
        log.warning(event, **data)
