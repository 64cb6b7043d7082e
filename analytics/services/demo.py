"""Synthetic demo conversations, so that a fresh `make run` shows a dashboard with something on it.

Every row written here is marked: analytics rows carry `synthetic=True`, chat conversations
`context["synthetic"]`, their messages `metadata["synthetic"]`, demo users a `demo-analytics-`
user name. `demo_remove()` deletes exactly those and nothing else. The conversations go through
the same recording service as real replies, so the rollups are the real ones.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import structlog
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from analytics.models import (
    ConversationFact,
    DailyCount,
    DailyRollup,
    GapGroup,
    GapQuestion,
    OwnerDay,
    ReplyFact,
)
from analytics.services.recording import rating_record, reply_record
from chat.models import ChatMessage, ChatSession
from chat.signals import Asker, FinishedReply

log = structlog.get_logger(__name__)
USER_PREFIX = "demo-analytics-"

# (topic = the help entry a grounded answer cites, questions, the page people ask it from)
TOPICS = [
    ("Resetting your password", ["How do I reset my password?", "I forgot my password",
     "The password reset email never arrived"], "/account/"),
    ("Plans and pricing", ["How much does the Pro plan cost?", "Is there a free trial?",
     "What is the difference between Basic and Pro?"], "/pricing/"),
    ("Cancelling a subscription", ["How do I cancel my subscription?",
     "Can I get a refund if I cancel?"], "/account/"),
    ("Tracking an order", ["Where is my order?", "How can I track my parcel?"], "/orders/"),
    ("Contacting support", ["How can I talk to a person?", "What are your support hours?"],
     "/help/"),
    ("Exporting your data", ["Can I export my data as CSV?", "How do I download my invoices?"],
     "/account/"),
    ("Booking an appointment", ["How do I book a session?", "Can I reschedule my booking?"],
     "/services/"),
]  # fmt: skip
# Questions the help center has no answer for, in paraphrases (knowledge gaps).
GAPS = [
    ["Do you ship to Iceland?", "Can you deliver to Iceland?", "Is shipping to Iceland possible?"],
    ["Do you accept PayPal?", "Can I pay with PayPal?"],
    ["Is there a student discount?", "Do you offer discounts for students?"],
    ["Can I use the app offline?"],
]
PAGES = ["/", "/pricing/", "/help/", "/account/", "/about/", "/services/", "/orders/"]
# provider, model, share, median time to first token (ms), tokens per second
MODELS = [
    ("openai", "gpt-4o-mini", 0.45, 650, 60),
    ("anthropic", "claude-sonnet-4-5", 0.15, 950, 45),
    ("openai", "smollm2-135m-instruct", 0.35, 1300, 55),
    ("offline", "knowledge-base", 0.05, 40, 400),
]
WHO = [("anonymous", "", 0.6), ("user", "client", 0.25), ("user", "provider", 0.08),
       ("staff", "", 0.07)]  # fmt: skip
UNIVERSES = [("general", 0.7), ("services", 0.15), ("account", 0.15)]
COMMENTS = {1: ["Useless, it did not understand me.", "Wrong answer."], 2: ["Not really helpful."],
            4: ["Good enough."], 5: ["Perfect, thanks!", "Quick and clear."]}  # fmt: skip


def _pick(rng: random.Random, options, weight_index: int):
    return rng.choices(options, weights=[o[weight_index] for o in options])[0]


@dataclass
class _Visitor:
    asker: Asker
    user: object | None


def demo_exists() -> bool:
    return ReplyFact.objects.filter(synthetic=True).exists()


@transaction.atomic
def demo_seed(*, days: int = 28, per_day: int = 14, seed: int = 2026,
              today: date | None = None) -> int:  # fmt: skip
    """Write `days` days of synthetic conversations ending today; returns how many."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    today = today or timezone.localdate()
    people = _people(rng)
    count = 0
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        weekday_factor = 0.6 if day.weekday() >= 5 else 1.0
        growth = 0.7 + 0.6 * (days - offset) / days
        for _ in range(max(1, round(rng.gauss(per_day * weekday_factor * growth, 3)))):
            _conversation(rng, day=day, visitor=rng.choice(people))
            count += 1
    log.info("analytics_demo_seeded", conversations=count, days=days)
    return count


def _people(rng: random.Random) -> list[_Visitor]:
    users = get_user_model().objects
    people = []
    for index in range(40):
        kind, role, _ = _pick(rng, WHO, 2)
        user = None
        if kind != "anonymous":
            user, _ = users.get_or_create(
                username=f"{USER_PREFIX}{kind}-{role or 'none'}-{index}",
                defaults={"is_staff": False, "email": ""},
            )
            user.set_unusable_password()
            user.save(update_fields=["password"])
        key = f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}"
        people.append(_Visitor(Asker(user.pk if user else None, key, kind, role), user))
    return people


def _moment(rng: random.Random, day: date) -> datetime:
    hour = min(max(rng.gauss(14, 3.5), 0), 23.9)
    return timezone.make_aware(datetime.combine(day, time.min)) + timedelta(hours=hour)


