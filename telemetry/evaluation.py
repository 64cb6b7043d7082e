"""Facts recall: does the assistant's race context hold every fact a question's answer needs?

For each question `{id, question, facts: [...], context?}` the universe's summary and the
`telemetry.facts` part are built exactly as a reply would get them (the chart's `context`
included); a question is a hit when every fact string is in them (case and spacing ignored)
and they fit in the universe's token budget. Used by tests/telemetry/test_facts.py and
bench/telemetry_facts.py.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from chat.providers.base import estimate_tokens
from chat.reply.universes import ContextRequest
from chat.signals import Asker
from telemetry.context import TOKEN_BUDGET, race_facts, race_summary

ASKER = Asker(user_id=None, visitor_key="facts-recall", kind="anonymous")


@dataclass
class RecallReport:
    total: int = 0
    hits: int = 0
    over_budget: int = 0
    max_tokens: int = 0
    ms: list[float] = field(default_factory=list)
    misses: list[dict] = field(default_factory=list)  # {id, question, missing, tokens}

    def as_dict(self) -> dict:
        ms = sorted(self.ms)
        return {
            "questions": self.total,
            "hits": self.hits,
            "recall": round(self.hits / self.total, 3) if self.total else 0.0,
            "over_budget": self.over_budget,
            "max_tokens": self.max_tokens,
            "budget": TOKEN_BUDGET,
            "p50_ms": round(ms[len(ms) // 2], 1) if ms else None,
            "max_ms": round(ms[-1], 1) if ms else None,
            "misses": [m["id"] for m in self.misses],
        }


def questions_load(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def context_text(question: str, context: dict | None = None) -> tuple[str, int, float]:
    """The race context a reply would get: text, tokens and the facts source's milliseconds."""
    request = ContextRequest(question=question, universe="race", asker=ASKER, context=context or {})
    started = time.perf_counter()
    facts = race_facts(request)
    ms = (time.perf_counter() - started) * 1000
    summary = race_summary(request)
    text = f"{summary.text}\n{facts.text}"
    return text, estimate_tokens(summary.text) + estimate_tokens(facts.text), ms


def facts_recall(rows: list[dict]) -> RecallReport:
    report = RecallReport()
    for row in rows:
        text, tokens, ms = context_text(row["question"], row.get("context"))
        seen = _normal(text)
        missing = [f for f in row["facts"] if _normal(f) not in seen]
        within = tokens <= TOKEN_BUDGET
        report.total += 1
        report.ms.append(ms)
        report.max_tokens = max(report.max_tokens, tokens)
        report.over_budget += not within
        if missing or not within:
            report.misses.append(
                {"id": row["id"], "question": row["question"], "missing": missing, "tokens": tokens}
            )
        else:
            report.hits += 1
    return report


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).casefold()
