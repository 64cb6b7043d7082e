"""Answers a site can stand behind: the link guard and the groundedness check.

Pure functions over text (no Django, no I/O), so the live path, replays, the benchmark and the
tests all run the same code.

**Link guard.** A small model invents links, addresses and numbers with confidence. A link
survives only when its URL is in one of the reply's sources (their `url` or a URL in their text),
on the site itself (a relative URL or one of the site's hosts), or on the operator's allowlist;
any other becomes plain text (the link text is kept, the URL dropped). E-mail addresses and phone
numbers survive only when a source contains them or they are the human support contact.
`LinkGuardStream` applies the same guard to a reply while it streams: it holds back the few
characters that could still be growing into a link, an address or a number.

**Groundedness check.** Each sentence of a finished reply is scored against the reply's passages:
the share of its content words found in them (lexical coverage), and, when an embedding function
is given, the cosine of the sentence with the closest passage sentence. Chit-chat, refusals and
offers of the human contact are not claims and are not scored. The thresholds below are named,
documented and tuned on the StackFAQ help center (bench/grounding_eval.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# --- link guard ---------------------------------------------------------------------------------

_URL_BODY = r"[^\s<>\"'`]*[^\s<>\"'`.,:;!?)\]]"
_LINK = re.compile(
    # [text](url "title") and ![alt](url): one level of parentheses inside the URL
    r"(?P<md>!?\[(?P<label>[^\]\n]*)\]\(\s*(?P<target><[^>\n]*>|(?:[^()\s]|\([^()\s]*\))+)"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\))"
    # <a href="url">text</a>
    r"|(?P<html><a\s[^>]*?href\s*=\s*[\"']?(?P<href>[^\"'\s>]+)[\"']?[^>]*>(?P<atext>[^<]*)</a>)"
    # <https://...>, <mailto:...>
    r"|<(?P<angle>(?:https?://|mailto:|tel:|www\.)[^>\s]+)>"
    # bare URLs, as the widget autolinks them (plus www. and mailto:/tel:)
    rf"|(?P<url>(?:https?://|www\.){_URL_BODY})"
    r"|(?P<email>(?:mailto:)?[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,})"
    r"|(?P<phone>(?:tel:)?(?<![\w.+/-])\+?\(?\d[\d \t().-]{5,}\d(?![\w/-]))",
    re.IGNORECASE,
)
PHONE_MIN_DIGITS = 7  # shorter runs are prices, years, counts
PHONE_MAX_DIGITS = 15  # E.164
_NOT_PHONE = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}$"  # ISO dates
    r"|^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}$"  # other dates
    r"|^\d{1,3}(?:\.\d{1,3}){3}$"  # IPv4 addresses
    r"|^\d+(?:\.\d+)+$"  # version numbers, decimals
)


@dataclass(frozen=True)
class GuardedText:
    """A reply's text after the guard, and what it removed (URLs, addresses, numbers)."""

    text: str
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Allowed:
    """What a reply may link to or quote: built once per reply from its sources."""

    urls: frozenset[str]
    emails: frozenset[str]
    phones: frozenset[str]
    hosts: tuple[str, ...]


def link_guard(
    text: str,
    *,
    sources: Iterable[Any],
    site_hosts: Iterable[str],
    allowlist: Iterable[str] = (),
    support: Mapping[str, str] | None = None,
) -> GuardedText:
    """Return `text` with every link, e-mail address and phone number that nothing vouches for
    turned into plain text (a link keeps its text, loses its URL; an address or number is
    dropped).

    `sources` are the reply's passages (objects or dicts with `url` and `body`, or strings);
    `site_hosts` are the site's host names (ALLOWED_HOSTS: `.example.com` covers subdomains, a
    `*` vouches for nothing); `allowlist` are more hosts (CHAT_LINK_ALLOWLIST); `support` is the
    human contact (CONCIERGE_SUPPORT), always allowed.
    """
    return _guard(text, guard_allowed(sources=sources, site_hosts=site_hosts,
                                      allowlist=allowlist, support=support))