@transaction.atomic
def _conversation(rng: random.Random, *, day: date, visitor: _Visitor) -> None:
    provider, model, _, ttft_median, speed = _pick(rng, MODELS, 2)
    universe = _pick(rng, UNIVERSES, 1)[0]
    page = rng.choice(PAGES)
    moment = _moment(rng, day)
    session = ChatSession.objects.create(
        user=visitor.user, visitor_key=visitor.asker.visitor_key, universe=universe,
        provider=provider, model=model, context={"synthetic": True},
    )  # fmt: skip
    turns = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
    replies = []
    for turn in range(turns):
        moment += timedelta(seconds=rng.randint(20, 240)) if turn else timedelta(0)
        replies.append(_turn(rng, session=session, at=moment, page=page, universe=universe,
                             model=(provider, model, ttft_median, speed),
                             asker=visitor.asker, last=turn == turns - 1))  # fmt: skip
    ChatSession.objects.filter(pk=session.pk).update(created_at=replies[0].finished_at,
                                                     last_activity_at=moment)  # fmt: skip
    for reply in replies:
        reply_record(reply=reply, synthetic=True)
    if rng.random() < 0.35:
        escalated_or_gap = any(r.escalation_reason or r.top_passage_score is None for r in replies)
        score = rng.choices([1, 2, 3, 4, 5], weights=[3, 3, 2, 1, 1] if escalated_or_gap
                            else [1, 1, 2, 6, 10])[0]  # fmt: skip
        comment = rng.choice(COMMENTS.get(score, [""])) if rng.random() < 0.5 else ""
        ChatSession.objects.filter(pk=session.pk).update(rating=score, rating_comment=comment)
        rating_record(session_id=session.pk, score=score, comment=comment)


def _turn(rng, *, session, at, page, universe, model, asker, last) -> FinishedReply:
    provider, model_name, ttft_median, speed = model
    gap = rng.random() < 0.12
    if gap:
        question, topic, sources = rng.choice(rng.choice(GAPS)), "", []
    else:
        topic, questions, page = rng.choice(TOPICS)
        question = rng.choice(questions)
        sources = [{"id": [t[0] for t in TOPICS].index(topic) + 1, "title": topic, "url": "/help/"}]
    status = rng.choices(["complete", "stopped", "failed", "interrupted"],
                         weights=[92, 3, 3, 2])[0]  # fmt: skip
    ttft = max(20, round(rng.lognormvariate(math.log(ttft_median), 0.45)))
    if status == "failed":
        ttft = None
    output_tokens = 0 if status == "failed" else rng.randint(60, 380)
    input_tokens = 0 if status == "failed" else rng.randint(500, 1900)
    total = (ttft or 0) + round(1000 * output_tokens / speed)
    verdict = "" if gap else rng.choices(["grounded", "partly", "ungrounded", ""],
                                         weights=[72, 15, 5, 8])[0]  # fmt: skip
    reason = ""
    if last and (gap and rng.random() < 0.5):
        reason = "unanswered"
    elif last and rng.random() < 0.04:
        reason = rng.choice(["asked", "frustrated", "repeated"])
    question_row, reply_row = _messages(session=session, question=question, at=at,
                                        total_ms=total, status=status)  # fmt: skip
    return FinishedReply(
        reply_id=str(reply_row.pk), question_id=str(question_row.pk),
        session_id=str(session.pk), asker=asker, question=question, status=status,
        provider=provider, model=model_name, universe=universe,
        page_url=f"https://demo.example.com{page}", input_tokens=input_tokens,
        output_tokens=output_tokens, usage_estimated=False, ttft_ms=ttft, total_ms=total,
        cached=provider != "offline" and rng.random() < 0.08,
        fallback=provider == "offline",
        error_code="provider_unavailable" if status == "failed" else "",
        sources=sources, top_passage_score=None if gap else round(rng.uniform(0.4, 0.9), 3),
        intent="" if gap else universe, verdict=verdict, escalation_reason=reason,
        finished_at=at + timedelta(milliseconds=total),
    )  # fmt: skip


def _messages(*, session, question: str, at: datetime, total_ms: int, status: str):
    question_row = ChatMessage.objects.create(session=session, role="user", text=question,
                                              metadata={"synthetic": True})  # fmt: skip
    reply_row = ChatMessage.objects.create(
        session=session, role="assistant", reply_to=question_row, status=status,
        text="(synthetic demo reply)", metadata={"synthetic": True},
    )  # fmt: skip
    ChatMessage.objects.filter(pk=question_row.pk).update(created_at=at)
    ChatMessage.objects.filter(pk=reply_row.pk).update(
        created_at=at, finished_at=at + timedelta(milliseconds=total_ms)
    )
    return question_row, reply_row


def demo_remove() -> dict[str, int]:
    """Delete every synthetic row (analytics, chat, demo users) and nothing else."""
    removed = {}
    with transaction.atomic():
        for model in (GapQuestion, GapGroup, ReplyFact, ConversationFact, DailyRollup,
                      DailyCount, OwnerDay):  # fmt: skip
            removed[model.__name__] = model.objects.filter(synthetic=True).delete()[0]
        removed["ChatSession"] = ChatSession.objects.filter(context__synthetic=True).delete()[0]
        removed["User"] = (
            get_user_model().objects.filter(username__startswith=USER_PREFIX).delete()[0]
        )
    return removed
