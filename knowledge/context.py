"""What the knowledge base adds to any question, whatever its universe (chat's context sources).

- Where the visitor is: the page guide entry of the page they ask from, when the knowledge base
  has one (the navigation universe gives it already, with the site's sections).
- The services a question names: their price, duration and availability (the services universe
  lists them all already).

Both are per-question context sources (chat/reply/universes.py), registered from
KnowledgeConfig.ready(); each is one or two small queries.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from chat.reply.universes import ContextPart, ContextRequest, context_source_register
from knowledge import selectors
from knowledge.universes.loaders import service_line

WORD = re.compile(r"[a-z0-9]+")
MIN_WORD = 4  # shorter name words ("SEO", "the") say too little to name a service


def page_guide(request: ContextRequest) -> ContextPart | None:
    """The page guide entry of the visitor's page (not in the navigation universe: it has it)."""
    url = str(request.page.get("url") or "")
    if request.universe == "navigation" or not url:
        return None
    guide = selectors.navigation_help_for(url)
    if guide is None:
        return None
    path = urlsplit(url).path or "/"
    return ContextPart(
        source="knowledge.page_guide",
        title="The page they are on",
        text=f"{path} is the {guide.title} page: {guide.description.strip()}",
        priority=55,
    )


def named_services(request: ContextRequest) -> ContextPart | None:
    """The services the question names, with price and availability (not in the services
    universe: it lists them all)."""
    if request.universe == "services":
        return None
    asked = set(WORD.findall(request.question.casefold()))
    named = [s for s in selectors.service_list() if _names(s.name) & asked]
    if not named:
        return None
    return ContextPart(
        source="knowledge.services",
        title="Services the question names",
        text="\n".join(service_line(s) for s in named[:5]),
        priority=65,
    )


def _names(name: str) -> set[str]:
    return {w for w in WORD.findall(name.casefold()) if len(w) >= MIN_WORD}


def context_sources_register() -> None:
    context_source_register("knowledge.page_guide", page_guide)
    context_source_register("knowledge.services", named_services)
