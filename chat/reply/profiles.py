"""Prompt profiles by model size: what a reply's prompt and generation look like for the model.

A 135M-parameter model (the embedded SmolLM2) cannot weigh three passages and a long persona: it
copies fragments, then invents links, people and commands. Its profile (`small`) gives it less to
read and less room to roam: one or two passages, a short strict instruction, a low temperature
and a tight token cap. When the best passage is a near match, the answer does not depend on the
model at all: it leads with that passage's own words (the sentences that best match the question,
cited [1]) and the model may add one sentence. When nothing matches, the reply says so and offers
the human contact instead of generating. Larger models (`large`) get the full prompt.

The profile is data (`Profile`) plus pure functions the prompt builder and the generation step
call; `AssistantConfig.profile` (settings.CHAT_MODEL_PROFILE) names it. Every choice here was
measured on the embedded model with bench/grounding_eval.py (see the README's numbers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chat.reply.grounding import Embed, content_words, sentence_spans

# The best passage is a near match when the retriever's score clears this (its dense cosine
# plus a small lexical term: bench/grounding_eval.py prints the scores of right and wrong
# matches), or, with embeddings, when the question is this close to the passage's title.
NEAR_MATCH_SCORE = 0.55
NEAR_MATCH_TITLE = 0.75
LEAD_SENTENCES = 2  # sentences of the passage the lead keeps
LEAD_MAX_CHARS = 420  # a passage this short is kept whole
ADDITION_TOKENS = 48  # what the small model may add after the lead: one sentence
HEDGE = "This is the closest answer I found in our help center:"
# "How much is it?", "how much for two?": a price; "how much notice/storage": not.
_HOW_MUCH = re.compile(
    r"\bhow much(?:\s+(?:is|are|was|does|do|did|will|would|should|can|could|for|to)\b"
    r"|\s*[?.!]|\s*$)",
    re.IGNORECASE,
)
# A line that starts a block (code, list item, quote, heading, table row, setext underline).
_BLOCK_START = re.compile(r"(?: {4}|\t)|\s*(?:[-*+>#|]|\d{1,9}[.)]\s|=+\s*$)")
# A line the next one never joins: a table row, code, a fence, a heading, a hard break.
_KEEPS_LINES = re.compile(r"(?: {4}|\t)|\s*(?:\||`{3}|~{3}|#{1,6}(?:\s|$))|.*(?: {2}|\\)$")
_FENCE = re.compile(r"\s{0,3}(?:`{3,}|~{3,})")


@dataclass(frozen=True)
class Profile:
    """How a model of one size is prompted. `None` keeps the configured generation option."""

    name: str
    passages: int | None  # help-center passages in the prompt (None: CHAT_PASSAGES)
    instruction: str  # the grounding instruction; {contact} and {scope} are filled in
    temperature: float | None = None
    max_tokens: int | None = None
    lead: bool = False  # lead with the best passage's own words when it is a near match
    addition: bool = False  # after a lead, let the model add at most one sentence
    hedge: bool = False  # a weaker match is quoted too, introduced as the closest answer found

    def passage_limit(self, configured: int) -> int:
        """How many passages a reply reads: the profile's cap on the configured number."""
        return min(self.passages, configured) if self.passages else configured

    def options(self, generation: Mapping[str, Any]) -> dict[str, Any]:
        """The generation options of a reply: the configured ones, with the profile's caps."""
        options = dict(generation)
        if self.temperature is not None:
            options["temperature"] = min(self.temperature, options.get("temperature", 1.0))
        if self.max_tokens is not None:
            options["max_tokens"] = min(self.max_tokens, options.get("max_tokens") or 10**6)
        return options