def guard_allowed(
    *,
    sources: Iterable[Any],
    site_hosts: Iterable[str],
    allowlist: Iterable[str] = (),
    support: Mapping[str, str] | None = None,
) -> _Allowed:
    """Collect, once per reply, the URLs, addresses, numbers and hosts a reply may use."""
    texts = [piece for source in sources for piece in _source_texts(source)]
    support = support or {}
    texts += [str(support.get(key) or "") for key in ("url", "email", "phone")]
    urls, emails, phones = set(), set(), set()
    for chunk in texts:
        for match in _LINK.finditer(chunk):
            kind, value = _kind(match)
            if kind == "email":
                emails.add(_normal_email(value))
            elif kind == "phone":
                if _is_phone(value):
                    phones.add(_digits(value))
            elif value:
                urls.add(_normal_url(value))
        if chunk.startswith(("http://", "https://")):
            urls.add(_normal_url(chunk))
    hosts = tuple(
        h.strip().lower() for h in (*site_hosts, *allowlist) if h.strip() not in ("", "*")
    )
    return _Allowed(frozenset(urls), frozenset(emails), frozenset(phones), hosts)


def _source_texts(source: Any) -> list[str]:
    if isinstance(source, str):
        return [source]
    get = source.get if isinstance(source, Mapping) else lambda k, d="": getattr(source, k, d)
    return [str(get("url", "") or ""), str(get("body", "") or "")]


def _guard(text: str, allowed: _Allowed) -> GuardedText:
    removed: list[str] = []

    def replace(match: re.Match) -> str:
        kind, value = _kind(match)
        if kind in ("md", "html"):
            label = match.group("label") if kind == "md" else match.group("atext")
            if _url_allowed(value, allowed):
                return match.group(0)
            removed.append(value)
            inner = _guard(label or "", allowed)  # a label may itself be an invented URL
            removed.extend(inner.removed)
            return inner.text
        if kind == "phone" and not _is_phone(value):
            return match.group(0)
        if _value_allowed(kind, value, allowed):
            return match.group(0)
        removed.append(value)
        return ""

    return GuardedText(_LINK.sub(replace, text), removed)


def _kind(match: re.Match) -> tuple[str, str]:
    """(kind, value): kind is md, html, url, email or phone; mailto:/tel: URLs become addresses
    and numbers."""
    if match.group("md"):
        return "md", match.group("target").strip("<>")
    if match.group("html"):
        return "html", match.group("href")
    value = match.group("angle") or match.group("url") or ""
    if value:
        lower = value.lower()
        if lower.startswith("mailto:"):
            return "email", value[7:]
        if lower.startswith("tel:"):
            return "phone", value[4:]
        return "url", value
    if match.group("email"):
        email = match.group("email")
        return "email", email[7:] if email.lower().startswith("mailto:") else email
    phone = match.group("phone")
    return "phone", phone[4:] if phone.lower().startswith("tel:") else phone


def _value_allowed(kind: str, value: str, allowed: _Allowed) -> bool:
    if kind == "email":
        return _normal_email(value) in allowed.emails
    if kind == "phone":
        return _phone_allowed(value, allowed)
    return _url_allowed(value, allowed)


def _url_allowed(url: str, allowed: _Allowed) -> bool:
    url = url.strip()
    lower = url.lower()
    if lower.startswith("mailto:"):
        return _normal_email(url[7:].split("?")[0]) in allowed.emails
    if lower.startswith("tel:"):
        return _phone_allowed(url[4:], allowed)
    if lower.startswith("www."):
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.scheme and not parts.netloc:
        return not url.startswith("\\")  # a path on this site: /help/, ../faq, #top
    if parts.scheme.lower() not in ("http", "https", ""):
        return False  # javascript:, data:, ftp:, ...
    host = (parts.hostname or "").lower()
    if any(_host_matches(host, pattern) for pattern in allowed.hosts):
        return True
    return _normal_url(url) in allowed.urls


def _host_matches(host: str, pattern: str) -> bool:
    """Django's ALLOWED_HOSTS rule: exact, or `.example.com` for it and its subdomains."""
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern


def _normal_url(url: str) -> str:
    """Compare URLs without scheme, `www.`, case of the host, a fragment or a trailing slash."""
    url = url.strip().strip("<>")
    if url.lower().startswith("www."):
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{path}{query}" if host else url


def _normal_email(email: str) -> str:
    return email.strip().lower()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _is_phone(value: str) -> bool:
    digits = _digits(value)
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        return False
    return not _NOT_PHONE.match(value.strip())


def _phone_allowed(value: str, allowed: _Allowed) -> bool:
    """Allowed when a source or the support contact has the same number (with or without the
    country code: one may end with the other)."""
    digits = _digits(value)
    return any(
        digits == known
        or (min(len(digits), len(known)) >= PHONE_MIN_DIGITS
            and (digits.endswith(known) or known.endswith(digits)))
        for known in allowed.phones
    )


