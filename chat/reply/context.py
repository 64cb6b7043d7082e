"""Gathering what one reply is grounded in: the question, who asks and where, the universe, the
knowledge base's passages and what apps add (universe loaders, context sources).

One read through selectors, then, in parallel and off the event loop: retrieval (beside the
routing, which it does not need), the universe's loader (cached per universe and owner) and
every context source of that universe, each under a deadline (settings.CHAT_CONTEXT_DEADLINE).
A loader that fails or is late is skipped with a log line; the reply goes on without it and
says nothing it did not get.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, close_old_connections

from chat.providers.base import ImageInput
from chat.reply.choice import ModelChoice
from chat.reply.retrieval import Passage, knowledge_version, retrieve
from chat.reply.routing import DEFAULT_ROUTE, Route, route_question, routing_enabled
from chat.reply.universes import (
    ContextPart,
    ContextRequest,
    Universe,
    as_part,
    context_sources_for,
    loader_cache_key,
    universe_get,
    universe_list,
)
from chat.selectors import ReplyMaterial
from chat.signals import Asker

log = structlog.get_logger(__name__)

# Two pools, neither the default executor: the reply path's own work (retrieval, routing, the
# knowledge stamp, images), and the apps' loaders and context sources, which may be slow or stuck
# past their deadline: they must never hold the threads retrieval needs.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reply")
_sources = ThreadPoolExecutor(max_workers=16, thread_name_prefix="context-source")


@dataclass(frozen=True)
class ReplyInput:
    """Everything the prompt is built from. `history` is oldest first, without the question."""

    question: str
    asker: Asker
    page: dict
    route: Route
    universe: Universe
    history: list[tuple[str, str]] = field(default_factory=list)
    images: tuple[ImageInput, ...] = ()
    image_unread: bool = False  # an image came with the question, but this model cannot see it
    client_context: dict = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)
    parts: list[ContextPart] = field(default_factory=list)
    language: str = ""
    escalated: bool = False
    kb_version: str = ""  # the knowledge base's stamp when the passages were read

    @property
    def earlier_questions(self) -> list[str]:
        return [text for role, text in self.history if role == "user"]

    @property
    def first_turn(self) -> bool:
        return not self.history


async def context_gather(
    *,
    material: ReplyMaterial,
    page: dict,
    language: str,
    choice: ModelChoice,
    passages_limit: int | None = None,
) -> ReplyInput:
    """Retrieve the passages while the question is routed and its universe's parts gathered;
    all off the loop. Only the parts depend on the route."""
    question = material.question.text
    passages, (route, universe, request, parts), images, kb_version = await asyncio.gather(
        _in_pool(_passages, question, passages_limit or settings.CHAT_PASSAGES),
        _routed_parts(material, page, language),
        _images(material, choice),
        _in_pool(_knowledge_version),
    )
    return ReplyInput(
        question=question,
        asker=material.asker,
        page=page,
        route=route,
        universe=universe,
        history=material.history,
        images=images,
        image_unread=bool(material.question.image) and not choice.sees_images,
        client_context=request.context,
        passages=passages,
        parts=parts + _page_parts(page, passages),
        language=language,
        escalated=material.escalated,
        kb_version=kb_version,
    )


async def _routed_parts(
    material: ReplyMaterial, page: dict, language: str
) -> tuple[Route, Universe, ContextRequest, list[ContextPart]]:
    """The question's route and universe, then what that universe's loader and sources add."""
    route, universe = await _route(material, page)
    request = ContextRequest(
        question=material.question.text,
        universe=universe.key,
        asker=material.asker,
        page=page,
        context=material.question.metadata.get("context") or {},
        category=route.category,
        language=language,
    )
    return route, universe, request, await _parts(universe, request)


async def _route(material: ReplyMaterial, page: dict) -> tuple[Route, Universe]:
    """The visitor's choice, else the intent router's (open universes only)."""
    if material.universe:
        universe = universe_get(material.universe, material.asker)
        return Route(universe=universe.key, method="chosen", confidence=1.0), universe
    open_universes = universe_list(material.asker)
    if not routing_enabled():
        return DEFAULT_ROUTE, universe_get(DEFAULT_ROUTE.universe, material.asker)
    try:
        route = await _in_pool(
            route_question, material.question.text, page=page, universes=open_universes
        )
    except Exception:  # noqa: BLE001 - a broken router leaves the question in the default
        log.exception("router_failed")
        route = Route(universe=open_universes[0].key if open_universes else "general")
    return route, universe_get(route.universe, material.asker)


async def _parts(universe: Universe, request: ContextRequest) -> list[ContextPart]:
    """The universe's loader and its context sources, in parallel, each under its deadline."""
    jobs = []
    if universe.loader:
        jobs.append(
            ("universe:" + universe.key, _deadline(None), partial(_load_cached, universe, request))
        )
    for source in context_sources_for(universe.key):
        jobs.append((source.key, _deadline(source.deadline), partial(source.function, request)))
    if not jobs:
        return []
    results = await asyncio.gather(*(_bounded(key, limit, job) for key, limit, job in jobs))
    return [part for part in results if part is not None]