DECLINE = (
    "If the question is not about {scope}, do not answer it from memory: say politely that "
    "you can only help with {scope}."
)
LARGE_INSTRUCTION = (
    "Answer from these help-center articles; cite them as [1], [2]. If they do not answer the "
    "question, say so and offer the human support contact ({contact}). " + DECLINE
)
SMALL_INSTRUCTION = (
    "Answer in one to three short sentences, using only the words and facts of the article "
    "below, and cite it as [1]. Never write links, e-mail addresses, phone numbers, names or "
    "commands that are not in it. If it does not answer the question, say you don't know and "
    "give the support contact ({contact}). " + DECLINE
)
NO_PASSAGE_INSTRUCTION = (
    "No help-center article matches this question. If it is about this site and you are not "
    "sure of the answer, say you don't know rather than guess, and offer the human support "
    "contact ({contact}). " + DECLINE
)
ADDITION_INSTRUCTION = (
    "The reply to the visitor already begins with this text from article [1]:\n\"{lead}\"\n"
    "Write at most one short sentence that continues it with a useful detail from article "
    "[1]. Do not repeat the text. If there is nothing to add, write nothing."
)

PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small",
        passages=2,
        instruction=SMALL_INSTRUCTION,
        temperature=0.1,
        max_tokens=160,
        lead=True,
        addition=False,
        hedge=True,
    ),
    "large": Profile(name="large", passages=None, instruction=LARGE_INSTRUCTION),
}


@dataclass(frozen=True)
class Opening:
    """What a reply starts with before (or instead of) the model: `model` says whether the
    model still speaks after it."""

    text: str
    model: bool


def profile_for(name: str) -> Profile:
    """The profile called `name`; an unknown name gets `large` (the full prompt)."""
    return PROFILES.get(name, PROFILES["large"])


def options_for(profile: Profile, options):
    """`options` (a GenerationOptions) with the profile's temperature and token caps."""
    capped = profile.options({"temperature": options.temperature, "max_tokens": options.max_tokens})
    return replace(options, **{k: v for k, v in capped.items() if v is not None})


def reply_opening(
    profile: Profile,
    *,
    question: str,
    passages: Sequence[Any],
    support: Mapping[str, str],
    site_name: str = "",
    embed: Embed | None = None,
) -> Opening | None:
    """How a reply of this profile opens: the best passage's own words when it is a near
    match, the no-match answer when nothing matched, or None (the model answers alone)."""
    if not profile.lead:
        return None
    if not passages:
        return Opening(no_match_reply(support, site_name=site_name), model=False)
    lead = lead_from_passage(question, passages[0], embed)
    if lead:
        return Opening(lead, model=profile.addition)
    if profile.hedge:
        return Opening(f"{HEDGE}\n\n{quote_passage(question, passages[0], embed)}", model=False)
    return None


