"""Answers a site can stand behind: the groundedness check.

Pure functions over text (no Django, no I/O), so the live path, replays, the benchmark and the
tests all run the same code. Links, addresses and numbers are guarded apart (chat.reply.links).

Each sentence of a finished reply is scored against the reply's passages: the share of its
content words found in them (lexical coverage), and, when an embedding function is given, the
cosine of the sentence with the closest passage sentence. Chit-chat, refusals and offers of the
human contact are not claims and are not scored. The thresholds below are named, documented and
tuned on the StackFAQ help center (bench/grounding_eval.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A sentence is supported when most of its content words are in the passages...
LEXICAL_SUPPORTED = 0.6
# ...or, with embeddings, when it is a close paraphrase of a passage sentence (MiniLM cosine)
# and still shares some words with the passages (embeddings alone measure topic, not fact:
# "run git-clone --delete" is close to an article about deleting a repository).
SEMANTIC_SUPPORTED = 0.7
LEXICAL_FLOOR = 0.3
# A reply is grounded when at least this share of its scored sentences is supported (the
# benchmark's "grounded reply"), ungrounded below UNGROUNDED_BELOW, partly in between.
GROUNDED_SHARE = 0.8
UNGROUNDED_BELOW = 0.5
# Sentences with fewer content words than this are not claims ("Sure!", "Here is how:").
MIN_CONTENT_WORDS = 3
# Embedding is the costly step: at most this many sentences of a reply and of its passages are
# embedded (the ones lexical overlap leaves in doubt, the passages' first sentences).
MAX_EMBEDDED_SENTENCES = 8
MAX_PASSAGE_SENTENCES = 24
STEM = 5  # words compared by their first five letters: delete, deleted, deleting

Embed = Callable[[list[str]], Sequence[Any]]  # texts -> unit vectors (numpy arrays), or None


@dataclass(frozen=True)
class Verdict:
    """How well a reply stays with its sources. `unsupported` holds [start, end) character
    spans of the reply's text; `supported_share` is over the sentences that make claims."""

    grounded: str  # grounded, partly, ungrounded
    unsupported: list[list[int]] = field(default_factory=list)
    supported_share: float = 1.0
    sentences: int = 0  # sentences that make claims (scored)

    def as_dict(self) -> dict[str, Any]:
        return {
            "grounded": self.grounded,
            "unsupported": [list(span) for span in self.unsupported],
            "supported_share": round(self.supported_share, 3),
            "sentences": self.sentences,
        }


_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else even
    ever every few for from further get gets got had has have having he her here hers him his how
    i if in into is it its itself just let like may me might more most much must my no nor not now
    of off on once one only or other our ours out over own same shall she should so some such than
    that the their theirs them then there these they this those through to too under until up upon
    us very via was we well were what when where which while who whom why will with within without
    would yes yet you your yours i'm it's don't can't you're you'll i'll that's there's let's here's
    way want need make sure simply just really please thing things use using used""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CITATION = re.compile(r"\[\d{1,2}\]")
