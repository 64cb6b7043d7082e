"""`GET /api/schema/`: an OpenAPI 3.1 description of the REST API and the SSE fallback.

For anyone writing a client, and for the tests: tests/fuzz/test_openapi.py checks that every
routed `/api/` path is described here and every path described is routed, that the document is
valid OpenAPI 3.1, and fuzzes the running app with schemathesis against it (no 5xx, every
response as described). The limits in it are the settings in force, so it cannot drift from them.

The WebSocket (`/ws/chat/`) is not an HTTP API: PROTOCOL.md describes it; its server events are
the ones the SSE stream carries, described here as `ServerEvent`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from chat.http import STATUS_FOR_CODE

JSON = "application/json"

SESSION_ID = {
    "name": "session_id", "in": "path", "required": True,
    "description": "A conversation's id.", "schema": {"type": "string", "format": "uuid"},
}  # fmt: skip
MESSAGE_ID = {
    "name": "message_id", "in": "path", "required": True,
    "description": "A message's id.", "schema": {"type": "string", "format": "uuid"},
}  # fmt: skip

# Who may call: the Django session cookie is the identity (a new anonymous visitor without it);
# unsafe methods also need the CSRF cookie and the same token in the X-CSRFToken header.
READ = [{"sessionCookie": []}, {}]
WRITE = [
    {"sessionCookie": [], "csrfCookie": [], "csrfHeader": []},
    {"csrfCookie": [], "csrfHeader": []},
]


@require_GET
def schema(request):
    """The OpenAPI document, as JSON."""
    return JsonResponse(openapi_document(), json_dumps_params={"indent": 1})


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for the limits in force."""
    return _document(
        max_message_chars=settings.CHAT_MAX_MESSAGE_CHARS,
        max_frame_bytes=settings.CHAT_MAX_FRAME_BYTES,
        max_image_bytes=settings.CHAT_MAX_IMAGE_BYTES,
    )


@cache
def _document(*, max_message_chars: int, max_frame_bytes: int, max_image_bytes: int) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Concierge",
            "version": "1.1",
            "summary": "The chat assistant's REST API and its SSE stream (PROTOCOL.md).",
            "description": (
                "JSON in and out. The Django session cookie is the identity: a caller without one "
                "is a new anonymous visitor, who sees only their own conversations. Unsafe "
                "methods need Django's CSRF token (the `csrftoken` cookie and the same value in "
                "`X-CSRFToken`). Every refusal is `{\"error\": {\"code\", \"message\"}}` with "
                "the matching status; a wrong method is a JSON 405 with an `Allow` header. "
                f"Limits: a question is at most {max_message_chars} characters, an image at "
                f"most {max_image_bytes} bytes, a request body at most {max_frame_bytes} bytes."
            ),
            "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
        },
        "servers": [{"url": "/", "description": "This site."}],
        "paths": _paths(),
        "components": _components(
            max_message_chars=max_message_chars, max_image_bytes=max_image_bytes
        ),
        "security": READ,
    }


# --- paths ----------------------------------------------------------------------------------


