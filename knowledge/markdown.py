"""Markdown to safe HTML: markdown-it-py renders (raw HTML off), nh3 sanitises what comes out."""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> SafeString:
    """Render `text` to HTML that is safe to put in a page, whoever wrote it."""
    html = _renderer.render(text or "")
    cleaned = nh3.clean(html, url_schemes=URL_SCHEMES, link_rel="nofollow noopener noreferrer")
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above


def plain_excerpt(text: str, *, limit: int = 400) -> str:
    """Cut Markdown to about `limit` characters at a paragraph or sentence end."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for stop in ("\n\n", ". ", "\n", " "):
        position = cut.rfind(stop)
        if position >= limit // 2:
            return cut[: position + (1 if stop == ". " else 0)].rstrip() + " …"
    return cut.rstrip() + " …"
