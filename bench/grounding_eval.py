"""Do the embedded model's answers stay with their sources? Measured on StackFAQ dev questions.

    .venv/bin/python bench/grounding_eval.py [--questions 40] [--variant protocol]

Starts the embedded llama.cpp server (SmolLM2-135M, as `make run` does), seeds a SQLite database
with the demo help center and StackFAQ (`manage.py seed_demo`'s knowledge steps; kept in
var/bench/ for the next run), then asks each question once, in a fresh conversation:

- `--variant protocol` (default): over the real WebSocket protocol, through the whole ASGI
  application: whatever the reply path does today (profile, guard, check) is what is measured.
- `--variant large|small|lead|lead+model`: the prompt-profile choices, composed directly from
  chat's parts (retriever, chat.reply.profiles, the openai provider), to compare them before one
  is wired in: `large` is the full prompt with 3 passages; `small` the small profile's strict
  prompt with its passages; `lead` the best passage's own words when it is a near match (no
  model call), else `small`; `lead+model` the lead plus at most one sentence from the model.

For every reply: the groundedness check against the passages it was given (with the embedding
model), and the link guard's verdict on what the visitor saw (an invented link, address or number
is one the guard would remove). Prints the share of replies whose sentences are at least 80%
supported, the share with an invented link, the share of sentences supported, time to first
token (p50, p95) and the total time; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = ROOT.parent / "shared" / "data" / "faq_stackfaq" / "questions_dev.jsonl"
GROUNDED_AT = 0.8  # a reply is grounded when this share of its sentences is supported


# --- metrics (pure; tested in tests/chat/test_grounding_check.py) -------------------------------
@dataclass
class ReplyResult:
    """One measured reply: what the visitor saw, its check, and its timings (ms)."""

    question: str
    text: str
    supported: int  # sentences supported by the passages
    scored: int  # sentences that make claims
    invented: list[str] = field(default_factory=list)  # links, addresses, numbers nothing vouches
    ttft_ms: float | None = None
    total_ms: float = 0.0
    right_source: bool | None = None  # the first passage is one of the question's gold answers


def reply_grounded(result: ReplyResult) -> bool:
    """At least GROUNDED_AT of the reply's claims are supported (no claims: grounded)."""
    return result.scored == 0 or result.supported / result.scored >= GROUNDED_AT


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(results: list[ReplyResult]) -> dict:
    """The benchmark's figures over `results`."""
    count = len(results) or 1
    scored = sum(r.scored for r in results)
    ttfts = [r.ttft_ms for r in results if r.ttft_ms is not None]
    totals = [r.total_ms for r in results]
    return {
        "replies": len(results),
        "grounded_reply_share": round(sum(map(reply_grounded, results)) / count, 3),
        "invented_link_share": round(sum(bool(r.invented) for r in results) / count, 3),
        "supported_sentence_share": round(
            sum(r.supported for r in results) / scored if scored else 1.0, 3
        ),
        "right_source_share": _share([r.right_source for r in results]),
        "offline_fallback_share": round(sum(_fallback(r) for r in results) / count, 3),
        "ttft_p50_ms": _round(percentile(ttfts, 0.5)),
        "ttft_p95_ms": _round(percentile(ttfts, 0.95)),
        "total_p50_ms": _round(percentile(totals, 0.5)),
        "total_s": round(sum(totals) / 1000, 1),
    }


def _fallback(result: ReplyResult) -> bool:
    """The provider failed before its first token and the offline answer stood in."""
    return "running without a language model" in result.text


def _share(flags: list[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return round(sum(known) / len(known), 3) if known else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def measure(question: str, text: str, passages, *, ttft_ms, total_ms, embed, support, hosts):
    """Check one reply the way the reply path does, and look for invented links."""
    from django.conf import settings

    from chat.reply.grounding import check
    from chat.reply.links import link_guard

    verdict = check(text, passages=passages, embed=embed, support=support)
    guarded = link_guard(
        text,
        sources=passages,
        site_hosts=hosts,
        allowlist=settings.CHAT_LINK_ALLOWLIST,
        support=support,
    )
    supported = verdict.sentences - len(verdict.unsupported)
    return ReplyResult(
        question=question,
        text=text,
        supported=supported,
        scored=verdict.sentences,
        invented=guarded.removed,
        ttft_ms=ttft_ms,
        total_ms=total_ms,
    )


# --- set-up ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_django(db_path: Path, base_url: str, profile: str, *, direct: bool = False) -> None:
    from bench.wsclient import UNLIMITED_ENV
    from chat.local_model import MODEL_ALIAS

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "CHAT_PROVIDER": "openai",
            "OPENAI_BASE_URL": base_url,
            "CHAT_MODEL": MODEL_ALIAS,
            "CHAT_MODEL_PROFILE": profile,
            **UNLIMITED_ENV,
            "CHAT_CONFIG_OVERLAY": "",
            "LOG_LEVEL": "ERROR",
        }
    )
    if direct:  # comparing prompts, not the provider's patience on a loaded CPU
        os.environ.update({"CHAT_TIMEOUT_FIRST_TOKEN": "600", "CHAT_TIMEOUT_IDLE": "120"})
    import django

    django.setup()