def _paths() -> dict:
    return {
        "/api/schema/": {"get": _op("schema", "This document.", {"200": _json_ref("OpenAPI")},
                                    security=[{}])},  # fmt: skip
        "/api/health/": {"get": _health()},
        "/api/chat/stream/": {"post": _stream()},
        "/api/chat/sessions/": {"get": _sessions_list(), "post": _session_create()},
        "/api/chat/sessions/{session_id}/": {
            "parameters": [SESSION_ID],
            "get": _op("session_get", "One of the caller's conversations.",
                       {"200": _json_ref("Session")}, errors=(404,)),
            "patch": _op("session_update", "Rename, pin, or choose the model and options.",
                         {"200": _json_ref("Session")}, body="SessionPatch",
                         errors=(400, 403, 404, 413), security=WRITE),
            "delete": _op("session_delete", "Delete the conversation with its messages.",
                          {"204": {"description": "Deleted."}}, errors=(403, 404),
                          security=WRITE),
        },  # fmt: skip
        "/api/chat/sessions/{session_id}/stop/": {
            "parameters": [SESSION_ID],
            "post": _op("session_stop", "Stop the reply being written, wherever it runs.",
                        {"202": _json_ref("Stopping")}, errors=(400, 403, 404),
                        security=WRITE),
        },  # fmt: skip
        "/api/chat/sessions/{session_id}/messages/": {
            "parameters": [SESSION_ID], "get": _messages_list(),
        },  # fmt: skip
        "/api/chat/sessions/{session_id}/export.md": {
            "parameters": [SESSION_ID],
            "get": _op("session_export", "The conversation as a Markdown document.",
                       {"200": {"description": "Markdown, as an attachment.",
                                "content": {"text/markdown": {"schema": {"type": "string"}}}}},
                       errors=(404,)),
        },  # fmt: skip
        "/api/chat/messages/{message_id}/": {
            "parameters": [MESSAGE_ID],
            "patch": _op("message_update", "Pin or unpin a message.",
                         {"200": _json_ref("Message")}, body="MessagePatch",
                         errors=(400, 403, 404, 413), security=WRITE),
            "delete": _op("message_delete", "Delete a message (not while its reply streams).",
                          {"204": {"description": "Deleted."}}, errors=(400, 403, 404),
                          security=WRITE),
        },  # fmt: skip
        "/api/chat/messages/{message_id}/image": {
            "parameters": [MESSAGE_ID],
            "get": _op("message_image", "A message's image, to its owner only.",
                       {"200": {"description": "The image as it was sent.", "content": {
                           t: {"schema": {"type": "string", "contentMediaType": t}}
                           for t in ("image/png", "image/jpeg", "image/webp")}}},
                       errors=(404,)),
        },  # fmt: skip
        "/api/chat/usage/": {"get": _op(
            "usage_get", "Today's usage and limits (the day ends at the caller's midnight).",
            {"200": _json_ref("Usage")},
            parameters=[_query("tz", "An IANA time zone such as Europe/Paris.")],
        )},  # fmt: skip
        "/api/chat/universes/": {"get": _op(
            "universes_list", "The universes (topics) a question can be asked in.",
            {"200": _json_ref("UniverseList")},
        )},  # fmt: skip
        "/api/chat/models/": {"get": _models()},
        "/api/chat/ask-about/": {"post": _op(
            "ask_about", "Open a conversation primed from a chart (\"Ask AI about this\").",
            {"201": _json_ref("AskAboutPrimed")}, body="AskAboutRequest",
            errors=(400, 403, 413), security=WRITE,
        )},  # fmt: skip
        "/metrics": {"get": _op(
            "metrics", "Prometheus' text format: for a METRICS_TOKEN bearer, else loopback only.",
            {"200": {"description": "The metrics.",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
             "401": _text("A METRICS_TOKEN is set and this is not it."),
             "403": _text("Not from the loopback address (and no METRICS_TOKEN is set).")},
            security=[{}, {"metricsToken": []}],
        )},
        "/api/chat/suggestions/": {"get": _op(
            "suggestions_list", "A few questions for the widget's empty state.",
            {"200": _json_ref("Suggestions")},
        )},  # fmt: skip
    }


def _health() -> dict:
    return _op(
        "health",
        "The status for anyone; the details (database, cache, channel layer, provider, "
        "breakers, Redis) for a staff session or `Authorization: Bearer <HEALTH_TOKEN>`.",
        {
            "200": _json_ref("Health", "`ok` or `degraded` (chat works, something is down)."),
            "503": _json_ref("Health", "`error`: the database is down."),
        },
        security=[{}, {"healthToken": []}, {"sessionCookie": []}],
    )


def _models() -> dict:
    return _op(
        "models_list",
        "The models the configured provider offers, and the active one. `owned_by` only for "
        "staff or a HEALTH_TOKEN bearer.",
        {"200": _json_ref("Models")},
        errors=(503,),
        security=[{}, {"healthToken": []}, {"sessionCookie": []}],
    )


def _stream() -> dict:
    return _op(
        "stream",
        "Ask (or regenerate) and receive the reply as Server-Sent Events: `ready`, `ack`, then "
        "the WebSocket's events in its order, each as `data: <ServerEvent JSON>`, with `: ping` "
        "comments in silences of 15 s, ending with `done` (or `error`). Refusals before the "
        "stream are HTTP errors.",
        {"200": {
            "description": "The event stream.",
            "content": {"text/event-stream": {"schema": {
                "type": "object", "required": ["data"],
                "description": "One event: a `data:` line of one ServerEvent as JSON.",
                "properties": {
                    "data": {"type": "string", "contentMediaType": JSON,
                             "contentSchema": {"$ref": "#/components/schemas/ServerEvent"}},
                    "event": {"type": "string"},
                },
            }}},
        }},
        body="StreamRequest",
        errors=(400, 403, 404, 409, 413, 429, 503),
        security=WRITE,
    )  # fmt: skip


def _sessions_list() -> dict:
    return _op(
        "sessions_list", "The caller's conversations, newest first (100 at most).",
        {"200": _json_ref("SessionList")},
        parameters=[_query("q", "Only conversations whose title or messages contain this.")],
    )  # fmt: skip


def _session_create() -> dict:
    return _op(
        "session_create", "A new, empty conversation.", {"201": _json_ref("Session")},
        body="SessionCreate", body_required=False, errors=(400, 403, 413), security=WRITE,
    )  # fmt: skip


def _messages_list() -> dict:
    return _op(
        "messages_list", "A conversation's messages, oldest first, a page at a time.",
        {"200": _json_ref("MessagePage")},
        parameters=[
            _query("before", "A message id of this conversation: the page ends before it "
                   "(empty: the latest page).",
                   {"anyOf": [{"type": "string", "format": "uuid"}, {"const": ""}]}),
            _query("limit", "Messages per page, from 1 to 100 (others are brought into it).",
                   {"type": "integer", "default": 50}),
        ],
        errors=(400, 404),
    )  # fmt: skip


def _op(
    operation_id: str, summary: str, responses: dict, *, body: str | None = None,
    body_required: bool = True,
    errors: tuple[int, ...] = (), parameters: list | None = None, security: list | None = None,
) -> dict:  # fmt: skip
    """One operation: its successes, the listed errors, and the 405 every API path may give."""
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {
            "required": body_required,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    operation["responses"] = {
        **responses,
        **{str(status): {"$ref": f"#/components/responses/Error{status}"} for status in errors},
        "405": {"$ref": "#/components/responses/Error405"},
    }
    if security is not None:
        operation["security"] = security
    return operation


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


def _text(description: str) -> dict:
    return {"description": description,
            "content": {"text/plain": {"schema": {"type": "string"}}}}  # fmt: skip


def _json_ref(name: str, description: str = "OK.") -> dict:
    return {"description": description,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}}  # fmt: skip


# --- components -----------------------------------------------------------------------------

ERROR_STATUSES = {
    400: "Invalid input (`invalid`, `unsupported_image`).",
    403: "`forbidden`: the CSRF token is missing or wrong.",
    404: "`not_found`: no such conversation or message of the caller's (someone else's too).",
    405: "`invalid`: the method is not allowed here (see the `Allow` header).",
    409: "`busy`: a reply is already being written in this conversation.",
    413: "`too_large`: the body, text, context or image is over its limit.",
    429: "`rate_limited` or `quota_exceeded`, with `retry_after` and a Retry-After header.",
    503: "`provider_unavailable`: the model server does not answer.",
}


def _components(*, max_message_chars: int, max_image_bytes: int) -> dict:
    return {
        "securitySchemes": {
            "sessionCookie": {"type": "apiKey", "in": "cookie",
                              "name": settings.SESSION_COOKIE_NAME,
                              "description": "Django's session: who is asking."},
            "csrfCookie": {"type": "apiKey", "in": "cookie", "name": settings.CSRF_COOKIE_NAME,
                           "description": "Django's CSRF cookie (set by any page)."},
            "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRFToken",
                           "description": "The CSRF cookie's token (unsafe methods)."},
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "settings.METRICS_TOKEN: GET /metrics."},
            "healthToken": {"type": "http", "scheme": "bearer",
                            "description": "settings.HEALTH_TOKEN: the health details."},
        },  # fmt: skip
        "responses": {
            f"Error{status}": {
                "description": description,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for status, description in ERROR_STATUSES.items()
        },
        "schemas": {
            **_shared_schemas(),
            **_request_schemas(max_message_chars=max_message_chars),
            **_event_schemas(),
        },
    }


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _shared_schemas() -> dict:
    uuid_ = {"type": "string", "format": "uuid"}
    when = {"type": "string", "format": "date-time"}
    return {
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": sorted(STATUS_FOR_CODE)},
                    "message": {"type": "string", "description": "For a person: what to do."},
                    "retry_after": {"type": "number", "minimum": 0},
                },
            }},
        },
        "Session": {
            "type": "object",
            "required": ["id", "title", "updated_at", "message_count", "pinned"],
            "properties": {
                "id": uuid_, "title": {"type": "string"}, "universe": {"type": "string"},
                "updated_at": when, "message_count": _nullable({"type": "integer", "minimum": 0}),
                "pinned": {"type": "boolean"},
                "rating": _nullable({"type": "integer", "minimum": 1, "maximum": 5}),
                "escalated": {"type": "boolean"}, "model": {"type": "string"},
                "generation_options": {"type": "object"},
            },
        },
        "SessionList": _list_of("sessions", "Session"),
        "Source": {
            "type": "object", "required": ["title"],
            "properties": {"id": {}, "title": {"type": "string"}, "url": {"type": "string"}},
        },
        "Message": {
            "type": "object",
            "required": ["id", "role", "text", "image_url", "status", "created_at", "sources",
                         "pinned"],
            "properties": {
                "id": uuid_, "role": {"type": "string", "enum": ["user", "assistant"]},
                "text": {"type": "string"}, "image_url": _nullable({"type": "string"}),
                "status": {"type": "string", "enum": [
                    "streaming", "complete", "stopped", "failed", "interrupted"]},
                "created_at": when, "pinned": {"type": "boolean"},
                "sources": {"type": "array", "items": {"$ref": "#/components/schemas/Source"}},
                "model": {"type": "string"},
                "ttft_ms": _nullable({"type": "integer"}),
                "total_ms": _nullable({"type": "integer"}),
                "output_tokens": _nullable({"type": "integer"}),
            },
        },
        "MessagePage": {
            "type": "object", "required": ["messages", "has_more"],
            "properties": {
                "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                "has_more": {"type": "boolean"},
            },
        },
        "Usage": {
            "type": "object",
            "required": ["messages_used", "messages_remaining", "tokens_used", "resets_at"],
            "properties": {
                "messages_used": {"type": "integer", "minimum": 0},
                "messages_remaining": _nullable({"type": "integer", "minimum": 0}),
                "messages_limit": _nullable({"type": "integer", "minimum": 1}),
                "tokens_used": {"type": "integer", "minimum": 0},
                "input_tokens_used": {"type": "integer", "minimum": 0},
                "output_tokens_used": {"type": "integer", "minimum": 0},
                "resets_at": when,
            },
        },
        "Universe": {
            "type": "object", "required": ["key", "label", "intro"],
            "properties": {"key": {"type": "string"}, "label": {"type": "string"},
                           "intro": {"type": "string"}, "token_budget": {"type": "integer"}},
        },
        "UniverseList": _list_of("universes", "Universe"),
        "Models": {
            "type": "object", "required": ["provider", "active", "models"],
            "properties": {
                "provider": {"type": "string"}, "active": {"type": "string"},
                "models": {"type": "array", "items": {
                    "type": "object", "required": ["id"],
                    "properties": {"id": {"type": "string"},
                                   "owned_by": _nullable({"type": "string"})},
                }},
            },
        },
        "Health": {
            "type": "object", "required": ["status"],
            "description": "Anonymous callers get `status` only.",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded", "error"]},
                "database": {"type": "string", "enum": ["ok", "error"]},
                "cache": {"type": "string", "enum": ["ok", "error"]},
                "channel_layer": {"type": "string", "enum": ["ok", "error"]},
                "provider": {"type": "object", "properties": {
                    "name": {"type": "string"}, "reachable": {"type": "boolean"},
                    "models_available": {}}},
                "breakers": {"type": "object"}, "redis": {"type": "object"},
            },
        },
        "Stopping": {
            "type": "object", "required": ["message", "stopping"],
            "properties": {"message": uuid_, "stopping": {"const": True}},
        },
        "AskAboutPrimed": {
            "type": "object", "required": ["session", "prompt", "title"],
            "properties": {"session": uuid_, "prompt": {"type": "string"},
                           "title": {"type": "string"}},
        },
        "Suggestions": {
            "type": "object", "required": ["questions"],
            "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
        },
        "OpenAPI": {"type": "object", "required": ["openapi", "info", "paths"]},
    }  # fmt: skip


