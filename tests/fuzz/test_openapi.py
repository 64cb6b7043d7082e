"""The OpenAPI description (`GET /api/schema/`) against the implementation.

It is valid OpenAPI 3.1; it describes exactly the routed API paths and the methods each one
allows; the SSE stream's events match its `ServerEvent`. tests/fuzz/test_api_fuzz.py fuzzes it.
"""

from __future__ import annotations

import json
import re
import uuid

import jsonschema
import pytest
from django.test import AsyncClient, Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import OpenAPIV31SpecValidator

from chat.openapi import openapi_document

# Async views reach the database through sync_to_async: transactional (see test_rest.py).
pytestmark = pytest.mark.django_db(transaction=True)

METHODS = ("get", "post", "put", "patch", "delete")
# Outside /api/ but in PROTOCOL.md's REST table.
OTHER_DESCRIBED = {"/metrics"}


def routed_paths() -> set[str]:
    """Every routed path, in OpenAPI's spelling (`{session_id}`)."""
    found: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns, "")
    return found


def test_the_schema_is_served_and_valid_openapi_3_1(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    document = response.json()
    assert document == json.loads(json.dumps(openapi_document()))  # what the fuzzer is given
    assert document["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(document).validate()  # raises with the first error


def test_every_routed_api_path_is_described_and_every_described_path_is_routed():
    described, routed = set(openapi_document()["paths"]), routed_paths()
    assert OTHER_DESCRIBED <= routed
    assert {p for p in routed if p.startswith("/api/")} | OTHER_DESCRIBED == described


def _concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize("path", sorted(openapi_document()["paths"]))
def test_each_path_allows_exactly_the_described_methods(path):
    """A described method is not a 405; any other method is the API's JSON 405."""
    client = Client()
    described = {m for m in openapi_document()["paths"][path] if m in METHODS}
    url = _concrete(path)
    for method in METHODS:
        response = getattr(client, method)(url, content_type="application/json")
        if method in described:
            assert response.status_code != 405, (method, path)
        else:
            assert response.status_code == 405, (method, path, response.status_code)
            if path.startswith("/api/"):
                assert response.json()["error"]["code"] == "invalid"


def _text(chunk) -> str:
    return chunk.decode() if isinstance(chunk, bytes) else chunk


def _event_validator() -> jsonschema.Draft202012Validator:
    """The schema's `ServerEvent` as a standalone JSON Schema (OpenAPI 3.1 is JSON Schema)."""
    schemas = json.loads(
        json.dumps(openapi_document()["components"]["schemas"]).replace(
            "#/components/schemas/", "#/$defs/"
        )
    )
    return jsonschema.Draft202012Validator({"$defs": schemas, "$ref": "#/$defs/ServerEvent"})


async def test_the_sse_events_are_the_described_server_events(fake_provider, limits_off):
    fake_provider.enqueue(["Hello", " there", ("usage", 3, 2)])
    body = {"session": None, "message": {"id": str(uuid.uuid4()), "text": "Hi"},
            "page": {"url": "/", "title": "Home"}}  # fmt: skip
    response = await AsyncClient().post("/api/chat/stream/", body, content_type="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    stream = "".join([_text(chunk) async for chunk in response.streaming_content])
    events = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events][:2] == ["ready", "ack"] and events[-1]["type"] == "done"
    validator = _event_validator()
    for event in events:
        validator.validate(event)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"type": "token", "message": "x"})  # no seq, no text: not an event
