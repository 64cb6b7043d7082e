"""AnthropicProvider with the real anthropic SDK against a local server speaking Messages."""

from __future__ import annotations

import base64

from django.test import override_settings

from chat.providers.anthropic import AnthropicProvider, split_messages
from chat.providers.base import (
    ErrorKind,
    GenerationOptions,
    ImageInput,
    PromptMessage,
    Timeouts,
    Usage,
    estimate_tokens,
)
from tests.chat.providers.collect import QUESTION, collect
from tests.chat.providers.fake_servers import (
    Pause,
    Reply,
    anthropic_error,
    anthropic_error_event,
    anthropic_stream,
)
from tests.services import free_port

TOKENS = ["Bon", "jour", ",", " le", " monde", "."]
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0fake-jpeg-bytes").decode()


def sent_key(headers: dict[str, str]) -> str:
    """The API key as sent: this SDK uses `authorization: Bearer`, older ones `x-api-key`."""
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


async def test_it_streams_tokens_one_by_one_in_order_with_reported_usage(
    anthropic_server, make_anthropic
):
    anthropic_server.enqueue(Reply(frames=anthropic_stream(TOKENS, usage=(25, 7), pause=0.1)))

    result = await collect(make_anthropic(), model="claude-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert result.events == ["token"] * len(TOKENS) + ["usage", "done"]
    assert result.usage == Usage(input_tokens=25, output_tokens=7, estimated=False)
    # Streamed, not buffered: the first token was here before the server sent the last one.
    assert result.arrivals[0] < anthropic_server.sent_at(f'"text": "{TOKENS[-1]}"')
    assert len(anthropic_server.posts) == 1


async def test_it_sends_the_system_prompt_apart_and_maps_options(anthropic_server, make_anthropic):
    anthropic_server.enqueue(Reply(frames=anthropic_stream(["ok"])))
    messages = [
        PromptMessage(role="system", content="You are the concierge."),
        PromptMessage(role="system", content="Today is Monday."),
        PromptMessage(role="user", content="Hello"),
        PromptMessage(role="assistant", content="Hi! How can I help?"),
        PromptMessage(
            role="user",
            content="What does this show?",
            images=(ImageInput(media_type="image/jpeg", data_base64=JPEG),),
        ),
    ]
    options = GenerationOptions(
        temperature=0.4, top_p=0.9, max_tokens=200, stop=("END",), seed=3, extra={"top_k": 20}
    )

    await collect(make_anthropic(), model="claude-test", messages=messages, options=options)

    request = anthropic_server.posts[0]
    assert request.path == "/v1/messages"
    assert sent_key(request.headers) == "sk-ant-test"
    assert "anthropic-version" in request.headers
    body = request.body
    assert body["model"] == "claude-test"
    assert body["stream"] is True
    assert body["system"] == "You are the concierge.\n\nToday is Monday."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG}},
        {"type": "text", "text": "What does this show?"},
    ]
    assert body["max_tokens"] == 200
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.4
    assert "top_p" not in body  # recent Claude models refuse temperature and top_p together
    assert body["top_k"] == 20
    assert "seed" not in body  # the Messages API has no seed


async def test_max_tokens_defaults_to_1024_and_top_p_goes_alone(anthropic_server, make_anthropic):
    anthropic_server.enqueue(Reply(frames=anthropic_stream(["ok"])))

    await collect(
        make_anthropic(),
        model="claude-test",
        options=GenerationOptions(top_p=0.7, extra={"repeat_penalty": 1.1}),
    )

    body = anthropic_server.posts[0].body
    assert body["max_tokens"] == 1024
    assert body["top_p"] == 0.7
    assert "temperature" not in body
    assert "repeat_penalty" not in body  # a local-server option Anthropic would refuse
    assert "system" in body and body["system"] == "You are a test."


def test_split_merges_neighbours_of_the_same_role_and_drops_a_leading_greeting():
    system, turns = split_messages(
        [
            PromptMessage(role="assistant", content="Welcome! Ask me anything."),
            PromptMessage(role="system", content="Rules."),
            PromptMessage(role="user", content="First"),
            PromptMessage(role="user", content="Second"),
            PromptMessage(role="assistant", content=""),
            PromptMessage(role="assistant", content="Answer"),
        ]
    )

    assert system == "Rules."
    assert turns == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "First"}, {"type": "text", "text": "Second"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Answer"}]},
    ]


