"""Synthetic volume on PostgreSQL, for the benchmark and the volume tests: N conversations of
M messages each, their analytics facts and gaps, written with COPY in a few seconds per 100,000
rows, then the rollups rebuilt from the facts. Every row is marked synthetic.

Columns that this module does not know (added later by another app) get their type's empty
value, so the generator keeps working as chat's tables grow.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection

from analytics.models import GapGroup
from analytics.pricing import reply_cost
from analytics.services.demo import GAPS, MODELS, PAGES, TOPICS, UNIVERSES, WHO
from analytics.services.events import conversation_is_resolved
from analytics.services.gaps import question_signature
from analytics.services.rebuild import rollups_rebuild

EMPTY_BY_TYPE = {
    "boolean": False, "integer": 0, "bigint": 0, "smallint": 0, "jsonb": "{}", "text": "",
    "character varying": "", "double precision": 0, "numeric": 0,
}  # fmt: skip


class VolumeError(RuntimeError):
    """The synthetic volume needs PostgreSQL (it loads rows with COPY)."""


def _columns(table: str) -> list[tuple[str, str, bool, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, is_nullable = 'YES', column_default IS NOT NULL "
            "FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return cursor.fetchall()


def copy_rows(table: str, rows) -> int:
    """COPY dicts into `table`; NOT NULL columns a row lacks get their type's empty value."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    # the primary key: given, or left to its sequence / identity
    columns = [c for c in _columns(table) if c[0] != "id" or "id" in first]
    names = [c[0] for c in columns]
    fill = {name: (None if nullable else EMPTY_BY_TYPE.get(kind, ""))
            for name, kind, nullable, _ in columns}  # fmt: skip
    count = 0
    with connection.cursor() as cursor:
        quoted = ", ".join(f'"{n}"' for n in names)
        with cursor.connection.cursor().copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in itertools.chain([first], rows):
                copy.write_row([row.get(name, fill[name]) for name in names])
                count += 1
    return count


