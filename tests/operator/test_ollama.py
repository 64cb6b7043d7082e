"""The model manager against a server speaking Ollama's real HTTP and NDJSON wire format."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from chat.operator.exceptions import ModelServerError
from chat.operator.ollama import OllamaClient, PullProgress
from tests.operator.fake_ollama import PullScript, pull_lines

pytestmark = pytest.mark.django_db

GB = 1_000_000_000


def url(name: str, *args) -> str:
    return reverse(f"admin:chat_assistantsettings_{name}", args=args)


def post_json(client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def stream_lines(response) -> list[dict]:
    """Read an async streaming response (as daphne would) into its NDJSON objects."""

    async def collect() -> list[bytes]:
        return [part async for part in response.streaming_content]

    body = b"".join(async_to_sync(collect)())
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@pytest.fixture
def stocked(ollama):
    ollama.add_model("llama3.2:latest", size=2_019_393_189, family="llama", parameter_size="3.2B")
    ollama.add_model("qwen2.5:0.5b", size=397_821_319, family="qwen2")
    return ollama


def test_it_lists_models_with_size_and_family_and_the_running_ones(operator_client, stocked):
    stocked.running["llama3.2:latest"] = "2030-01-01T00:00:00Z"
    data = operator_client.get(url("ollama")).json()
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["llama3.2:latest"]["size"] == 2_019_393_189
    assert by_name["llama3.2:latest"]["family"] == "llama"
    assert by_name["llama3.2:latest"]["parameter_size"] == "3.2B"
    assert by_name["qwen2.5:0.5b"]["quantization"] == "Q4_K_M"
    assert [m["name"] for m in data["running"]] == ["llama3.2:latest"]


def test_load_and_unload_use_keep_alive_on_generate(operator_client, stocked):
    assert post_json(
        operator_client, url("ollama_action", "load"), {"model": "qwen2.5:0.5b"}
    ).json()["ok"]
    assert "qwen2.5:0.5b" in stocked.running
    post_json(operator_client, url("ollama_action", "unload"), {"model": "qwen2.5:0.5b"})
    assert "qwen2.5:0.5b" not in stocked.running
    bodies = stocked.bodies("POST", "/api/generate")
    assert [b["keep_alive"] for b in bodies] == ["5m", 0]
    assert all(b["model"] == "qwen2.5:0.5b" and "prompt" not in b for b in bodies)


def test_delete_removes_the_model(operator_client, stocked):
    response = post_json(operator_client, url("ollama_action", "delete"), {"model": "qwen2.5:0.5b"})
    assert response.status_code == 200
    assert "qwen2.5:0.5b" not in stocked.models
    assert stocked.bodies("DELETE", "/api/delete") == [{"model": "qwen2.5:0.5b"}]


def test_ollama_errors_reach_the_operator_in_ollamas_words(operator_client, stocked):
    response = post_json(operator_client, url("ollama_action", "delete"), {"model": "mistral"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "model 'mistral' not found"
    response = post_json(operator_client, url("ollama_action", "load"), {"model": "mistral"})
    assert response.json()["error"]["message"] == 'model "mistral" not found, try pulling it first'


def test_details_come_from_show(operator_client, stocked):
    data = post_json(operator_client, url("show"), {"model": "qwen2.5:0.5b"}).json()
    assert data["details"]["family"] == "qwen2"
    assert data["context_length"] == 32768
    assert data["capabilities"] == ["completion"]
    assert "<|im_end|>" in data["parameters"]


def test_an_unreachable_ollama_says_where_it_looked(operator_client, settings):
    settings.OLLAMA_BASE_URL = "http://127.0.0.1:9"
    response = operator_client.get(url("ollama"))
    assert response.status_code == 502
    assert "not reachable at http://127.0.0.1:9" in response.json()["error"]["message"]


def test_a_pull_streams_progress_until_success(operator_client, ollama):
    lines = pull_lines("qwen2.5:0.5b", layers=[397_000_000, 1_000], steps=5)
    ollama.script_pull("qwen2.5:0.5b", PullScript(lines=lines, family="qwen2"))
    response = post_json(operator_client, url("pull"), {"model": "qwen2.5:0.5b"})
    assert response["Content-Type"] == "application/x-ndjson"
    events = stream_lines(response)
    assert events[0] == {"status": "pulling manifest", "completed": 0, "total": 0}
    progress = [e for e in events if e["total"]]
    assert [e["completed"] for e in progress] == sorted(e["completed"] for e in progress)
    assert progress[-1]["completed"] == progress[-1]["total"] == 397_001_000
    assert events[-1]["status"] == "success"
    assert "qwen2.5:0.5b" in ollama.models


def test_a_pull_that_fails_halfway_ends_with_ollamas_error(operator_client, ollama):
    lines = pull_lines("llama3.2", layers=[2 * GB], steps=10, fail_after=5)
    ollama.script_pull("llama3.2", PullScript(lines=lines))
    events = stream_lines(post_json(operator_client, url("pull"), {"model": "llama3.2"}))
    assert events[-1] == {"error": "max retries exceeded: unexpected EOF"}
    assert events[-2]["completed"] == GB and events[-2]["total"] == 2 * GB  # stopped halfway
    assert "llama3.2:latest" not in ollama.models


def test_a_pull_refused_before_it_starts_shows_the_reason(operator_client, ollama):
    events = stream_lines(post_json(operator_client, url("pull"), {"model": "no-such-model"}))
    assert events == [{"error": "pull model manifest: file does not exist"}]


def test_a_pull_whose_connection_drops_is_not_reported_as_success(operator_client, ollama):
    lines = pull_lines("phi3", layers=[GB], steps=4)[:4]
    ollama.script_pull("phi3", PullScript(lines=lines, drop=True))
    events = stream_lines(post_json(operator_client, url("pull"), {"model": "phi3"}))
    assert "error" in events[-1] and "before it reported success" in events[-1]["error"]


async def test_the_client_yields_each_line_as_it_arrives(ollama):
    """Progress is relayed live, not buffered until the pull ends."""
    import time

    lines = pull_lines("tiny", layers=[1000], steps=4)
    ollama.script_pull("tiny", PullScript(lines=lines, delay=0.3))
    received = []
    async for item in OllamaClient(base_url=ollama.url).pull(model="tiny"):
        received.append((time.monotonic(), item))
    assert [item for _, item in received] == lines
    sent = [when for when, _ in ollama.pull_sent]
    lags = [got - left for (got, _), left in zip(received, sent, strict=True)]
    assert max(lags) < 0.25, lags  # each line arrives before the next one is even sent


async def test_client_raises_ollamas_error_for_a_failed_pull(ollama):
    lines = pull_lines("x", layers=[100], steps=2, fail_after=1, error="disk full")
    ollama.script_pull("x", PullScript(lines=lines))
    with pytest.raises(ModelServerError, match="disk full"):
        async for _ in OllamaClient(base_url=ollama.url + "/v1").pull(model="x"):
            pass


def test_progress_sums_layers():
    progress = PullProgress()
    progress.see({"status": "pulling a", "digest": "a", "total": 100, "completed": 50})
    event = progress.see({"status": "pulling b", "digest": "b", "total": 300, "completed": 30})
    assert event == {"status": "pulling b", "completed": 80, "total": 400}


def test_a_viewer_may_look_but_not_pull_delete_or_load(client, viewer, stocked):
    client.force_login(viewer)
    assert client.get(url("ollama")).status_code == 200
    assert post_json(client, url("pull"), {"model": "x"}).status_code == 403
    for action in ("delete", "load", "unload"):
        assert (
            post_json(client, url("ollama_action", action), {"model": "qwen2.5:0.5b"}).status_code
            == 403
        )
    assert "qwen2.5:0.5b" in stocked.models


def test_choosing_a_model_makes_it_the_assistants_and_is_recorded(
    operator_client, ollama, django_capture_on_commit_callbacks
):
    from django.contrib.admin.models import LogEntry

    from chat.config import assistant_config

    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(
            operator_client, url("choose"), {"server": "ollama", "model": "qwen2.5:0.5b"}
        )
    assert response.json()["ok"]
    config = assistant_config()
    assert (config.provider, config.model) == ("openai", "qwen2.5:0.5b")
    assert config.base_url == f"{ollama.url}/v1"
    assert "Chose qwen2.5:0.5b on Ollama" in LogEntry.objects.get().get_change_message()