def _list_of(key: str, item: str) -> dict:
    return {"type": "object", "required": [key], "properties": {
        key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}}}  # fmt: skip


TITLE = {"type": "string", "description": "Cut to 200 characters."}


def _request_schemas(*, max_message_chars: int) -> dict:
    image = {"type": "string", "pattern": "^data:image/(png|jpeg|webp);base64,",
             "description": "A data URL of a PNG, JPEG or WebP image."}  # fmt: skip
    return {
        "Page": {
            "type": "object",
            "description": "Where the visitor is: a hint for the answer, so a field that is not "
                           "what it should be is ignored rather than refused.",
            "properties": {"url": {"type": "string", "description": "Cut to 500 characters."},
                           "title": {"type": "string", "description": "Cut to 200 characters."},
                           "referrer": {"type": "string", "description": "Cut to 500 characters."},
                           "status": {"type": "integer", "minimum": 100, "maximum": 599,
                                      "description": "The page's status when it is an error."}},
        },
        "IncomingMessage": {
            "type": "object", "required": ["id", "text"],
            "properties": {
                "id": {"type": "string", "format": "uuid",
                       "description": "Made by the client; the same id twice is answered once."},
                "text": {"type": "string", "minLength": 1, "description": (
                    f"At most {max_message_chars} characters (longer: 413 `too_large`).")},
                "image": image, "universe": {"type": "string"},
                "context": {"type": "object", "description": "e.g. from \"Ask AI about this\"."},
            },
        },
        "StreamRequest": {
            "type": "object",
            "description": "`message` to ask, or `{\"session\": id, \"regenerate\": true}`.",
            "properties": {
                "session": _nullable({"type": "string", "format": "uuid"}),
                "message": {"$ref": "#/components/schemas/IncomingMessage"},
                "regenerate": {"type": "boolean"},
                "page": {"$ref": "#/components/schemas/Page"},
                "timezone": {"type": "string", "description": "An IANA name (a hint, like "
                             "`language`, a BCP 47 tag such as pt-BR: ignored when malformed)."},
                "language": {"type": "string"},
            },
        },
        "SessionCreate": {
            "type": "object",
            "properties": {"title": TITLE, "universe": {"type": "string"}},
        },
        "SessionPatch": {
            "type": "object",
            "properties": {"title": TITLE,
                           "pinned": {"type": "boolean"}, "model": {"type": "string"},
                           "options": {"type": "object"}},
        },
        "MessagePatch": {
            "type": "object", "required": ["pinned"],
            "properties": {"pinned": {"type": "boolean"}},
        },
        "AskAboutRequest": {
            "type": "object", "required": ["chart_type"],
            "properties": {"chart_type": {"type": "string", "minLength": 1},
                           "image": image, "context": {"type": "object"}},
        },
    }  # fmt: skip


