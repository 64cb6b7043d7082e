"""What staff see of a prompt: `manage.py prompt_preview` and the admin's prompt inspector."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def ungrounded(settings):
    settings.CHAT_RETRIEVER = ""
    settings.CHAT_PROVIDER = "offline"
    settings.CHAT_MODEL = "knowledge-base"


def test_the_command_prints_every_part_with_its_source_and_tokens():
    out = io.StringIO()
    call_command(
        "prompt_preview",
        "Which tulips?",
        "--universe",
        "plantshop",
        "--page",
        "/plantshop/",
        "--context",
        json.dumps({"chart": "stock"}),
        stdout=out,
    )
    text = out.getvalue()
    assert "universe: plantshop (chosen" in text
    for source in (
        "persona",
        "asker",
        "plantshop.summary",
        "plantshop.stock",
        "page",
        "client.context",
        "question",
    ):
        assert f"--- {source} [" in text, source
    assert "Roses bloom in June." in text and '"chart": "stock"' in text


def test_the_command_refuses_bad_input_clearly():
    with pytest.raises(CommandError, match="Unknown universe 'moon'"):
        call_command("prompt_preview", "Hi", "--universe", "moon")
    with pytest.raises(CommandError, match="--context is not valid JSON"):
        call_command("prompt_preview", "Hi", "--context", "{nope")


def test_the_inspector_is_for_staff_with_the_permission(client, django_user_model, alice):
    url = "/admin/chat/prompt-inspector/"
    client.force_login(alice)  # not staff: the admin's login page
    assert client.get(url).status_code == 302
    staff = django_user_model.objects.create_user("sam", "s@example.com", "pw", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403  # staff without the permission
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    client.force_login(boss)
    response = client.get(
        url, {"question": "Which tulips?", "universe": "plantshop", "page_url": "/plantshop/"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="prompt-parts"' in html and "plantshop.stock" in html and "Roses bloom" in html
