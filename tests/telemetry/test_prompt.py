"""The race facts in the prompt a real reply gets (chat's prompt_preview: the same routing,
context gathering and builder as a reply): present, within the universe's budget, and free of
the numbers a chart's context claims."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command

from telemetry.context import TOKEN_BUDGET
from telemetry.services import race_import
from tests.telemetry.conftest import BAHRAIN, EVENT_KEY

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def ungrounded(settings):
    # What the prompt holds, not how fast the race's loader is: its first, cold run took 0.05-
    # 0.15 s here and once over the 0.5 s deadline on a busy CI machine (then it is skipped).
    settings.CHAT_CONTEXT_DEADLINE = 10
    settings.CHAT_RETRIEVER = ""
    settings.CHAT_PROVIDER = "offline"
    settings.CHAT_MODEL = "knowledge-base"


def preview(question: str, context: dict | None = None) -> dict[str, tuple[int, str]]:
    """The prompt's parts: source -> (tokens, text)."""
    out = io.StringIO()
    args = ["prompt_preview", question, "--universe", "race"]
    if context:
        args += ["--context", json.dumps(context)]
    call_command(*args, stdout=out)
    parts = {}
    for match in re.finditer(r"^--- (\S+) \[\w+\] (\d+) tokens: [^\n]*\n(.*?)(?=^--- |\Z)",
                             out.getvalue(), re.S | re.M):  # fmt: skip
        parts[match.group(1)] = (int(match.group(2)), match.group(3))
    return parts


def test_a_race_question_gets_the_summary_and_its_facts_within_the_budget():
    race_import(path=BAHRAIN)
    parts = preview("Why was Verstappen faster than Pérez in sector 2?")
    summary, facts = parts["telemetry.summary"], parts["telemetry.facts"]
    assert "Podium: P1 VER Max Verstappen" in summary[1]
    assert "best S2 41.747 vs 41.786: VER quicker by 0.039s." in facts[1]
    assert summary[0] + facts[0] <= TOKEN_BUDGET


def test_the_charts_numbers_stay_out_of_the_race_facts():
    race_import(path=BAHRAIN)
    forged = {"chart_type": "delta", "race": EVENT_KEY, "drivers": ["VER", "PER"],
              "numbers": {"VER best lap": "1:11.111"}}  # fmt: skip
    parts = preview("Explain this chart", forged)
    trusted = parts["telemetry.summary"][1] + parts["telemetry.facts"][1]
    assert "1:36.236" in trusted and "1:11.111" not in trusted
