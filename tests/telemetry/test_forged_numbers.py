"""The whole assembled prompt, not only telemetry's part: a chart's forged numbers never reach
the model; its ids do."""

from __future__ import annotations

from asgiref.sync import async_to_sync

from chat.reply.preview import prompt_preview
from tests.telemetry.conftest import EVENT_KEY


def test_forged_chart_numbers_never_reach_the_prompt(bahrain, settings):
    settings.CHAT_PROVIDER, settings.CHAT_MODEL = "offline", "knowledge-base"
    context = {
        "chart_type": "lap_times",
        "race": EVENT_KEY,
        "drivers": ["VER", "PER"],
        "laps": [10],
        "numbers": {"VER best lap": "1:11.111"},
    }
    preview = async_to_sync(prompt_preview)(
        "Why was Verstappen faster?", universe="race", context=context
    )
    whole = "\n".join(m.content for m in preview.prompt.messages)
    assert "1:11.111" not in whole
    assert '"drivers": ["VER", "PER"]' in whole  # the ids are there, as the visitor's data
