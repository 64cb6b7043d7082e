"""Security properties of every page and of private uploads."""

from __future__ import annotations

import base64
import io
import json
import uuid

import pytest
from django.test import Client
from PIL import Image

from chat import services
from chat.identity import VISITOR_SESSION_KEY
from chat.validation import image_file, parse_image

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize("path", ["/", "/about/", "/help/", "/no-such-page/", "/api/health/"])
def test_every_response_forbids_inline_script(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def browser_of(visitor_key: str) -> Client:
    client = Client()
    session = client.session
    session[VISITOR_SESSION_KEY] = visitor_key
    session.save()
    return client


def test_a_message_image_is_served_to_its_owner_only(visitor_owner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    session = services.session_create(owner=visitor_owner)
    image = image_file(parse_image(png_data_url()))
    exchange = services.exchange_begin(
        session=session, client_id=str(uuid.uuid4()), text="Look", image=image
    )
    owner_view = browser_of(visitor_owner.visitor_key)
    history = owner_view.get(f"/api/chat/sessions/{session.id}/messages/").json()["messages"]
    url = history[0]["image_url"]
    assert url == f"/api/chat/messages/{exchange.question.id}/image"
    response = owner_view.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert browser_of("someone-else").get(url).status_code == 404


def test_an_image_whose_bytes_are_not_its_type_is_refused():
    from chat.exceptions import UnsupportedImage

    fake_png = "data:image/png;base64," + base64.b64encode(b"GIF89a not really").decode()
    with pytest.raises(UnsupportedImage):
        parse_image(fake_png)
    jpeg_as_png = png_data_url().replace("image/png", "image/jpeg")
    with pytest.raises(UnsupportedImage, match="not image/jpeg"):
        parse_image(jpeg_as_png)


def test_the_api_answers_unknown_paths_with_json(client):
    response = client.get("/api/nope/")
    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"


def test_a_wrong_method_on_the_api_is_a_json_405(client):
    response = client.put("/api/chat/sessions/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "invalid"
    assert "GET" in response["Allow"] and "PUT" in response.json()["error"]["message"]