_HOLD = re.compile(r"[\d+\-().]$")  # a number or a link could still be growing
_GROWING = re.compile(r"[@:/\[<(+\d]")  # a run of text with these may become a link or number
_SCHEMES = ("https://", "http://", "www.", "mailto:", "tel:")
_TRAILING_RUN = re.compile(r"\S*$")
_DANGLING_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}")
_LOCAL_PART = re.compile(r"[\w.+-]+$")


class LinkGuardStream:
    """The link guard for a reply that arrives in pieces.

    `feed(piece)` returns the guarded text that is safe to show now; `close()` returns the rest.
    Plain words go out as they come (a model's tokens stay tokens); a run of text that could
    still grow into a link, an address or a number (`[`, `<`, `@`, `:`, `/`, digits, `www.`,
    `http`...) is held until it is complete and judged, so a URL never reaches the visitor before
    the guard has seen all of it. Everything returned is what the visitor sees and what is
    stored; it equals the guard on the whole reply except when an invented address's name went
    out before its `@`: then only the `@domain` is dropped.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.allowed = guard_allowed(**kwargs)
        self.pending = ""
        self.tail = ""  # the last run of text already released (an address's name, maybe)
        self.removed: list[str] = []

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = _safe_cut(self.pending)
        if cut <= 0:
            return ""
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return self._guard(ready)

    def close(self) -> str:
        ready, self.pending = self.pending, ""
        return self._guard(ready) if ready else ""

    def _guard(self, text: str) -> str:
        text = self._drop_dangling_domain(text)
        guarded = _guard(text, self.allowed)
        self.removed.extend(guarded.removed)
        self.tail = _TRAILING_RUN.search(self.tail + guarded.text).group(0)[-64:]
        return guarded.text

    def _drop_dangling_domain(self, text: str) -> str:
        """`@domain` whose name was released in an earlier piece: judge the whole address."""
        domain = _DANGLING_DOMAIN.match(text)
        local = _LOCAL_PART.search(self.tail)
        if domain is None or local is None:
            return text
        address = local.group(0) + domain.group(0)
        if _normal_email(address) in self.allowed.emails:
            return text
        self.removed.append(address)
        return text[domain.end() :]


def _growing(run: str) -> bool:
    """True when a run of non-space text could still become (part of) a link, address or
    number."""
    lower = run.lower()
    return bool(_GROWING.search(run)) or any(
        scheme.startswith(lower) or lower.startswith(scheme) for scheme in _SCHEMES if lower
    )


def _safe_cut(text: str) -> int:
    """Where `text` may be cut: all of it when nothing in it is open and its last run cannot
    grow into a link, an address or a number; else just after the last whitespace outside any
    link (complete, or open: `[...](...`, `<...`, `<a ...`) that does not follow a character a
    number or a link could continue with. 0: nowhere yet."""
    limit = len(text)
    for opener, closer in (("[", "]"), ("<", ">"), ("<a ", "</a>")):
        start = text.rfind(opener)
        if start >= 0 and start > text.rfind(closer):
            limit = min(limit, start)
    target = text.rfind("](")
    if target >= 0 and text.find(")", target) < 0:
        limit = min(limit, max(text.rfind("[", 0, target), 0))
    run = _TRAILING_RUN.search(text).group(0)
    if limit == len(text) and not (_growing(run) or (not run and _HOLD.search(text.rstrip()))):
        return limit
    inside = [(m.start(), m.end()) for m in _LINK.finditer(text, 0, limit)]
    for index in range(limit - 1, 0, -1):
        cut = index + 1
        if (
            text[index].isspace()
            and not text[index - 1].isspace()
            and not _HOLD.search(text, 0, index)
            and not any(start < cut < end for start, end in inside)
        ):
            return cut
    return 0


# --- groundedness check -------------------------------------------------------------------------

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
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|mr|mrs|dr|approx|no|fig)|^\s*\d{1,2})\.$",
                           re.IGNORECASE)
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
    """The words that carry meaning, compared by their first letters (a light stemmer)."""
    words = _WORD.findall(_CITATION.sub(" ", text.lower().replace("’", "'")))
    return [w[:STEM] for w in words if w not in _STOPWORDS and len(w) > 1]


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
        cover >= LEXICAL_SUPPORTED or (cover >= LEXICAL_FLOOR and semantic.get(i, 0.0)
                                       >= SEMANTIC_SUPPORTED)
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


def _semantic(sentences: list[str], coverage: list[float], units: list[str],
              embed: Embed | None) -> dict[int, float]:
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
