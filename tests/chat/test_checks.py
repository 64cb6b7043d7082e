"""System checks: a configuration that cannot work is named at startup, with the fix."""

from __future__ import annotations

import io

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from chat.checks import check_chat_provider

GOOD = {
    "CHAT_PROVIDER": "openai",
    "OPENAI_BASE_URL": "http://127.0.0.1:8080/v1",
    "OPENAI_API_KEY": "",
    "ANTHROPIC_API_KEY": "",
    "CHAT_MODEL": "smollm2-135m-instruct",
    "CHAT_TIMEOUTS": {"connect": 5.0, "first_token": 30.0, "idle": 20.0},
}


@pytest.fixture
def configure(settings):
    def apply(**overrides):
        for name, value in {**GOOD, **overrides}.items():
            setattr(settings, name, value)

    return apply


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_a_local_openai_compatible_server_without_a_key_passes(configure):
    configure()

    assert [i for i in ids(check_chat_provider(None)) if i.startswith("chat.E")] == []


def test_an_unknown_provider_is_e001_and_lists_the_known_ones(configure):
    configure(CHAT_PROVIDER="gemini")

    errors = check_chat_provider(None)

    assert ids(errors) == ["chat.E001"]
    assert "'gemini'" in errors[0].msg
    assert "anthropic" in errors[0].hint and "openai" in errors[0].hint


def test_anthropic_without_a_key_is_e002(configure):
    configure(CHAT_PROVIDER="anthropic", CHAT_MODEL="claude-sonnet-4-5")

    errors = check_chat_provider(None)

    assert "chat.E002" in ids(errors)
    assert "ANTHROPIC_API_KEY" in errors[0].msg


def test_anthropic_with_a_key_passes(configure):
    configure(CHAT_PROVIDER="anthropic", CHAT_MODEL="claude-sonnet-4-5", ANTHROPIC_API_KEY="sk-ant")

    assert "chat.E002" not in ids(check_chat_provider(None))


@pytest.mark.parametrize("url", ["127.0.0.1:1234/v1", "ftp://models.example.com/v1", "http://", ""])
def test_a_base_url_that_is_not_http_is_e003(configure, url):
    configure(OPENAI_BASE_URL=url)

    errors = check_chat_provider(None)

    assert ids(errors) == ["chat.E003"]
    assert "LM Studio" in errors[0].hint


def test_openai_itself_without_a_key_is_e004(configure):
    configure(OPENAI_BASE_URL="https://api.openai.com/v1", CHAT_MODEL="gpt-4o-mini")

    assert ids(check_chat_provider(None)) == ["chat.E004"]


def test_an_empty_model_is_e005(configure):
    configure(CHAT_MODEL="")

    assert "chat.E005" in ids(check_chat_provider(None))


def test_a_non_positive_timeout_is_e006(configure):
    configure(CHAT_TIMEOUTS={"connect": 5.0, "first_token": 0, "idle": 20.0})

    assert "chat.E006" in ids(check_chat_provider(None))


def test_the_checks_are_registered_and_stop_manage_py_check(configure):
    configure(CHAT_PROVIDER="anthropic", CHAT_MODEL="claude-sonnet-4-5")

    assert "chat.E002" in ids(run_checks())
    with pytest.raises(SystemCheckError, match="chat.E002"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


def test_visitor_options_outside_the_sampling_ones_are_refused(settings):
    from chat.checks import check_visitor_options

    settings.CHAT_VISITOR_OPTIONS = ["temperature", "top_k"]
    assert check_visitor_options(None) == []

    settings.CHAT_VISITOR_OPTIONS = ["temperature", "n", "logit_bias"]
    errors = check_visitor_options(None)

    assert ids(errors) == ["chat.E007"]
    assert "n, logit_bias" in errors[0].msg and "top_p" in errors[0].hint


def test_a_database_other_than_sqlite_or_postgresql_is_e008(settings, monkeypatch):
    from chat.checks import check_database

    assert check_database(None) == []  # the database the tests run on
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.mysql")
    assert ids(check_database(None)) == ["chat.E008"]
