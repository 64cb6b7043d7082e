"""The demo site's universes: general help, services and pricing, finding your way, my account.

Registered from `KnowledgeConfig.ready()`. Each universe carries labelled example questions the
intent router (knowledge.routing) learns it by; an example may start with `intent: ` to give a
finer intent than the universe's own (see knowledge.routing.example_parse).

Loaders are plain sync functions run by chat in a worker thread under a deadline
(`CHAT_CONTEXT_DEADLINE`, 0.5 s): each makes at most three small queries. What they return is
cached per (universe, owner) for the universe's `cache_seconds`, so:
- `navigation` depends on the page asked from: it is not cached (`cache_seconds=0`);
- `account` carries today's usage: cached one minute, and its text says when it was read.
No loader returns a username, an email address or any other personal detail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldError

from chat.guards.quotas import daily_usage_get, local_day, quota_for
from chat.identity import Owner
from chat.reply.universes import ContextPart, ContextRequest, Universe, universe_register
from chat.selectors import session_list
from knowledge import selectors
from knowledge.models import NavigationHelp, Service

SERVICES_CATEGORY = "Services and pricing"
ACCOUNT_CATEGORY = "Account"
STAFF_ONLY_PREFIXES = ("/admin",)


def labelled(intent: str, questions: tuple[str, ...]) -> tuple[str, ...]:
    """Prefix each example with its intent (`service_inquiry: How much ...?`)."""
    return tuple(f"{intent}: {question}" for question in questions)


# --- Services ----------------------------------------------------------------------------------


def services_load(request: ContextRequest) -> ContextPart | None:
    """Every active service with its price, duration and availability."""
    services = selectors.service_list()
    if not services:
        return None
    return ContextPart(
        source="universe:services",
        title="Services and prices",
        text="\n".join(_service_line(service) for service in services),
        priority=70,
    )


def _service_line(service: Service) -> str:
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


# --- The universes -----------------------------------------------------------------------------

GENERAL = Universe(
    key="general",
    label="General help",
    intro="Ask anything: how the assistant works, your privacy, or the help center's topics.",
    token_budget=400,
    examples=labelled(
        "general_help",
        (
            "What is Concierge?",
            "What can this assistant do for me?",
            "Who built this chatbot?",
            "Are you a real person or a bot?",
            "Is what I type here kept private?",
            "Do you sell my data?",
            "Which cookies does this site set?",
            "How can I speak to a human?",
            "What is your support phone number?",
            "The bot told me something wrong",
            "Why does the assistant say it has no language model?",
            "Can I send a screenshot of the error?",
            "How do I stop the answer while it is being written?",
            "Can I get a different answer to the same question?",
            "How do I rate this chat?",
            "Do you answer in other languages?",
            "Is Concierge open source?",
            "Which AI model writes the answers?",
            "Hello!",
            "Thanks, that helped",
            "How do I archive old emails in Gmail?",
            "How can I download a video from YouTube?",
            "How do I share a Google Doc with a colleague?",
            "How do I move a card to another list in Trello?",
            "Can I see who viewed my Facebook profile?",
            "How do I free up space in Dropbox?",
            "How do I change my Gmail password?",
            "How do I recover my Twitter account?",
            "What's the weather like tomorrow?",
            "Tell me a joke",
        ),
    ),
    order=10,
)

SERVICES = Universe(
    key="services",
    label="Services and pricing",
    intro="What we offer, what it costs, and when it is available.",
    token_budget=700,
    loader=services_load,
    category=SERVICES_CATEGORY,
    examples=labelled(
        "service_inquiry",
        (
            "What services do you offer?",
            "How much is the guided setup?",
            "What are your prices?",
            "Is the self-hosted edition really free?",
            "Do you have a monthly support subscription?",
            "Can you import our existing FAQ for us?",
            "How long does a help-center import take?",
            "What do I get with priority support?",
            "Can you connect the assistant to our booking system?",
            "Do you offer single sign-on integration?",
            "When can I book an installation call?",
            "Are prices with or without VAT?",
            "Can I cancel the support plan at any time?",
            "What does a custom integration cost?",
            "Do you give discounts for non-profits?",
            "How fast do you answer support tickets?",
            "I would like a quote for our company",
            "What do I need to prepare before the setup session?",
            "Can I pay by credit card or bank transfer?",
            "What is your refund policy?",
            "Do you have plans for larger companies?",
            "Is installation help included or extra?",
            "Can you set up the assistant on our WordPress site?",
            "Our help desk exports to CSV: can you load it into the assistant?",
            "Can you connect the assistant to our CRM?",
        ),
    )
    + labelled(
        "provider_question",
        (
            "Who will run my setup session?",
            "Are your engineers certified?",
            "Can I become a partner and sell setup sessions?",
            "How do I list my own service on this site?",
            "I am a provider: how and when do I get paid?",
            "Which engineer handles priority support tickets?",
            "Do you work with freelancers?",
            "Can I choose which engineer helps me?",
            "How do providers set their availability?",
            "What commission do you take from providers?",
            "Who are your partners?",
            "How do I join as a service provider?",
            "Do providers set their own prices?",
            "Who is the person I will talk to on the call?",
        ),
    ),
    order=20,
)

NAVIGATION = Universe(
    key="navigation",
    label="Finding your way",
    intro="Where things are on this site, and what you can do on this page.",
    token_budget=500,
    loader=navigation_load,
    cache_seconds=0,  # the answer depends on the page asked from
    examples=labelled(
        "navigation_help",
        (
            "Where is the help page?",
            "How do I get to the telemetry dashboards?",
            "What can I do on this page?",
            "What is this page for?",
            "This link is broken",
            "I got a page not found error",
            "Where do I find your contact details on the site?",
            "How do I go back to the home page?",
            "Where is the login page?",
            "Which page explains what you do with my data?",
            "Where are the F1 charts?",
            "I can't find the menu",
            "Take me to the about page",
            "Where is the link to the help-center articles?",
            "The page I was sent to doesn't exist",
            "How do I open the chat on another page?",
            "Is there an overview of all the pages?",
            "Where is the admin area?",
        ),
    ),
    order=30,
)

ACCOUNT = Universe(
    key="account",
    label="My account",
    intro="Your conversations, today's usage and your limits (for signed-in users).",
    token_budget=400,
    loader=account_load,
    audience="signed_in",
    category=ACCOUNT_CATEGORY,
    cache_seconds=60,  # today's usage moves with every message
    examples=labelled(
        "account",
        (
            "How many messages do I have left today?",
            "When does my daily limit reset?",
            "How do I delete my conversations?",
            "Can I export my chat history?",
            "When did I sign up?",
            "How many conversations have I had?",
            "Why can't I send more messages?",
            "How many tokens have I used?",
            "How do I change my password?",
            "How do I log out?",
            "Can I rename a conversation?",
            "How do I pin a conversation?",
            "Do I need an account to chat?",
            "Can I see my past chats on my phone?",
            "How many messages am I allowed per day?",
            "I have hit the message limit",
            "When was my account created?",
            "Can I use my conversations on another device?",
            "How do I register?",
            "Do I have any messages left?",
        ),
    ),
    order=40,
)

DEMO_UNIVERSES = (GENERAL, SERVICES, NAVIGATION, ACCOUNT)


def universes_register() -> None:
    """Register the demo universes (called from KnowledgeConfig.ready())."""
    for universe in DEMO_UNIVERSES:
        universe_register(universe)