_EXEMPT = re.compile(
    r"^\W*(?:hi|hello|hey|good (?:morning|afternoon|evening)|thanks?\b|thank you|you'?re welcome"
    r"|glad|happy to help|sure\b|of course|certainly|no problem|great question|hope (?:this|that)"
    r"|i hope|let me know|feel free|is there anything|anything else)"
    r"|\b(?:i (?:do not|don't|dont) know|i'?m not sure|i am not sure|not sure (?:about|of)"
    r"|i (?:could not|couldn't|can ?not|can't|cannot) (?:find|help|answer|say)"
    r"|no (?:help[- ]center )?(?:article|entry|answer) (?:matches|covers|about)"
    r"|(?:only|can) help with|outside (?:of )?(?:my|the|what)|unable to (?:find|help|answer)"
    r"|(?:contact|reach|write to|e-?mail|call)"
    r"(?: to)? (?:our|the|a) (?:support|team|human|person|staff)|human support|support team"
    r"|talk to a (?:person|human))"
    # pointers and notes about the answer itself, not claims: "Read the article in the help
    # center: ...", "Source: StackFAQ ...", "Related: ...", "I'm running without a language model"
    r"|^\W*(?:source|related|see also|read (?:the|this|more))\b"
    r"|\b(?:in|from) (?:the|our|this site's) help[- ]cent(?:er|re)\b"
    r"|\blanguage model\b",
    re.IGNORECASE,
)
_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|mr|mrs|dr|approx|no|fig)|^\s*\d{1,2})\.$", re.IGNORECASE
)
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n")
_MARKER = re.compile(r"(?:\s*(?:[-*+>#]+|\d{1,2}[.)])\s+|\s+)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of `text` as [start, end) spans: split at . ! ? before a space and at line
    breaks; list markers and surrounding spaces are outside the span."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end() if match.group(0) != "\n" else match.start()
        if match.group(0) != "\n" and _ABBREVIATION.search(text[start:end]):
            continue
        _add_span(text, start, end, spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    marker = _MARKER.match(text, start, end)
    if marker:
        start = marker.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def content_words(text: str) -> list[str]:
    """The words that carry meaning, compared by their first letters (a light stemmer) without
    a plural's s: "cost" and "costs" are one word, as "delete" and "deleted" are."""
    words = _WORD.findall(_CITATION.sub(" ", text.lower().replace("’", "'")))
    return [_stem(w) for w in words if w not in _STOPWORDS and len(w) > 1]


def _stem(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:STEM]


def check(
    text: str,
    *,
    passages: Sequence[Any],
    embed: Embed | None = None,
    support: Mapping[str, str] | None = None,
) -> Verdict:
    """Score each sentence of `text` against `passages` (objects or dicts with `title` and
    `body`, or strings) and return the reply's verdict. `embed(texts)` returns unit vectors
    (or None when the model is off): without it, lexical overlap alone decides."""
    scored = _claims(text, support)
    if not scored:
        return Verdict("grounded", [], 1.0, 0)
    units = [s for p in passages for s in _passage_sentences(p)]
    vocabulary = {w for unit in units for w in content_words(unit)}
    coverage = [_coverage(words, vocabulary) for _, words in scored]
    sentences = [text[start:end] for (start, end), _ in scored]
    semantic = _semantic(sentences, coverage, units, embed)
    supported = [
        cover >= LEXICAL_SUPPORTED
        or (cover >= LEXICAL_FLOOR and semantic.get(i, 0.0) >= SEMANTIC_SUPPORTED)
        for i, cover in enumerate(coverage)
    ]
    share = sum(supported) / len(scored)
    unsupported = [list(span) for (span, _), ok in zip(scored, supported, strict=True) if not ok]
    return Verdict(_grade(share), unsupported, share, len(scored))


def _grade(share: float) -> str:
    if share >= GROUNDED_SHARE:
        return "grounded"
    return "ungrounded" if share < UNGROUNDED_BELOW else "partly"


def _claims(text: str, support: Mapping[str, str] | None) -> list[tuple[tuple[int, int], list]]:
    """The sentences that make claims, with their content words (chit-chat, refusals, offers
    of the human contact, questions back and short phrases are left out)."""
    contact = [v.lower() for v in (support or {}).values() if v and len(v) > 5]
    claims = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        lowered = sentence.lower()
        if sentence.rstrip().endswith("?") or _EXEMPT.search(sentence):
            continue
        if any(value in lowered for value in contact):
            continue
        words = content_words(sentence)
        if len(set(words)) >= MIN_CONTENT_WORDS:
            claims.append(((start, end), words))
    return claims


def _passage_sentences(passage: Any) -> list[str]:
    if isinstance(passage, str):
        title, body = "", passage
    elif isinstance(passage, Mapping):
        title, body = str(passage.get("title", "")), str(passage.get("body", ""))
    else:
        title, body = str(getattr(passage, "title", "")), str(getattr(passage, "body", ""))
    sentences = [body[s:e] for s, e in sentence_spans(body)]
    return [title, *sentences] if title else sentences


def _coverage(words: list[str], vocabulary: set[str]) -> float:
    unique = set(words)
    return len(unique & vocabulary) / len(unique) if unique else 1.0


def _semantic(
    sentences: list[str], coverage: list[float], units: list[str], embed: Embed | None
) -> dict[int, float]:
    """Best cosine of each doubtful sentence with a passage sentence: {index: cosine}."""
    doubtful = [i for i, c in enumerate(coverage) if LEXICAL_FLOOR <= c < LEXICAL_SUPPORTED]
    doubtful = doubtful[:MAX_EMBEDDED_SENTENCES]
    units = [u for u in units if len(content_words(u)) >= 2][:MAX_PASSAGE_SENTENCES]
    if embed is None or not doubtful or not units:
        return {}
    vectors = embed([*(_CITATION.sub("", sentences[i]) for i in doubtful), *units])
    if vectors is None:
        return {}
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    ours, theirs = matrix[: len(doubtful)], matrix[len(doubtful) :]
    best = (ours @ theirs.T).max(axis=1)
    return {i: float(score) for i, score in zip(doubtful, best, strict=True)}