def _event_schemas() -> dict:
    """The server events of PROTOCOL.md, as the SSE stream (and the WebSocket) carries them."""
    def event(type_: str, required: list[str], **properties) -> dict:
        return {"type": "object", "required": ["type", *required],
                "properties": {"type": {"const": type_}, **properties}}  # fmt: skip

    string, uuid_ = {"type": "string"}, {"type": "string", "format": "uuid"}
    events = {
        "ready": event("ready", ["session", "history", "universes"], session=string,
                       history={"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                       universes={"type": "array"}, usage={"type": "object"}),
        "ack": event("ack", ["id", "message"], id=string, message=uuid_, session=uuid_),
        "start": event("start", ["message", "reply_to"], message=uuid_, reply_to=string),
        "token": event("token", ["message", "seq", "text"], message=uuid_,
                       seq={"type": "integer", "minimum": 0}, text=string),
        "sources": event("sources", ["message", "items"], message=uuid_, items={"type": "array"}),
        "usage": event("usage", ["messages_used", "tokens_used"]),
        "escalation": event("escalation", ["message"], message=string, reason=string,
                            contact={"type": "object"}),
        "verdict": event("verdict", ["message"], message=uuid_),
        "done": event("done", ["message", "status"], message=uuid_, status={"enum": [
            "complete", "stopped", "failed", "interrupted"]}, usage={"type": "object"}),
        "error": event("error", ["code", "message"], code={"enum": sorted(STATUS_FOR_CODE)},
                       message=string, retry_after={"type": "number"}, reply_to=string),
        "pong": event("pong", []),
    }  # fmt: skip
    return {
        **{f"Event_{name}": schema for name, schema in events.items()},
        "ServerEvent": {
            "description": "One server event (PROTOCOL.md), by its `type`.",
            "oneOf": [{"$ref": f"#/components/schemas/Event_{name}"} for name in events],
            "discriminator": {"propertyName": "type", "mapping": {
                name: f"#/components/schemas/Event_{name}" for name in events}},
        },
    }  # fmt: skip