def volume_generate(*, conversations: int, messages_per: int = 10, days: int = 90,
                    end: datetime | None = None, seed: int = 11,
                    batch: int = 5000) -> dict[str, int]:  # fmt: skip
    """Write the conversations, their messages and facts in batches; rebuild the rollups."""
    if connection.vendor != "postgresql":
        raise VolumeError("The synthetic volume is written with COPY: use PostgreSQL.")
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    end = end or datetime.now(UTC)
    user_ids = _users(count=min(2000, max(conversations // 20, 10)))
    groups = _gap_groups(end)
    counts: Counter[str] = Counter(users=len(user_ids))
    for first in range(0, conversations, batch):
        plan = [_plan(rng, end=end, days=days, turns=messages_per // 2, user_ids=user_ids)
                for _ in range(min(batch, conversations - first))]  # fmt: skip
        counts["sessions"] += copy_rows("chat_chatsession", (_session(p) for p in plan))
        counts["messages"] += copy_rows("chat_chatmessage",
                                        (m for p in plan for m in _messages(p)))  # fmt: skip
        counts["reply_facts"] += copy_rows("analytics_replyfact",
                                           (f for p in plan for f in p["facts"]))  # fmt: skip
        counts["conversation_facts"] += copy_rows("analytics_conversationfact",
                                                  (_conversation(p) for p in plan))  # fmt: skip
        counts["gap_questions"] += copy_rows("analytics_gapquestion",
                                             _gap_questions(plan, groups))  # fmt: skip
    _gap_groups_count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts.update(rollups_rebuild(synthetic=True))
    return dict(counts)


def _plan(rng, *, end: datetime, days: int, turns: int, user_ids: list[int]) -> dict:
    kind, role, _ = rng.choices(WHO, weights=[w[2] for w in WHO])[0]
    provider, model, _, ttft_median, speed = rng.choices(MODELS, weights=[m[2] for m in MODELS])[0]
    started = end - timedelta(days=rng.random() * days)
    plan = {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "kind": kind, "role": role,
        "user_id": rng.choice(user_ids) if kind != "anonymous" else None,
        "visitor_key": f"vol-{rng.getrandbits(64):016x}",
        "universe": rng.choices(UNIVERSES, weights=[u[1] for u in UNIVERSES])[0][0],
        "provider": provider, "model": model, "page": rng.choice(PAGES), "started": started,
        "rating": rng.choice([None, None, None, 1, 2, 3, 4, 5, 5]), "facts": [], "turns": [],
    }  # fmt: skip
    moment = started
    for turn in range(turns):
        moment += timedelta(seconds=rng.randint(10, 200))
        plan["turns"].append(_turn(rng, plan, moment, ttft_median, speed, turn))
    return plan


def _turn(rng, plan, moment, ttft_median, speed, turn) -> dict:
    gap = rng.random() < 0.08
    topic, questions, _ = rng.choice(TOPICS)
    question = rng.choice(rng.choice(GAPS)) if gap else rng.choice(questions)
    status = rng.choices(["complete", "stopped", "failed", "interrupted"], weights=[94, 2, 2, 2])[0]
    ttft = None if status == "failed" else max(20, int(rng.lognormvariate(0, 0.45) * ttft_median))
    tokens_in, tokens_out = rng.randint(400, 2000), rng.randint(40, 400)
    total = (ttft or 0) + int(1000 * tokens_out / speed)
    return {"question_id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "reply_id": uuid.UUID(int=rng.getrandbits(128), version=4), "at": moment,
            "question": question, "topic": "" if gap else topic, "gap": gap, "status": status,
            "ttft": ttft, "total": total, "in": tokens_in, "out": tokens_out,
            "verdict": "" if gap else rng.choices(["grounded", "partly", "ungrounded", ""],
                                                  weights=[75, 15, 4, 6])[0],
            "escalation": "unanswered" if gap and turn and rng.random() < 0.3 else ""}  # fmt: skip


def _users(*, count: int) -> list[int]:
    now = datetime.now(UTC)
    first_id = _next_id("auth_user")
    ids = list(range(first_id, first_id + count))
    copy_rows("auth_user", ({"id": i, "username": f"volume-user-{i}", "password": "!",
                             "email": "", "is_active": True, "date_joined": now} for i in ids))
    return ids


def _next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"')  # noqa: S608
        first = cursor.fetchone()[0]
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)",
                       [first + 100_000])  # fmt: skip
    return first


def _user_type(p) -> str:
    return f"{p['kind']}:{p['role']}" if p["role"] else p["kind"]


def _session(p) -> dict:
    last = p["turns"][-1]["at"]
    return {"id": p["id"], "user_id": p["user_id"],
            "visitor_key": p["visitor_key"] if p["user_id"] is None else "",
            "universe": p["universe"], "status": "active", "context": '{"synthetic": true}',
            "generation_options": "{}", "provider": p["provider"], "model": p["model"],
            "rating": p["rating"], "created_at": p["started"], "updated_at": last,
            "last_activity_at": last}  # fmt: skip


def _messages(p):
    for turn in p["turns"]:
        base = {"session_id": p["id"], "sources": "[]", "metadata": '{"synthetic": true}',
                "created_at": turn["at"]}  # fmt: skip
        yield {**base, "id": turn["question_id"], "role": "user", "text": turn["question"],
               "status": "complete"}  # fmt: skip
        cost_fact = _fact(p, turn)
        p["facts"].append(cost_fact)
        yield {**base, "id": turn["reply_id"], "role": "assistant", "reply_to_id":
               turn["question_id"], "status": turn["status"], "text": _answer(turn),
               "input_tokens": turn["in"], "output_tokens": turn["out"], "ttft_ms": turn["ttft"],
               "total_ms": turn["total"], "provider": p["provider"], "model": p["model"],
               "finished_at": turn["at"] + timedelta(milliseconds=turn["total"])}  # fmt: skip


def _answer(turn) -> str:
    if turn["gap"]:
        return "I could not find this in our help center. You can reach a person at support."
    return (f"Here is how {turn['topic'].lower()} works: open your account page, choose the "
            f"option, and follow the steps. [1]")  # fmt: skip


def _fact(p, turn) -> dict:
    finished = turn["at"] + timedelta(milliseconds=turn["total"])
    return {"reply_id": turn["reply_id"], "question_id": turn["question_id"],
            "session_id": p["id"], "finished_at": finished, "day": finished.date(),
            "user_id": p["user_id"], "visitor_key": p["visitor_key"], "user_type": _user_type(p),
            "universe": p["universe"], "page_url": p["page"], "topic": turn["topic"],
            "provider": p["provider"], "model": p["model"], "status": turn["status"],
            "input_tokens": turn["in"], "output_tokens": turn["out"],
            "cost": reply_cost(provider=p["provider"], model=p["model"], cached=False,
                               input_tokens=turn["in"], output_tokens=turn["out"]),
            "ttft_ms": turn["ttft"], "total_ms": turn["total"],
            "top_passage_score": None if turn["gap"] else 0.7, "verdict": turn["verdict"],
            "escalation_reason": turn["escalation"], "question": turn["question"],
            "is_gap": turn["gap"] or turn["verdict"] == "ungrounded",
            "synthetic": True}  # fmt: skip


class _Conversation:
    """Just what conversation_is_resolved reads."""

    def __init__(self, escalated, gaps, rating):
        self.escalated, self.gaps, self.rating = escalated, gaps, rating


def _conversation(p) -> dict:
    facts = p["facts"]
    ttfts = [f["ttft_ms"] for f in facts if f["ttft_ms"] is not None]
    reason = next((f["escalation_reason"] for f in facts if f["escalation_reason"]), "")
    gaps = sum(f["is_gap"] for f in facts)
    statuses = [f["status"] for f in facts]
    return {"session_id": p["id"], "started_at": facts[0]["finished_at"], "day": facts[0]["day"],
            "last_at": facts[-1]["finished_at"], "user_id": p["user_id"],
            "visitor_key": p["visitor_key"], "user_type": _user_type(p),
            "universe": p["universe"], "provider": p["provider"], "model": p["model"],
            "first_page": p["page"], "pages": f'["{p["page"]}"]', "messages": 2 * len(facts),
            "replies": len(facts), **{f"replies_{s}": statuses.count(s) for s in
                                      ("complete", "stopped", "failed", "interrupted")},
            "first_ttft_ms": ttfts[0] if ttfts else None, "ttft_sum_ms": sum(ttfts),
            "ttft_count": len(ttfts), "total_ms": sum(f["total_ms"] for f in facts),
            "input_tokens": sum(f["input_tokens"] for f in facts),
            "output_tokens": sum(f["output_tokens"] for f in facts),
            "cost": sum((f["cost"] for f in facts), Decimal(0)), "gaps": gaps,
            "escalated": bool(reason), "escalation_reason": reason, "rating": p["rating"],
            "resolved": conversation_is_resolved(_Conversation(bool(reason), gaps, p["rating"])),
            "synthetic": True}  # fmt: skip


def _gap_groups(end: datetime) -> dict[str, int]:
    """One group per paraphrase family of GAPS: {each paraphrase: its group's id}."""
    groups = {}
    for paraphrases in GAPS:
        group = GapGroup.objects.create(
            question=paraphrases[0], signature=question_signature(paraphrases[0]),
            first_asked_at=end, last_asked_at=end, synthetic=True,
        )  # fmt: skip
        groups.update(dict.fromkeys(paraphrases, group.pk))
    return groups


def _gap_questions(plan, groups: dict[str, int]):
    for p in plan:
        for fact in p["facts"]:
            if fact["is_gap"] and fact["question"] in groups:
                yield {"group_id": groups[fact["question"]], "reply_id": fact["reply_id"],
                       "session_id": fact["session_id"], "question": fact["question"],
                       "reason": "no_passage", "asked_at": fact["finished_at"],
                       "synthetic": True}  # fmt: skip


def _gap_groups_count() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE analytics_gapgroup g SET count = s.n, first_asked_at = s.first, "
            "last_asked_at = s.last FROM (SELECT group_id, COUNT(*) n, MIN(asked_at) first, "
            "MAX(asked_at) last FROM analytics_gapquestion GROUP BY group_id) s "
            "WHERE g.id = s.group_id"
        )
