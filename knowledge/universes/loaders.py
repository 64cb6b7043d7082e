"""The demo universes' loaders: plain sync functions, a few small queries each.

Chat runs them in a worker thread under `CHAT_CONTEXT_DEADLINE` and caches what they return per
(universe, owner) for the universe's `cache_seconds`. None returns a username, an email address or
any other personal detail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldError

from chat.guards.quotas import local_day, quota_for
from chat.guards.usage import daily_usage_get
from chat.identity import Owner
from chat.reply.universes import ContextPart, ContextRequest
from chat.selectors import session_list
from knowledge import selectors
from knowledge.models import NavigationHelp, Service

STAFF_ONLY_PREFIXES = ("/admin",)


# --- Services ----------------------------------------------------------------------------------


def services_load(request: ContextRequest) -> ContextPart | None:
    """Every active service with its price, duration and availability."""
    services = selectors.service_list()
    if not services:
        return None
    return ContextPart(
        source="universe:services",
        title="Services and prices",
        text="\n".join(service_line(service) for service in services),
        priority=70,
    )


def service_line(service: Service) -> str:
    details = [service.price_display]
    if service.duration_display:
        details.append(service.duration_display)
    line = f"- {service.name}: {', '.join(details)}."
    if service.availability:
        line += f" Availability: {service.availability.strip()}"
    summary = _first_sentence(service.description)
    if summary:
        line += f" {summary}"
    if service.url:
        line += f" Page: {service.url}"
    return line


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


# --- Navigation --------------------------------------------------------------------------------


def navigation_load(request: ContextRequest) -> ContextPart | None:
    """The page guide entry for the page asked from (when there is one), and the main sections."""
    url = str(request.page.get("url") or "")
    guide = selectors.navigation_help_for(url) if url else None
    sections = _main_sections(staff=request.asker.kind == "staff")
    lines = []
    if guide is not None:
        path = urlsplit(url).path or "/"
        lines.append(
            f"This page ({path}) is the {guide.title} page: {_one_line(guide.description)}"
        )
    if sections:
        lines.append("Main sections of the site:")
        lines.extend(f"- {help_.title}: {_section_path(help_.url_pattern)}" for help_ in sections)
    if not lines:
        return None
    return ContextPart(
        source="universe:navigation", title="Finding your way", text="\n".join(lines), priority=60
    )


def _main_sections(*, staff: bool) -> list[NavigationHelp]:
    """Page guide entries one level deep (`/`, `/help/`, `/telemetry/*`), staff pages for staff."""
    rows = NavigationHelp.objects.filter(is_active=True).only("url_pattern", "title")
    return [
        row
        for row in rows
        if _section_path(row.url_pattern).count("/") <= 2
        and (staff or not row.url_pattern.startswith(STAFF_ONLY_PREFIXES))
    ]


def _section_path(pattern: str) -> str:
    """`/telemetry/*` -> `/telemetry/`: the path a visitor can open."""
    return pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0] or "/"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- Account -----------------------------------------------------------------------------------


def account_load(request: ContextRequest) -> ContextPart | None:
    """What the site knows about the asker's own use of it: no name, no email, no address."""
    asker = request.asker
    if asker.user_id is None:
        return None
    owner = Owner(user_id=asker.user_id, visitor_key=asker.visitor_key)
    now = datetime.now(UTC)
    lines = [
        "Signed in" + (" as a member of staff." if asker.kind == "staff" else "."),
        _member_since(asker.user_id),
        f"Conversations: {session_list(owner=owner).count()}.",
        _usage_line(owner, now=now),
        f"(Read at {now:%H:%M} UTC.)",
    ]
    return ContextPart(
        source="universe:account",
        title="Your account",
        text="\n".join(line for line in lines if line),
        priority=70,
    )


def _member_since(user_id: int) -> str:
    try:
        joined = (
            get_user_model()
            .objects.filter(pk=user_id)
            .values_list("date_joined", flat=True)
            .first()
        )
    except FieldError:  # a custom user model without date_joined
        return ""
    return f"Member since {joined:%B %Y}." if joined else ""


def _usage_line(owner: Owner, *, now: datetime) -> str:
    """Today's use against the daily limits (as chat's quotas count them; 0 means no limit)."""
    day = local_day(now=now, tz=None)
    used = daily_usage_get(owner=owner, day=day.date)
    quota = quota_for(owner)
    messages = f"{used.messages} messages sent"
    if quota.messages:
        left = max(quota.messages - used.messages, 0)
        messages += f" of {quota.messages} allowed ({left} left)"
    tokens = used.input_tokens + used.output_tokens
    return (
        f"Today: {messages}; {tokens:,} tokens used"
        f" (daily limits: {_limit(quota.input_tokens)} input, {_limit(quota.output_tokens)}"
        f" output). The day resets at {day.resets_at:%Y-%m-%d %H:%M} UTC."
    )


def _limit(value: int) -> str:
    return f"{value:,}" if value else "no limit"
