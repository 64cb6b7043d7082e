"""Asking the configured model server: test connection, health at a glance, model lists.

Everything goes through the real provider code (chat/providers), built from an
`AssistantConfig` rather than from settings, so the admin tests exactly what a reply would use.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import structlog
from django.conf import settings

from chat.config import AssistantConfig
from chat.providers.base import (
    GenerationOptions,
    PromptMessage,
    Provider,
    ProviderError,
    Timeouts,
)
from chat.providers.registry import provider_class

log = structlog.get_logger(__name__)

TEST_PROMPT = "Reply with one short friendly sentence: the connection works."
TEST_MAX_TOKENS = 40
HEALTH_TTL = 10.0
_health_cache: dict[tuple, tuple[float, dict]] = {}


def provider_for(config: AssistantConfig, *, max_retries: int | None = None) -> Provider:
    """Build the provider `config` names, with its base URL and key.

    The environment's key is used only with the environment's base URL, so a key never goes
    to a server the operator typed without typing the key too.
    """
    cls = provider_class(config.provider)
    if hasattr(cls, "from_config"):
        return cls.from_config(config)
    kwargs: dict[str, Any] = {
        "timeouts": Timeouts(**settings.CHAT_TIMEOUTS),
        "max_retries": settings.CHAT_MAX_RETRIES if max_retries is None else max_retries,
    }
    if config.provider == "openai":
        base_url = config.base_url or settings.OPENAI_BASE_URL
        env_key = settings.OPENAI_API_KEY if base_url == settings.OPENAI_BASE_URL else ""
        return cls(api_key=config.api_key or env_key, base_url=base_url, **kwargs)
    if config.provider == "anthropic":
        base_url = config.base_url or settings.ANTHROPIC_BASE_URL
        env_key = settings.ANTHROPIC_API_KEY if base_url == settings.ANTHROPIC_BASE_URL else ""
        return cls(api_key=config.api_key or env_key, base_url=base_url or None, **kwargs)
    return cls.from_settings()


async def connection_test(*, config: AssistantConfig) -> dict[str, Any]:
    """Stream a short answer from `config`'s provider and model; time the first token."""
    about = {"provider": config.provider, "model": config.model}
    try:
        text, ttft_ms, total_ms = await _timed_answer(config)
    except ProviderError as exc:
        log.info("connection_test_failed", **about, kind=exc.kind.value)
        error = _scrubbed(exc.message, config.api_key)
        return {"ok": False, **about, "error": error, "kind": exc.kind.value}
    log.info("connection_test_passed", **about, ttft_ms=ttft_ms, total_ms=total_ms)
    text = _scrubbed(text, config.api_key)
    return {"ok": True, **about, "text": text, "ttft_ms": ttft_ms, "total_ms": total_ms}


async def _timed_answer(config: AssistantConfig) -> tuple[str, int | None, int]:
    """The test answer, and the milliseconds to its first token and to its end."""
    provider = provider_for(config, max_retries=0)
    options = GenerationOptions(
        temperature=config.generation.get("temperature"), max_tokens=TEST_MAX_TOKENS
    )
    messages = [
        PromptMessage(role="system", content="You are a connection test. Be brief."),
        PromptMessage(role="user", content=TEST_PROMPT),
    ]
    started = time.monotonic()
    ttft_ms, pieces = None, []
    try:
        async for event in provider.stream(model=config.model, messages=messages, options=options):
            if event.type == "token":
                if ttft_ms is None:
                    ttft_ms = round((time.monotonic() - started) * 1000)
                pieces.append(event.text)
    finally:
        await provider.aclose()
    return "".join(pieces), ttft_ms, round((time.monotonic() - started) * 1000)


async def provider_glance(*, config: AssistantConfig) -> dict[str, Any]:
    """Whether the configured server answers and offers the configured model (cached 10 s)."""
    key = (config.provider, config.base_url, config.model, bool(config.api_key))
    cached = _health_cache.get(key)
    if cached and time.monotonic() - cached[0] < HEALTH_TTL:
        return cached[1]
    provider = provider_for(config, max_retries=0)
    status: dict[str, Any] = {"name": config.provider, "model": config.model}
    try:
        models = await asyncio.wait_for(provider.list_models(), timeout=5)
    except ProviderError as exc:
        status.update(reachable=False, detail=_scrubbed(exc.message, config.api_key))
    except TimeoutError:
        status.update(reachable=False, detail="The model server did not answer within 5 s.")
    else:
        ids = [m.id for m in models]
        status.update(reachable=True, models_available=len(ids), model_listed=config.model in ids)
    finally:
        await provider.aclose()
    _health_cache[key] = (time.monotonic(), status)
    return status


async def openai_models(*, base_url: str) -> list[dict[str, str]]:
    """The models an OpenAI-compatible server (llama.cpp, LM Studio, Ollama's /v1) lists."""
    config = AssistantConfig(provider="openai", model="", generation={}, base_url=base_url)
    provider = provider_for(replace(config), max_retries=0)
    try:
        models = await asyncio.wait_for(provider.list_models(), timeout=8)
    finally:
        await provider.aclose()
    return [{"id": m.id, "owned_by": m.owned_by} for m in models]


def _scrubbed(text: str, secret: str) -> str:
    """Never echo a key back, even if a server quotes it in an error."""
    return text.replace(secret, "[API key]") if secret and len(secret) >= 4 else text