def seed() -> None:
    """Migrate and import the help centers once (the database file is kept)."""
    from django.conf import settings
    from django.core.management import call_command

    from knowledge.models import KnowledgeBaseEntry

    call_command("migrate", verbosity=0)
    if KnowledgeBaseEntry.objects.filter(source="stackfaq").exists():
        return
    for name, args in settings.DEMO_SEED_COMMANDS:
        if name == "seed_knowledge":
            call_command(name, *args, verbosity=0)


def embedder():
    from django.conf import settings
    from django.utils.module_loading import import_string

    return import_string(settings.CHAT_EMBEDDER) if settings.CHAT_EMBEDDER else None


# --- ways to answer ---------------------------------------------------------------------------
async def ask_protocol(question: str) -> tuple[str, float | None, float]:
    """One question in a new conversation over the WebSocket: (text, ttft_ms, total_ms)."""
    from bench.wsclient import visitor_connect

    ws = await visitor_connect(timeout=120)
    started = time.perf_counter()
    await ws.send_to(
        text_data=json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": question})
    )
    pieces, ttft = [], None
    while True:
        event = json.loads(await ws.receive_from(timeout=120))
        if event["type"] == "token":
            ttft = ttft if ttft is not None else (time.perf_counter() - started) * 1000
            pieces.append(event["text"])
        if event["type"] == "done":
            break
    total = (time.perf_counter() - started) * 1000
    await ws.disconnect()
    return "".join(pieces), ttft, total


async def ask_direct(question: str, variant: str, provider, embed):
    """One question answered by a profile choice, composed from chat's parts:
    (text, ttft_ms, total_ms)."""
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from chat.providers import GenerationOptions, PromptMessage
    from chat.reply import profiles
    from chat.reply.retrieval import retrieve

    started = time.perf_counter()
    profile = profiles.profile_for("large" if variant == "large" else "small")
    limit = profile.passage_limit(settings.CHAT_PASSAGES)
    passages = await sync_to_async(retrieve)(question, limit=limit)
    support = settings.CONCIERGE_SUPPORT
    lead = None
    if variant in ("lead", "lead+model") and passages:
        lead = profiles.lead_from_passage(question, passages[0], embed)
    if lead and variant == "lead":
        return lead, _ms(started), _ms(started)
    if not passages and variant != "large":
        return profiles.no_match_reply(support), _ms(started), _ms(started)
    system = (
        f"You are the assistant of {settings.CONCIERGE_SITE_NAME}. Be {settings.CONCIERGE_TONE}. "
        + profiles.grounding_instruction(
            profile, passages=passages, support=support, scope=settings.CONCIERGE_SCOPE, lead=lead
        )
        + "".join(f"\n\n[{i}] {p.title}\n{p.body[:2400]}" for i, p in enumerate(passages, 1))
    )
    options = profile.options(settings.CHAT_GENERATION)
    if lead:
        options["max_tokens"] = profiles.ADDITION_TOKENS
    messages = [PromptMessage("system", system), PromptMessage("user", question)]
    text, ttft = (lead + " ") if lead else "", _ms(started) if lead else None
    async for event in provider.stream(
        model=settings.CHAT_MODEL, messages=messages, options=GenerationOptions(**options)
    ):
        if event.type == "token" and event.text:
            ttft = ttft if ttft is not None else _ms(started)
            text += event.text
    if lead:
        text = lead + " " + _first_sentence(text[len(lead) + 1 :])
    return text.strip(), ttft, _ms(started)


def _is_gold(passages, gold_ids: list[str]) -> bool | None:
    from knowledge.models import KnowledgeBaseEntry

    if not gold_ids:
        return None
    if not passages:
        return False
    entry = KnowledgeBaseEntry.objects.filter(pk=int(passages[0].id)).first()
    return bool(entry and entry.external_id in gold_ids)