async def test_it_reports_a_rejected_key_without_retrying(anthropic_server, make_anthropic):
    body = anthropic_error("authentication_error", "invalid x-api-key")
    anthropic_server.enqueue(Reply(status=401, body=body))

    result = await collect(make_anthropic(), model="claude-test")

    assert result.error.kind is ErrorKind.AUTHENTICATION
    assert result.error.retryable is False
    assert result.error.message.startswith("Anthropic rejected the API key")
    assert "ANTHROPIC_API_KEY" in result.error.message
    assert len(anthropic_server.posts) == 1


async def test_it_reports_an_unknown_model_without_retrying(anthropic_server, make_anthropic):
    anthropic_server.enqueue(
        Reply(status=404, body=anthropic_error("not_found_error", "model: claude-nope"))
    )

    result = await collect(make_anthropic(), model="claude-nope")

    assert result.error.kind is ErrorKind.UNKNOWN_MODEL
    assert result.error.retryable is False
    assert "'claude-nope'" in result.error.message
    assert len(anthropic_server.posts) == 1


async def test_it_reports_a_prompt_too_long(anthropic_server, make_anthropic):
    error = anthropic_error(
        "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
    )
    anthropic_server.enqueue(Reply(status=400, body=error))

    result = await collect(make_anthropic(), model="claude-test")

    assert result.error.kind is ErrorKind.CONTEXT_TOO_LONG
    assert result.error.retryable is False


async def test_it_honours_retry_after_on_429_then_gives_up(anthropic_server, make_anthropic):
    error = anthropic_error(
        "rate_limit_error", "Number of request tokens has exceeded your rate limit"
    )
    anthropic_server.enqueue(
        Reply(status=429, body=error, headers={"retry-after": "1"}),
        Reply(status=429, body=error, headers={"retry-after": "1"}),
    )

    result = await collect(make_anthropic(max_retries=1), model="claude-test")

    assert result.error.kind is ErrorKind.RATE_LIMITED
    assert result.error.retryable is True
    assert result.error.retry_after == 1.0
    assert len(anthropic_server.posts) == 2
    assert result.elapsed >= 1.0