def contact_text(support: Mapping[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in support.items() if v)


def grounding_instruction(
    profile: Profile, *, passages: Sequence[Any], support: Mapping[str, str], scope: str,
    lead: str | None = None,
) -> str:
    """The instruction that goes before the passages in the system prompt (with a lead, what
    the model may add to it)."""
    contact, scope = contact_text(support), scope or "this site"
    if not passages:
        return NO_PASSAGE_INSTRUCTION.format(contact=contact, scope=scope)
    text = profile.instruction.format(contact=contact, scope=scope)
    if lead:
        text += "\n\n" + ADDITION_INSTRUCTION.format(lead=lead.strip())
    return text


def no_match_reply(support: Mapping[str, str], *, site_name: str = "") -> str:
    """What the small profile says, without calling the model, when no passage matches."""
    where = f"{site_name}'s help center" if site_name else "our help center"
    parts = [f"I couldn't find this in {where}, so I'd rather not guess."]
    contact = _contact_sentence(support)
    if contact:
        parts.append(contact)
    return " ".join(parts)


def _contact_sentence(support: Mapping[str, str]) -> str:
    ways = []
    if support.get("email"):
        ways.append(f"write to {support['email']}")
    if support.get("phone"):
        ways.append(f"call {support['phone']}")
    if not ways:
        return f"A person can help: {support['url']}." if support.get("url") else ""
    hours = f" ({support['hours']})" if support.get("hours") else ""
    return f"A person from our team can help: {' or '.join(ways)}{hours}."


def is_near_match(question: str, passage: Any, embed: Embed | None = None) -> bool:
    """True when `passage` answers `question` closely enough to quote it as the answer."""
    if float(getattr(passage, "score", 0.0) or 0.0) >= NEAR_MATCH_SCORE:
        return True
    title = str(getattr(passage, "title", "") or "")
    if embed is None or not title:
        return False
    vectors = embed([question, title])
    return vectors is not None and _cosine(vectors[0], vectors[1]) >= NEAR_MATCH_TITLE


def lead_from_passage(question: str, passage: Any, embed: Embed | None = None) -> str | None:
    """The passage's own words that answer `question`, cited [1], or None when the passage is
    not a near match. A short passage is kept whole; a long one is condensed to the
    LEAD_SENTENCES sentences closest to the question, in their original order."""
    if not is_near_match(question, passage, embed):
        return None
    return quote_passage(question, passage, embed) or None


def quote_passage(question: str, passage: Any, embed: Embed | None = None) -> str:
    """The passage's own words, condensed to what answers `question` when long, cited [1]."""
    body = unwrapped(str(getattr(passage, "body", "") or "").strip())
    if not body:
        return ""
    if len(body) > LEAD_MAX_CHARS:
        body = _condense(question, body, embed, title=str(getattr(passage, "title", "") or ""))
    return _cite(body)


def unwrapped(body: str) -> str:
    """`body` with its paragraphs' soft line breaks joined: help articles wrap long lines, and a
    sentence must neither be cut where a line ends nor drawn with a break in it. List items,
    table rows, headings, quotes and code (fenced, or indented four spaces) keep their lines."""
    out: list[str] = []
    in_code = False
    for line in body.replace("\r\n", "\n").split("\n"):
        fence = _FENCE.match(line)
        if fence or in_code:
            in_code = in_code != bool(fence)
            out.append(line)
            continue
        previous = out[-1] if out else ""
        if (
            line.strip()
            and previous.strip()
            and not _BLOCK_START.match(line)
            and not _KEEPS_LINES.match(previous)
        ):
            out[-1] = f"{previous.rstrip()} {line.lstrip()}"
        else:
            out.append(line)
    return "\n".join(out)


def _condense(question: str, body: str, embed: Embed | None, *, title: str = "") -> str:
    """The LEAD_SENTENCES sentences closest to `question`, in their order; the second only when
    it answers too (at least half as close as the best): the price, not the booking steps."""
    sentences = [body[s:e] for s, e in sentence_spans(body)]
    if len(sentences) <= LEAD_SENTENCES:
        return body
    scores = _similarities(question, sentences, embed, title=title)
    best = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:LEAD_SENTENCES]
    if scores[best[0]] > 0:
        best = [i for i in best if scores[i] >= scores[best[0]] / 2]
    return " ".join(sentences[i] for i in sorted(best))


def _similarities(
    question: str, sentences: list[str], embed: Embed | None, *, title: str = ""
) -> list[float]:
    """How close each sentence is to `question`. Without embeddings, by the words the question
    asks beyond the article's own question (its title: "What does the guided setup cost?"
    against "How do I book a guided setup session?" asks about cost); a question that asks
    nothing beyond the title gets the article's opening sentences (all scores 0)."""
    if embed is not None:
        vectors = embed([question, *sentences])
        if vectors is not None:
            return [_cosine(vectors[0], v) for v in vectors[1:]]
    asked = set(content_words(question))
    if _HOW_MUCH.search(question):
        asked |= {"cost", "price"}  # "how much" is all stop words
    if title:
        asked -= set(content_words(title))
    return [len(asked & set(content_words(s))) / (len(asked) or 1) for s in sentences]


def _cite(text: str) -> str:
    text = re.sub(r"\s+\n", "\n", text).rstrip()
    return f"{text} [1]"


def _cosine(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0