async def _bounded(key: str, limit: float, job) -> ContextPart | None:
    started = time.monotonic()
    try:
        value = await asyncio.wait_for(_in_pool(job, pool=_sources), timeout=limit)
    except TimeoutError:
        log.warning("context_source_late", source=key, deadline_s=limit)
        return None
    except DatabaseError as exc:  # not migrated yet, or the database is down
        log.warning("context_source_unavailable", source=key, error=str(exc))
        return None
    except Exception:  # noqa: BLE001 - a failing loader is skipped, never fatal
        log.exception("context_source_failed", source=key)
        return None
    part = as_part(value, source=key, title=key)
    log.debug("context_source_ran", source=key, ms=round((time.monotonic() - started) * 1000, 1))
    return part


def _passages(question: str, limit: int) -> list[Passage]:
    """The knowledge base's passages; none when it fails (the reply then says it does not
    know, rather than failing too)."""
    try:
        return retrieve(question, limit=limit)
    except DatabaseError as exc:  # not migrated yet, or the database is down
        log.warning("retrieval_unavailable", error=str(exc))
    except Exception:  # noqa: BLE001 - a bug in a retriever: logged in full, reply goes on
        log.exception("retrieval_failed")
    return []


def _knowledge_version() -> str:
    try:
        return knowledge_version()
    except Exception:  # noqa: BLE001 - without a stamp the response cache is not used
        log.warning("knowledge_version_unavailable")
        return ""


def _load_cached(universe: Universe, request: ContextRequest) -> ContextPart | None:
    """A universe loader's result, cached per (universe, owner) for `cache_seconds`."""
    if not universe.loader:
        return None
    owner = (
        f"user:{request.asker.user_id}"
        if request.asker.user_id
        else (f"visitor:{request.asker.visitor_key}")
    )
    try:
        key = loader_cache_key(universe.key, owner)
        hit = cache.get(key)
    except Exception:  # noqa: BLE001 - the cache (Redis) is down: load uncached
        key, hit = None, None
    if hit is not None:
        return hit or None  # "" caches "this loader had nothing"
    part = universe.load(request)
    if key is not None and universe.cache_seconds > 0:
        try:
            cache.set(key, part or "", universe.cache_seconds)
        except Exception:  # noqa: BLE001
            log.warning("universe_cache_unavailable", universe=universe.key)
    return part


async def _images(material: ReplyMaterial, choice: ModelChoice) -> tuple[ImageInput, ...]:
    image = material.question.image
    if not image or not choice.sees_images:
        return ()
    return await _in_pool(_read_image, image)


def _read_image(image) -> tuple[ImageInput, ...]:
    media_type = mimetypes.guess_type(image.name)[0] or "image/png"
    with image.open("rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    return (ImageInput(media_type=media_type, data_base64=data),)


def _page_parts(page: dict, passages: list[Passage]) -> list[ContextPart]:
    """Help for an error page: the link looks broken; here is what they may have wanted."""
    if page.get("status") != 404:
        return []
    path = urlsplit(str(page.get("url", ""))).path
    lines = [
        f"The visitor followed a link to {path or 'a page'} that does not exist (404). Say "
        "the link looks broken, and suggest where they may have wanted to go."
    ]
    if passages:
        lines.append("Pages that may be what they wanted:")
        lines += [f"- {p.title} ({p.url})" for p in passages[:3] if p.url]
    return [
        ContextPart(source="page.error", title="Broken link", text="\n".join(lines), priority=80)
    ]


def _deadline(own: float | None) -> float:
    return own if own is not None else settings.CHAT_CONTEXT_DEADLINE


async def run_off_loop(function, *args, **kwargs):
    """Run CPU-bound or blocking work (prompt building, tokenizing) off the event loop."""
    return await _in_pool(function, *args, **kwargs)


async def _in_pool(function, *args, pool: ThreadPoolExecutor = _pool, **kwargs):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        pool, partial(_with_fresh_connection, function, *args, **kwargs)
    )


def _with_fresh_connection(function, *args, **kwargs):
    """As Django does around a request: drop broken or expired connections before, and after,
    so that a pooled connection goes back to the pool when the job ends, not when this thread
    next gets a job (idle threads held connections the next burst then waited for)."""
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()
