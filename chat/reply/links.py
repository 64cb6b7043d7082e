"""Links a site can stand behind: the link guard.

Pure functions over text (no Django, no I/O), so the live path, replays, the benchmark and the
tests all run the same code.

A small model invents links, addresses and numbers with confidence. A link survives only when its
URL is in one of the reply's sources (their `url` or a URL in their text), on the site itself (a
relative URL or one of the site's hosts), or on the operator's allowlist; any other becomes plain
text (the link text is kept, the URL dropped). E-mail addresses and phone numbers survive only
when a source contains them or they are the human support contact. `LinkGuardStream` applies the
same guard to a reply while it streams: it holds back the few characters that could still be
growing into a link, an address or a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
    return _guard(
        text,
        guard_allowed(sources=sources, site_hosts=site_hosts, allowlist=allowlist, support=support),
    )


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
        or (
            min(len(digits), len(known)) >= PHONE_MIN_DIGITS
            and (digits.endswith(known) or known.endswith(digits))
        )
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