async def test_it_retries_a_429_and_succeeds(anthropic_server, make_anthropic):
    error = anthropic_error("rate_limit_error", "rate limited")
    anthropic_server.enqueue(
        Reply(status=429, body=error, headers={"retry-after": "0"}),
        Reply(frames=anthropic_stream(TOKENS)),
    )

    result = await collect(make_anthropic(max_retries=1), model="claude-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert len(anthropic_server.posts) == 2


async def test_it_retries_a_500_and_an_overloaded_529_before_the_first_token(
    anthropic_server, make_anthropic
):
    anthropic_server.enqueue(
        Reply(status=500, body=anthropic_error("api_error", "Internal server error")),
        Reply(status=529, body=anthropic_error("overloaded_error", "Overloaded")),
        Reply(frames=anthropic_stream(TOKENS, usage=(12, 6))),
    )

    result = await collect(make_anthropic(max_retries=2), model="claude-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert result.usage == Usage(12, 6)
    assert len(anthropic_server.posts) == 3


async def test_an_overloaded_529_is_retryable_when_retries_run_out(
    anthropic_server, make_anthropic
):
    anthropic_server.enqueue(
        Reply(status=529, body=anthropic_error("overloaded_error", "Overloaded"))
    )

    result = await collect(make_anthropic(max_retries=0), model="claude-test")

    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.retryable is True
    assert "overloaded" in result.error.message


async def test_an_error_event_after_http_200_before_tokens_is_retried(
    anthropic_server, make_anthropic
):
    frames = anthropic_stream([], done=False) + [
        anthropic_error_event("overloaded_error", "Overloaded")
    ]
    anthropic_server.enqueue(Reply(frames=frames), Reply(frames=anthropic_stream(TOKENS)))

    result = await collect(make_anthropic(max_retries=1), model="claude-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert len(anthropic_server.posts) == 2


async def test_an_error_event_after_tokens_is_not_retried_and_keeps_the_tokens(
    anthropic_server, make_anthropic
):
    frames = anthropic_stream(TOKENS[:2], done=False) + [
        anthropic_error_event("overloaded_error", "Overloaded")
    ]
    anthropic_server.enqueue(Reply(frames=frames), Reply(frames=anthropic_stream(TOKENS)))

    result = await collect(make_anthropic(max_retries=2), model="claude-test")

    assert result.tokens == TOKENS[:2]
    assert result.error.partial is True
    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.retryable is True
    assert "Overloaded" in result.error.message
    assert len(anthropic_server.posts) == 1


async def test_an_invalid_request_error_event_is_not_retryable(anthropic_server, make_anthropic):
    frames = anthropic_stream(TOKENS[:1], done=False) + [
        anthropic_error_event("invalid_request_error", "Output blocked by content filtering policy")
    ]
    anthropic_server.enqueue(Reply(frames=frames))

    result = await collect(make_anthropic(), model="claude-test")

    assert result.error.partial is True
    assert result.error.retryable is False


async def test_a_connection_dropped_mid_answer_is_partial(anthropic_server, make_anthropic):
    anthropic_server.enqueue(Reply(frames=anthropic_stream(TOKENS[:3], done=False), drop=True))

    result = await collect(make_anthropic(max_retries=2), model="claude-test")

    assert result.tokens == TOKENS[:3]
    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.partial is True
    assert len(anthropic_server.posts) == 1


async def test_a_stall_after_a_token_times_out_on_silence(anthropic_server, make_anthropic):
    frames = anthropic_stream(TOKENS[:1], done=False) + [Pause(5)]
    anthropic_server.enqueue(Reply(frames=frames))
    provider = make_anthropic(timeouts=Timeouts(connect=2, first_token=3, idle=0.3))

    result = await collect(provider, model="claude-test")

    assert result.tokens == TOKENS[:1]
    assert result.error.kind is ErrorKind.TIMEOUT
    assert result.error.partial is True
    assert len(anthropic_server.posts) == 1
    assert result.elapsed < 2


async def test_a_server_silent_before_the_first_token_times_out_and_is_retried(
    anthropic_server, make_anthropic
):
    anthropic_server.enqueue(
        Reply(frames=[*anthropic_stream([], done=False), Pause(5)]),  # message_start, then nothing
        Reply(frames=anthropic_stream(TOKENS)),
    )
    provider = make_anthropic(timeouts=Timeouts(connect=2, first_token=0.3, idle=3), max_retries=1)

    result = await collect(provider, model="claude-test")

    assert result.error is None
    assert result.tokens == TOKENS
    assert len(anthropic_server.posts) == 2


async def test_a_first_token_timeout_is_raised_when_retries_run_out(
    anthropic_server, make_anthropic
):
    anthropic_server.enqueue(Reply(delay=5))
    provider = make_anthropic(timeouts=Timeouts(connect=2, first_token=0.3, idle=3), max_retries=0)

    result = await collect(provider, model="claude-test")

    assert result.error.kind is ErrorKind.TIMEOUT
    assert result.error.partial is False
    assert "first token" in result.error.message


async def test_it_estimates_usage_when_the_server_reports_none(anthropic_server, make_anthropic):
    anthropic_server.enqueue(Reply(frames=anthropic_stream(TOKENS, usage=None)))

    result = await collect(make_anthropic(), model="claude-test")

    assert result.tokens == TOKENS
    assert result.usage.estimated is True
    assert result.usage.output_tokens == estimate_tokens("".join(TOKENS))
    assert result.usage.input_tokens == sum(estimate_tokens(m.content) for m in QUESTION)


async def test_an_unreachable_server_says_where_it_looked(make_anthropic):
    url = f"http://127.0.0.1:{free_port()}"

    result = await collect(make_anthropic(base_url=url, max_retries=0), model="claude-test")

    assert result.error.kind is ErrorKind.UNAVAILABLE
    assert result.error.retryable is True
    assert url in result.error.message


async def test_it_lists_models_and_reports_health(anthropic_server, make_anthropic):
    provider = make_anthropic()

    models = await provider.list_models()
    health = await provider.health()

    assert [m.id for m in models] == ["claude-test", "claude-other"]
    assert (health.reachable, health.models_available) == (True, 2)
    assert sent_key(anthropic_server.requests[0].headers) == "sk-ant-test"


async def test_health_behind_a_wrong_base_url_is_unreachable_with_the_reason(
    anthropic_server, make_anthropic
):
    anthropic_server.models_path = "/somewhere-else"  # GET /v1/models now answers 404

    health = await make_anthropic().health()

    assert health.reachable is False
    assert "404" in health.detail
    assert "ANTHROPIC_BASE_URL" in health.detail


@override_settings(
    ANTHROPIC_API_KEY="sk-ant-settings",
    ANTHROPIC_BASE_URL="",
    CHAT_TIMEOUTS={"connect": 2.5, "first_token": 12.0, "idle": 6.0},
    CHAT_MAX_RETRIES=1,
)
async def test_from_settings_reads_key_timeouts_and_leaves_retries_to_us():
    provider = AnthropicProvider.from_settings()
    try:
        assert provider.client.api_key == "sk-ant-settings"
        assert str(provider.client.base_url).startswith("https://api.anthropic.com")
        assert provider.client.max_retries == 0
        assert provider.client.timeout.connect == 2.5
        assert provider.max_retries == 1
        assert provider.timeouts == Timeouts(connect=2.5, first_token=12.0, idle=6.0)
    finally:
        await provider.aclose()
