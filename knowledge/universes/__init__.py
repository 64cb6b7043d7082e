"""The demo site's universes: general help, services and pricing, finding your way, my account.

Registered from `KnowledgeConfig.ready()`. Each universe carries labelled example questions the
intent router (knowledge.routing) learns it by; an example may start with `intent: ` to give a
finer intent than the universe's own (see knowledge.routing.example_parse).

Loaders (knowledge/universes/loaders.py) are plain sync functions run by chat in a worker
thread under a deadline (`CHAT_CONTEXT_DEADLINE`, 0.5 s): each makes at most three small
queries. What they return is cached per (universe, owner) for the universe's `cache_seconds`, so:
- `navigation` depends on the page asked from: it is not cached (`cache_seconds=0`);
- `account` carries today's usage: cached one minute, and its text says when it was read.
No loader returns a username, an email address or any other personal detail.
"""

from __future__ import annotations

from chat.reply.universes import Universe, universe_register
from knowledge.universes.loaders import account_load, navigation_load, services_load

SERVICES_CATEGORY = "Services and pricing"
ACCOUNT_CATEGORY = "Account"


def labelled(intent: str, questions: tuple[str, ...]) -> tuple[str, ...]:
    """Prefix each example with its intent (`service_inquiry: How much ...?`)."""
    return tuple(f"{intent}: {question}" for question in questions)


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
