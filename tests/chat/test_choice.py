"""The model choice: resolved once per reply from the configuration and the conversation."""

from __future__ import annotations

import pytest

from chat.config import env_config
from chat.exceptions import InvalidInput
from chat.providers import GenerationOptions
from chat.reply.choice import choice_resolve, options_from, options_validate


def test_options_put_provider_specific_keys_in_extra():
    options = options_from({"temperature": 0.3, "stop": ["\n"], "top_k": 40, "seed": None})

    assert options == GenerationOptions(temperature=0.3, stop=("\n",), extra={"top_k": 40})


def test_top_k_in_the_generation_settings_no_longer_breaks_a_reply(settings):
    settings.CHAT_GENERATION = {"temperature": 0.2, "top_k": 20, "repeat_penalty": 1.1}

    choice = choice_resolve(config=env_config())

    assert choice.options.extra == {"top_k": 20, "repeat_penalty": 1.1}
    assert choice.options.temperature == 0.2


def test_a_conversation_may_choose_only_what_the_operator_allows(settings):
    settings.CHAT_MODEL = "small-model"
    settings.CHAT_VISITOR_MODELS = ["big-model"]
    settings.CHAT_VISITOR_OPTIONS = ["temperature"]
    config = env_config()

    allowed = choice_resolve(config=config, session_model="big-model",
                             session_options={"temperature": 0.9, "max_tokens": 9000})
    refused = choice_resolve(config=config, session_model="secret-model")

    assert allowed.model == "big-model"
    assert allowed.options.temperature == 0.9
    assert allowed.options.max_tokens == settings.CHAT_GENERATION["max_tokens"]
    assert refused.model == "small-model"


def test_out_of_range_options_are_a_clear_error():
    with pytest.raises(InvalidInput, match="temperature must be between 0.0 and 2.0"):
        options_validate({"temperature": 7}, allowed=("temperature",))
    with pytest.raises(InvalidInput, match="cannot be changed"):
        options_validate({"top_p": 0.5}, allowed=("temperature",))


def test_vision_models_match_patterns(settings):
    settings.CHAT_VISION_MODELS = ["gpt-4o*", "*claude*"]
    config = env_config()

    assert config.sees_images("gpt-4o-mini")
    assert config.sees_images("claude-sonnet-4-5")
    assert not config.sees_images("smollm2-135m-instruct")


def test_the_fingerprint_changes_with_the_options(settings):
    first = choice_resolve(config=env_config())
    settings.CHAT_GENERATION = {**settings.CHAT_GENERATION, "temperature": 0.99}

    assert choice_resolve(config=env_config()).fingerprint() != first.fingerprint()


def test_the_environments_key_never_goes_to_another_server(settings):
    from chat.providers.openai import OpenAIProvider

    settings.OPENAI_API_KEY = "sk-env-secret"
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    mine = OpenAIProvider.from_settings()
    elsewhere = OpenAIProvider.from_settings(base_url="http://10.0.0.9:11434/v1")
    with_its_own = OpenAIProvider.from_settings(base_url="http://x/v1", api_key="sk-op")
    assert mine.client.api_key == "sk-env-secret"
    assert elsewhere.client.api_key != "sk-env-secret"
    assert with_its_own.client.api_key == "sk-op"


def test_local_server_options_are_not_sent_to_hosted_openai():
    from chat.providers.openai import _option_params

    options = GenerationOptions(temperature=0.2, extra={"top_k": 40, "model": "other"})
    assert _option_params(options) == {"temperature": 0.2, "top_k": 40}  # never the model
    assert _option_params(options, hosted=True) == {"temperature": 0.2}
