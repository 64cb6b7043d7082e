"""REST endpoints of PROTOCOL.md: JSON in and out, the Django session is the identity.

Every session and message is looked up through selectors filtered by its owner, so another
visitor's id is simply `not_found`. Unsafe methods need the CSRF token (Django's middleware; its
refusals are JSON too, see `csrf_failure`).
"""

from __future__ import annotations

import functools
import mimetypes

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat import selectors, services, usecases
from chat.config import assistant_config
from chat.exceptions import ChatError, InvalidInput, NotFound
from chat.guards.quotas import usage_snapshot
from chat.health import health_details_allowed, health_public, health_report
from chat.http import chat_error_response, error_response, json_body
from chat.identity import owner_from_request
from chat.providers import ProviderError, get_provider
from chat.reply.universes import universe_get, universe_list

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE = 100


def api(view):
    """Give the view the requester (`owner`) and turn ChatErrors into JSON errors."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, owner_from_request(request), *args, **kwargs)
        except ChatError as exc:
            return chat_error_response(exc)

    return wrapper


def _session_json(session) -> dict:
    return {
        "id": str(session.id),
        "title": session.title,
        "universe": session.universe,
        "updated_at": session.last_activity_at.isoformat().replace("+00:00", "Z"),
        "message_count": getattr(session, "message_count", None),
        "pinned": session.pinned,
        "rating": session.rating,
        "escalated": session.escalated,
        "model": session.model,
        "generation_options": session.generation_options,
    }


@require_http_methods(["GET", "POST"])
@api
def sessions(request, owner):
    if request.method == "POST":
        data = json_body(request, max_bytes=MAX_BODY_BYTES)
        title, universe = data.get("title") or "", data.get("universe") or ""
        if not isinstance(title, str) or not isinstance(universe, str):
            raise InvalidInput("`title` and `universe` must be strings.")
        universe_get(universe)
        session = services.session_create(
            owner=owner, title=title, universe=universe, provider=settings.CHAT_PROVIDER,
            model=settings.CHAT_MODEL, generation_options=settings.CHAT_GENERATION,
        )  # fmt: skip
        session.message_count = 0
        return JsonResponse(_session_json(session), status=201)
    query = request.GET.get("q", "")[:200].replace("\x00", "")  # PostgreSQL text has no NUL
    items = selectors.session_list(owner=owner, query=query)[:MAX_PAGE]
    return JsonResponse({"sessions": [_session_json(s) for s in items]})


@require_http_methods(["GET", "PATCH", "DELETE"])
@api
def session_detail(request, owner, session_id):
    session = selectors.session_get(owner=owner, session_id=session_id)
    if request.method == "DELETE":
        services.session_delete(session=session)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        session = _session_patch(request, owner, session)
    session.message_count = session.messages.count()
    return JsonResponse(_session_json(session))


def _session_patch(request, owner, session):
    data = json_body(request, max_bytes=MAX_BODY_BYTES)
    title, pinned = data.get("title"), data.get("pinned")
    if title is not None and not isinstance(title, str):
        raise InvalidInput("`title` must be a string.")
    if pinned is not None and not isinstance(pinned, bool):
        raise InvalidInput("`pinned` must be true or false.")
    model, options = data.get("model"), data.get("options")
    if model is not None and not isinstance(model, str):
        raise InvalidInput("`model` must be a string.")
    if options is not None and not isinstance(options, dict):
        raise InvalidInput("`options` must be an object such as {\"temperature\": 0.3}.")
    if model is not None or options is not None:
        config = assistant_config()
        session = services.session_choose_model(
            session=session, owner=owner, model=model, options=options,
            allowed_models=config.visitor_models, allowed_options=config.visitor_options,
        )  # fmt: skip
    return services.session_update(session=session, title=title, pinned=pinned)


@require_GET
def suggestions(request):
    """A few questions for the widget's empty state: the operator's, else the help center's."""
    return JsonResponse({"questions": selectors.questions_suggested()})