def _first_sentence(text: str) -> str:
    from chat.reply.grounding import sentence_spans

    spans = sentence_spans(text)
    return text[spans[0][0] : spans[0][1]] if spans else ""


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def run(args, questions: list[dict]) -> list[ReplyResult]:
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from chat.providers import get_provider
    from chat.reply import profiles
    from chat.reply.retrieval import retrieve

    embed = embedder()
    provider = get_provider("openai")
    hosts = settings.ALLOWED_HOSTS
    limit = profiles.profile_for(
        settings.CHAT_MODEL_PROFILE
        if args.variant == "protocol"
        else ("large" if args.variant == "large" else "small")
    ).passage_limit(settings.CHAT_PASSAGES)
    if args.variant == "protocol" and args.passages:
        limit = args.passages
    results = []
    for item in questions:
        question = item["question"]
        if args.variant == "protocol":
            text, ttft, total = await ask_protocol(question)
        else:
            text, ttft, total = await ask_direct(question, args.variant, provider, embed)
        passages = await sync_to_async(retrieve)(question, limit=limit)
        result = await sync_to_async(measure)(
            question,
            text,
            passages,
            ttft_ms=ttft,
            total_ms=total,
            embed=embed,
            support=settings.CONCIERGE_SUPPORT,
            hosts=hosts,
        )
        result.right_source = await sync_to_async(_is_gold)(passages, item.get("gold_ids", []))
        results.append(result)
        if args.verbose:
            print(
                json.dumps(
                    {
                        "q": question,
                        "text": text,
                        "supported": result.supported,
                        "scored": result.scored,
                        "invented": result.invented,
                        "ttft_ms": _round(ttft),
                    }
                ),
                flush=True,
            )
    return results


async def rescore(args) -> list[ReplyResult]:
    """Check again the replies a --verbose run printed (after a change to the check)."""
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from chat.reply.retrieval import retrieve

    gold = {
        json.loads(line)["question"]: json.loads(line).get("gold_ids", [])
        for line in QUESTIONS.open()
    }
    results = []
    for line in Path(args.rescore).read_text().splitlines():
        if not line.startswith('{"q"'):
            continue
        item = json.loads(line)
        passages = await sync_to_async(retrieve)(item["q"], limit=args.passages or 3)
        result = await sync_to_async(measure)(
            item["q"],
            item["text"],
            passages,
            ttft_ms=item["ttft_ms"],
            total_ms=item.get("total_ms") or 0.0,
            embed=embedder(),
            support=settings.CONCIERGE_SUPPORT,
            hosts=settings.ALLOWED_HOSTS,
        )
        result.right_source = await sync_to_async(_is_gold)(passages, gold.get(item["q"], []))
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument(
        "--variant",
        default="protocol",
        choices=["protocol", "large", "small", "lead", "lead+model"],
    )
    parser.add_argument("--profile", default="", help="CHAT_MODEL_PROFILE for --variant protocol")
    parser.add_argument(
        "--passages", type=int, default=0, help="passages the check reads (default: the profile's)"
    )
    parser.add_argument("--db", default=str(ROOT / "var" / "bench" / "grounding.sqlite3"))
    parser.add_argument(
        "--spread",
        action="store_true",
        help="every n-th dev question (more threads), not the first n",
    )
    parser.add_argument("--verbose", action="store_true", help="print every reply")
    parser.add_argument("--rescore", default="", help="check again a --verbose run's output")
    args = parser.parse_args()
    if args.rescore:
        setup_django(Path(args.db), "http://127.0.0.1:9/v1", args.profile)
        results = asyncio.run(rescore(args))
        print(json.dumps({"variant": f"rescored {args.rescore}", **summarise(results)}))
        model = [r for r in results if not _fallback(r)]
        print(json.dumps({"variant": "model replies only", **summarise(model)}))
        return

    from chat import local_model

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the model server too
    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = db.parent / "local-model.log"
    server = local_model.start_server(port=port, log_path=log_path)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        local_model.wait_ready(base_url=base_url, process=server, timeout=180)
        setup_django(db, base_url, args.profile, direct=args.variant != "protocol")
        seed()
        with QUESTIONS.open() as handle:
            questions = [json.loads(line) for line in handle]
        step = max(1, len(questions) // args.questions) if args.spread else 1
        questions = questions[::step][: args.questions]
        started = time.perf_counter()
        results = asyncio.run(run(args, questions))
        wall = time.perf_counter() - started
    finally:
        local_model.stop_server(server)
    summary = {"variant": args.variant, **summarise(results), "wall_s": round(wall, 1)}
    print(f"{summary['replies']} StackFAQ dev questions, variant {args.variant}:")
    print(f"  replies >= 80% supported: {summary['grounded_reply_share']:.1%}")
    print(
        f"  replies with an invented link, address or number: {summary['invented_link_share']:.1%}"
    )
    print(f"  sentences supported: {summary['supported_sentence_share']:.1%}")
    print(f"  first passage is a right answer (retrieval): {summary['right_source_share']}")
    print(
        f"  time to first token: p50 {summary['ttft_p50_ms']} ms, "
        f"p95 {summary['ttft_p95_ms']} ms; total {summary['total_s']} s"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
