"""OpenAIProvider with the real openai SDK against a local server speaking Chat Completions."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings

from chat.providers.base import (
    ErrorKind,
    GenerationOptions,
    ImageInput,
    PromptMessage,
    Timeouts,
    Usage,
    estimate_tokens,
)
from chat.providers.openai import PLACEHOLDER_KEY, OpenAIProvider
from tests.chat.providers.collect import QUESTION, collect
from tests.chat.providers.fake_servers import (
    Pause,
    Reply,
    openai_error,
    openai_frame,
    openai_stream,
)
from tests.services import free_port

TOKENS = ["Hel", "lo", ",", " wor", "ld", "!"]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


async def test_it_streams_tokens_one_by_one_in_order_with_reported_usage(
    openai_server, make_openai
):
    openai_server.enqueue(Reply(frames=openai_stream(TOKENS, usage=(21, 6), pause=0.1)))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert result.events == ["token"] * len(TOKENS) + ["usage", "done"]
    assert result.usage == Usage(input_tokens=21, output_tokens=6, estimated=False)
    # Streamed, not buffered: the first token was here before the server sent the last one.
    assert result.arrivals[0] < openai_server.sent_at(f'"content": "{TOKENS[-1]}"')
    assert len(openai_server.posts) == 1


async def test_it_sends_the_model_mapped_options_and_image_parts(openai_server, make_openai):
    openai_server.enqueue(Reply(frames=openai_stream(["ok"], usage=(5, 1))))
    messages = [
        PromptMessage(role="system", content="Be brief."),
        PromptMessage(
            role="user",
            content="What is in this chart?",
            images=(ImageInput(media_type="image/png", data_base64=PNG),),
        ),
    ]
    options = GenerationOptions(
        temperature=0.2,
        top_p=0.8,
        max_tokens=64,
        stop=("\n\n",),
        seed=7,
        extra={"top_k": 40, "repeat_penalty": 1.1},
    )

    await collect(make_openai(), model="gpt-test", messages=messages, options=options)

    request = openai_server.posts[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = request.body
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    sampling = {k: body[k] for k in ("temperature", "top_p", "max_tokens", "seed")}
    assert sampling == {"temperature": 0.2, "top_p": 0.8, "max_tokens": 64, "seed": 7}
    assert body["stop"] == ["\n\n"]
    assert (body["top_k"], body["repeat_penalty"]) == (40, 1.1)  # extra_body lands at top level
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this chart?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ],
    }


async def test_it_leaves_unset_options_out_of_the_request(openai_server, make_openai):
    openai_server.enqueue(Reply(frames=openai_stream(["ok"])))

    await collect(make_openai(), model="gpt-test")

    body = openai_server.posts[0].body
    for name in ("temperature", "top_p", "max_tokens", "stop", "seed", "top_k"):
        assert name not in body


async def test_a_local_server_gets_a_placeholder_key(openai_server, make_openai):
    openai_server.enqueue(Reply(frames=openai_stream(["ok"])))

    await collect(make_openai(api_key=""), model="gpt-test")

    assert openai_server.posts[0].headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"


async def test_it_reports_a_rejected_key_without_retrying(openai_server, make_openai):
    error = openai_error(
        "Incorrect API key provided", type="invalid_request_error", code="invalid_api_key"
    )
    openai_server.enqueue(Reply(status=401, body=error))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error.kind is ErrorKind.AUTHENTICATION
    assert result.error.retryable is False
    assert "rejected the API key" in result.error.message
    assert "OPENAI_API_KEY" in result.error.message
    assert len(openai_server.posts) == 1


async def test_it_reports_an_unknown_model_without_retrying(openai_server, make_openai):
    error = openai_error(
        "The model `gpt-nope` does not exist or you do not have access to it.",
        type="invalid_request_error",
        code="model_not_found",
    )
    openai_server.enqueue(Reply(status=404, body=error))

    result = await collect(make_openai(), model="gpt-nope")

    assert result.error.kind is ErrorKind.UNKNOWN_MODEL
    assert result.error.retryable is False
    assert "'gpt-nope'" in result.error.message and "CHAT_MODEL" in result.error.message
    assert len(openai_server.posts) == 1


async def test_a_404_not_about_the_model_points_at_the_base_url(openai_server, make_openai):
    openai_server.enqueue(Reply(status=404, body={"detail": "Not Found"}))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert "/v1" in result.error.message


async def test_it_reports_a_context_length_error(openai_server, make_openai):
    error = openai_error(
        "This model's maximum context length is 4096 tokens. However, your messages resulted "
        "in 5000 tokens.",
        type="invalid_request_error",
        code="context_length_exceeded",
    )
    openai_server.enqueue(Reply(status=400, body=error))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert result.error.retryable is False


async def test_it_reports_other_client_errors_as_bad_requests(openai_server, make_openai):
    error = openai_error("Invalid value for 'temperature'", type="invalid_request_error")
    openai_server.enqueue(Reply(status=400, body=error))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error.kind is ErrorKind.BAD_REQUEST
    assert "Invalid value for 'temperature'" in result.error.message
    assert len(openai_server.posts) == 1


async def test_it_honours_retry_after_on_429_then_gives_up(openai_server, make_openai):
    error = openai_error("Rate limit reached", type="requests", code="rate_limit_exceeded")
    openai_server.enqueue(
        Reply(status=429, body=error, headers={"retry-after": "1"}),
        Reply(status=429, body=error, headers={"retry-after": "1"}),
    )

    result = await collect(make_openai(max_retries=1), model="gpt-test")

    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retryable is True
    assert result.error.retry_after == 1.0
    assert len(openai_server.posts) == 2
    assert result.elapsed >= 1.0  # waited as told before asking again


async def test_it_retries_a_429_after_retry_after_ms_and_succeeds(openai_server, make_openai):
    error = openai_error("Rate limit reached", type="requests", code="rate_limit_exceeded")
    openai_server.enqueue(
        Reply(status=429, body=error, headers={"retry-after-ms": "150"}),
        Reply(frames=openai_stream(TOKENS, usage=(9, 6))),
    )

    result = await collect(make_openai(max_retries=1), model="gpt-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert len(openai_server.posts) == 2
    assert result.elapsed >= 0.15


async def test_it_does_not_sit_through_a_long_retry_after(openai_server, make_openai):
    error = openai_error("Rate limit reached", type="requests", code="rate_limit_exceeded")
    openai_server.enqueue(Reply(status=429, body=error, headers={"retry-after": "60"}))

    result = await collect(make_openai(max_retries=2), model="gpt-test")

    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retry_after == 60.0
    assert "60 s" in result.error.message
    assert len(openai_server.posts) == 1
    assert result.elapsed < 5


async def test_an_exhausted_quota_is_not_retried(openai_server, make_openai):
    error = openai_error(
        "You exceeded your current quota", type="insufficient_quota", code="insufficient_quota"
    )
    openai_server.enqueue(Reply(status=429, body=error))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retryable is False
    assert "billing" in result.error.message
    assert len(openai_server.posts) == 1


async def test_it_retries_a_500_before_the_first_token(openai_server, make_openai):
    openai_server.enqueue(
        Reply(status=500, body=openai_error("The server had an error", type="server_error")),
        Reply(status=503, body=openai_error("Overloaded", type="server_error")),
        Reply(frames=openai_stream(TOKENS, usage=(9, 6))),
    )

    result = await collect(make_openai(max_retries=2), model="gpt-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert len(openai_server.posts) == 3


async def test_it_gives_up_on_5xx_after_max_retries(openai_server, make_openai):
    openai_server.enqueue(*[Reply(status=502, body={"error": "bad gateway"}) for _ in range(3)])

    result = await collect(make_openai(max_retries=2), model="gpt-test")

    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.retryable is True
    assert result.error.partial is False
    assert len(openai_server.posts) == 3


async def test_an_error_after_tokens_is_not_retried_and_keeps_the_tokens(
    openai_server, make_openai
):
    frames = openai_stream(TOKENS[:2], done=False)
    frames.append(openai_frame(openai_error("The server had an error", type="server_error")))
    openai_server.enqueue(Reply(frames=frames), Reply(frames=openai_stream(TOKENS)))

    result = await collect(make_openai(max_retries=2), model="gpt-test")

    assert result.tokens == TOKENS[:2]
    assert result.error.partial is True
    assert result.error.retryable is True  # a server error: asking again later may work
    assert "The server had an error" in result.error.message
    assert len(openai_server.posts) == 1


async def test_an_error_event_after_tokens_ends_the_answer_with_the_servers_words(
    openai_server, make_openai
):
    # Some servers name the event (`event: error`); others keep-alive with comment lines.
    frames = [": keep-alive\n\n", *openai_stream(TOKENS[:2], done=False)]
    frames.append(
        "event: error\n"
        'data: {"error": {"message": "out of memory",\n'
        'data:  "type": "server_error"}}\n\n'
    )
    openai_server.enqueue(Reply(frames=frames))

    result = await collect(make_openai(max_retries=2), model="gpt-test")

    assert result.tokens == TOKENS[:2]
    assert result.error.partial is True
    assert "out of memory" in result.error.message
    assert len(openai_server.posts) == 1


async def test_a_line_that_is_not_json_is_a_clear_error_not_a_crash(openai_server, make_openai):
    frames = [*openai_stream(TOKENS[:1], done=False), "data: {not json\n\n"]
    openai_server.enqueue(Reply(frames=frames))

    result = await collect(make_openai(), model="gpt-test")

    assert result.tokens == TOKENS[:1]
    assert result.error.partial is True
    assert "not JSON" in result.error.message
    assert "OPENAI_BASE_URL" in result.error.message


async def test_chunks_of_the_wrong_shape_are_skipped_not_a_crash(openai_server, make_openai):
    frames = [
        openai_frame({"choices": [{"index": 0, "delta": "oops"}], "usage": 5}),
        openai_frame({"choices": "none"}),
        openai_frame([1, 2]),
        *openai_stream(TOKENS, usage=(9, 6)),
    ]
    openai_server.enqueue(Reply(frames=frames))

    result = await collect(make_openai(), model="gpt-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert result.usage == Usage(input_tokens=9, output_tokens=6, estimated=False)


async def test_a_plain_json_answer_is_an_error_that_names_the_setting(openai_server, make_openai):
    # A server that ignores `stream` (or is not a model server at all) answers 200 with JSON.
    openai_server.enqueue(Reply(status=200, body={"choices": [{"message": {"content": "hi"}}]}))

    result = await collect(make_openai(), model="gpt-test")

    assert result.tokens == []
    assert result.error.partial is False
    assert "not a stream of events" in result.error.message
    assert "OPENAI_BASE_URL" in result.error.message


async def test_a_connection_dropped_mid_answer_is_partial(openai_server, make_openai):
    openai_server.enqueue(Reply(frames=openai_stream(TOKENS[:3], done=False), drop=True))

    result = await collect(make_openai(max_retries=2), model="gpt-test")

    assert result.tokens == TOKENS[:3]
    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.partial is True
    assert len(openai_server.posts) == 1


async def test_a_stall_after_a_token_times_out_on_silence(openai_server, make_openai):
    frames = openai_stream(TOKENS[:1], done=False) + [Pause(5)]
    openai_server.enqueue(Reply(frames=frames))
    provider = make_openai(timeouts=Timeouts(connect=2, first_token=3, idle=0.3))

    result = await collect(provider, model="gpt-test")

    assert result.tokens == TOKENS[:1]
    assert result.error.kind is ErrorKind.TIMEOUT
    assert result.error.partial is True
    assert "0.3 s" in result.error.message
    assert len(openai_server.posts) == 1
    assert result.elapsed < 2


async def test_a_server_silent_before_the_first_token_times_out_and_is_retried(
    openai_server, make_openai
):
    openai_server.enqueue(
        Reply(frames=[Pause(5), *openai_stream(TOKENS)]),  # headers sent, then nothing
        Reply(delay=5),  # not even headers
        Reply(frames=openai_stream(TOKENS, usage=(9, 6))),
    )
    provider = make_openai(timeouts=Timeouts(connect=2, first_token=0.3, idle=3), max_retries=2)

    result = await collect(provider, model="gpt-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert len(openai_server.posts) == 3
    assert result.elapsed < 3


async def test_a_first_token_timeout_is_raised_when_retries_run_out(openai_server, make_openai):
    openai_server.enqueue(Reply(delay=5))
    provider = make_openai(timeouts=Timeouts(connect=2, first_token=0.3, idle=3), max_retries=0)

    result = await collect(provider, model="gpt-test")

    assert result.error.kind is ErrorKind.TIMEOUT
    assert result.error.retryable is True
    assert result.error.partial is False
    assert "first token" in result.error.message


async def test_it_estimates_usage_when_the_server_reports_none(openai_server, make_openai):
    openai_server.enqueue(Reply(frames=openai_stream(TOKENS, usage=None)))

    result = await collect(make_openai(), model="gpt-test")

    assert result.usage.estimated is True
    assert result.usage.output_tokens == estimate_tokens("Hello, world!") == 4
    assert result.usage.input_tokens == sum(estimate_tokens(m.content) for m in QUESTION)


async def test_it_retries_without_stream_options_once_a_server_refuses_them(
    openai_server, make_openai
):
    refusal = openai_error(
        "Unrecognized request argument supplied: stream_options", type="invalid_request_error"
    )
    openai_server.enqueue(
        Reply(status=400, body=refusal),
        Reply(frames=openai_stream(["one"])),
        Reply(frames=openai_stream(["two"])),
    )
    provider = make_openai(max_retries=0)

    first = await collect(provider, model="gpt-test")
    second = await collect(provider, model="gpt-test")

    assert (first.text, second.text) == ("one", "two")
    bodies = [r.body for r in openai_server.posts]
    assert "stream_options" in bodies[0]
    assert "stream_options" not in bodies[1]
    assert "stream_options" not in bodies[2]  # remembered for this server


async def test_an_unreachable_server_says_where_it_looked(make_openai):
    url = f"http://127.0.0.1:{free_port()}/v1"

    result = await collect(make_openai(base_url=url, max_retries=1), model="gpt-test")

    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.retryable is True
    assert result.error.message.startswith(f"Cannot reach the model at {url}")
    assert "make run" in result.error.message
    assert "\n" not in result.error.message


async def test_it_lists_models_and_reports_health(openai_server, make_openai):
    provider = make_openai()

    models = await provider.list_models()
    health = await provider.health()

    assert [m.id for m in models] == ["gpt-test", "gpt-other"]
    assert models[0].owned_by == "test"
    assert (health.reachable, health.models_available) == (True, 2)


async def test_health_of_an_unreachable_server_explains(make_openai):
    url = f"http://127.0.0.1:{free_port()}/v1"

    health = await make_openai(base_url=url).health()

    assert health.reachable is False
    assert url in health.detail


@override_settings(
    OPENAI_API_KEY="sk-from-settings",
    OPENAI_BASE_URL="http://127.0.0.1:9999/v1/",
    CHAT_TIMEOUTS={"connect": 1.5, "first_token": 10.0, "idle": 4.0},
    CHAT_MAX_RETRIES=3,
)
async def test_from_settings_reads_key_url_timeouts_and_leaves_retries_to_us():
    provider = OpenAIProvider.from_settings()
    try:
        assert provider.base_url == "http://127.0.0.1:9999/v1"
        assert provider.client.api_key == "sk-from-settings"
        assert provider.client.max_retries == 0
        assert provider.client.timeout.connect == 1.5
        assert provider.client.timeout.read >= 10.0
        assert provider.max_retries == 3
        assert provider.timeouts == Timeouts(connect=1.5, first_token=10.0, idle=4.0)
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("https://api.openai.com/v1", "OpenAI rejected"),
        ("http://127.0.0.1:1234/v1", "The model server at"),
    ],
)
async def test_error_messages_name_openai_or_the_local_server(url, label, make_openai):
    from chat.providers.http import status_error

    provider = make_openai(base_url=url)

    error = status_error(401, detail="bad key", vendor=provider.vendor, model="m")

    assert error.message.startswith(label)