@require_POST
async def session_stop(request, session_id):
    """Stop the reply being written in a conversation (the SSE clients' `stop`)."""
    try:
        owner = await sync_to_async(owner_from_request)(request)
        session = await selectors.asession_get(owner=owner, session_id=session_id)
        reply_id = await usecases.stop(session=session)
    except ChatError as exc:
        return chat_error_response(exc)
    return JsonResponse({"message": reply_id, "stopping": True}, status=202)


@require_GET
@api
def session_messages(request, owner, session_id):
    session = selectors.session_get(owner=owner, session_id=session_id)
    try:
        limit = min(MAX_PAGE, max(1, int(request.GET.get("limit", 50))))
    except ValueError:
        raise InvalidInput("`limit` must be a number from 1 to 100.") from None
    before = None
    if request.GET.get("before"):
        before = selectors.message_in_session(session=session, message_id=request.GET["before"])
        if before is None:
            raise InvalidInput("`before` must be the id of a message of this conversation.")
    messages = selectors.message_history(session=session, limit=limit, before=before)
    return JsonResponse(
        {
            "messages": [selectors.message_serialize(m) for m in messages],
            "has_more": len(messages) == limit,
        }
    )


@require_GET
@api
def session_export(request, owner, session_id):
    session = selectors.session_get(owner=owner, session_id=session_id)
    markdown = selectors.session_markdown(session=session)
    response = HttpResponse(markdown, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="conversation-{session.id}.md"'
    return response


@require_http_methods(["PATCH", "DELETE"])
@api
def message_detail(request, owner, message_id):
    message = selectors.message_get(owner=owner, message_id=message_id)
    if request.method == "DELETE":
        if (
            message.status == message.Status.STREAMING
            or message.replies.filter(status=message.Status.STREAMING).exists()
        ):
            raise InvalidInput("A reply is still being written here: stop it first.")
        services.message_delete(message=message)
        return HttpResponse(status=204)
    data = json_body(request, max_bytes=MAX_BODY_BYTES)
    if not isinstance(data.get("pinned"), bool):
        raise InvalidInput("Send `pinned`: true or false.")
    message = services.message_update(message=message, pinned=data["pinned"])
    return JsonResponse(selectors.message_serialize(message))


@require_GET
@api
def message_image(request, owner, message_id):
    """A message's image, to its owner only (uploads are private: no public media URL)."""
    message = selectors.message_get(owner=owner, message_id=message_id)
    if not message.image:
        raise NotFound("This message has no image.")
    response = FileResponse(message.image.open("rb"), content_type=_image_type(message.image.name))
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _image_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@require_GET
async def usage(request):
    owner = await sync_to_async(owner_from_request)(request)
    return JsonResponse(await usage_snapshot(owner=owner, tz=request.GET.get("tz")))


@require_GET
def universes(request):
    return JsonResponse(
        {"universes": [{**u.as_dict(), "token_budget": u.token_budget} for u in universe_list()]}
    )


@require_GET
async def health(request):
    """The status for anyone; the details for staff or a `HEALTH_TOKEN` bearer (finding 12)."""
    report = await health_report()
    status = 200 if report["status"] != "error" else 503
    if not await health_details_allowed(request):
        report = health_public(report)
    return JsonResponse(report, status=status)


@require_GET
async def models(request):
    """The model ids for anyone; who owns them and why the server failed for staff or a token."""
    details = await health_details_allowed(request)
    provider = get_provider()
    try:
        available = await provider.list_models()
    except ProviderError as exc:
        message = exc.message if details else "The model server is not answering right now."
        return error_response("provider_unavailable", message)
    finally:
        await provider.aclose()
    listed = [{"id": m.id, "owned_by": m.owned_by} if details else {"id": m.id} for m in available]
    return JsonResponse(
        {"provider": provider.name, "active": settings.CHAT_MODEL, "models": listed}
    )


def csrf_failure(request, reason=""):
    """CSRF refusals: JSON for the API, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(
            "forbidden", "The CSRF token is missing or wrong: reload the page and try again."
        )
    from django.views.csrf import csrf_failure as default

    return default(request, reason=reason)
