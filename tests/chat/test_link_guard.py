"""The link guard: a link, address or number survives only when a source, the site, the
allowlist or the support contact vouches for it. Fixtures are hostile and hallucinated outputs
(the kind SmolLM2 wrote for "What is Concierge?")."""

from __future__ import annotations

import random

import pytest

from chat.reply.links import LinkGuardStream, link_guard

SOURCES = [
    {
        "url": "/help/kb/12/",
        "body": "Go here: http://www.facebook.com/help/delete_account and click Submit. "
        "Questions: privacy@fb.example or +1 650 543 4800.",
    },
]
SUPPORT = {"email": "support@example.com", "phone": "+1 555 0100", "url": "/help/"}
GUARD = {
    "sources": SOURCES,
    "site_hosts": ["testserver", ".concierge.example"],
    "allowlist": ["docs.python.org"],
    "support": SUPPORT,
}

HALLUCINATED = (
    "Concierge is licensed under the Apache License by John Smith. Follow us on "
    "[Facebook](https://facebook.com/concierge) and https://twitter.com/concierge_ai, report "
    "bugs on [Jira](https://jira.atlassian.com/browse/CONC) or see "
    "www.openshift.com/concierge/install. Mail jane.doe@concierge-ai.com or call "
    "(415) 555-2671."
)


def guard(text: str) -> tuple[str, list[str]]:
    guarded = link_guard(text, **GUARD)
    return guarded.text, guarded.removed


def test_it_turns_invented_links_into_their_text():
    text, removed = guard(HALLUCINATED)
    assert "Follow us on Facebook and , report bugs on Jira or see ." in text
    for invented in ("facebook.com", "twitter.com", "jira.atlassian", "openshift", "concierge-ai"):
        assert invented not in text
    assert "555-2671" not in text
    assert len(removed) == 6


def test_it_keeps_links_found_in_the_sources_in_any_spelling():
    text, removed = guard(
        "Delete it [here](https://facebook.com/help/delete_account/) or at "
        "http://www.facebook.com/help/delete_account."
    )
    assert removed == []
    assert "[here](https://facebook.com/help/delete_account/)" in text
    assert text.endswith("http://www.facebook.com/help/delete_account.")


def test_a_similar_url_on_a_source_host_is_still_invented():
    text, removed = guard("See https://www.facebook.com/help/delete_account_now for more.")
    assert removed == ["https://www.facebook.com/help/delete_account_now"]
    assert text == "See  for more."


def test_it_keeps_links_on_the_site_and_on_the_allowlist():
    text, removed = guard(
        "Read [the guide](/help/kb/3/), [faq](../faq#top), [docs](https://docs.python.org/3/), "
        "[blog](https://blog.concierge.example/post) and https://testserver/help/."
    )
    assert removed == []
    assert "[docs](https://docs.python.org/3/)" in text


def test_a_subdomain_of_an_allowlisted_host_needs_a_leading_dot():
    _, removed = guard("See https://evil.docs.python.org/x.")
    assert removed == ["https://evil.docs.python.org/x"]


def test_a_wildcard_allowed_host_vouches_for_nothing():
    guarded = link_guard("Go to https://anywhere.example/x now.", sources=[], site_hosts=["*"])
    assert guarded.text == "Go to  now."


@pytest.mark.parametrize(
    "hostile",
    [
        "[click me](javascript:alert(document.cookie))",
        "[click me](JaVaScRiPt:alert(1))",
        "[click me](data:text/html;base64,PHNjcmlwdD4=)",
        "![click me](https://tracker.example/pixel.gif)",
        '<a href="javascript:alert(1)">click me</a>',
        '<a href="https://evil.example/">click me</a>',
        "[click me](<https://evil.example/a b>)",
        "[click me](//evil.example/x)",
    ],
)
def test_hostile_links_lose_their_url_and_keep_their_text(hostile):
    text, removed = guard(f"Please {hostile} now.")
    assert text == "Please click me now."
    assert len(removed) == 1


def test_a_link_whose_text_is_an_invented_url_leaves_nothing_clickable():
    text, _ = guard("[https://evil.example/login](https://evil.example/login)")
    assert "evil" not in text


def test_it_keeps_addresses_and_numbers_from_sources_and_the_support_contact():
    text, removed = guard(
        "Write to privacy@fb.example, PRIVACY@FB.EXAMPLE or support@example.com, call "
        "+1 650 543 4800, 650-543-4800 or +1 555 0100, or [mail us](mailto:support@example.com)."
    )
    assert removed == []


def test_it_drops_invented_addresses_and_numbers():
    text, removed = guard(
        "Write to help@concierge.example.net or [us](mailto:ceo@example.com), "
        "call +44 20 7946 0958 or [phone](tel:+15550199999)."
    )
    assert text == "Write to  or us, call  or phone."
    assert len(removed) == 4


@pytest.mark.parametrize(
    "number",
    ["2024-01-05", "12/31/2024", "192.168.1.1", "3.10.2", "1,000", "in 2018 and 2019", "20 GB"],
)
def test_dates_versions_and_amounts_are_not_phone_numbers(number):
    text, removed = guard(f"It was {number}.")
    assert (text, removed) == (f"It was {number}.", [])


def test_citations_and_code_are_left_alone():
    text = "Use `~~tildes~~` around the words [1]. Run `git status` [2]."
    assert guard(text) == (text, [])


@pytest.mark.parametrize("seed", range(40))
def test_streamed_pieces_never_show_what_the_guard_removes(seed):
    rng = random.Random(seed)  # noqa: S311 - reproducible cuts, not secrets
    text = HALLUCINATED + " Also [the form](http://www.facebook.com/help/delete_account) [1]."
    whole = link_guard(text, **GUARD)
    stream = LinkGuardStream(**GUARD)
    shown, index = [], 0
    while index < len(text):
        size = rng.randint(1, 7)
        shown.append(stream.feed(text[index : index + size]))
        index += size
    shown.append(stream.close())
    seen = "".join(shown)
    for invented in (
        "facebook.com/concierge",
        "twitter",
        "jira.atl",
        "openshift",
        "@concierge-ai",
        "555-2671",
    ):
        assert invented not in seen
    # the whole-text guard's text, but for an invented address's name that went out before its
    # "@" arrived (only its domain is dropped then)
    before, after = whole.text.split(" Mail  or ")
    assert seen.startswith(before + " Mail ") and seen.endswith(" or " + after)
    assert len(seen) - len(whole.text) <= len("jane.doe")


def test_model_tokens_stream_as_they_come_when_they_hold_no_link():
    stream = LinkGuardStream(**GUARD)
    assert [stream.feed(t) for t in ["Hel", "lo", " there", ",", " friend"]] == [
        "Hel",
        "lo",
        " there",
        ",",
        " friend",
    ]


def test_streamed_at_word_boundaries_the_pieces_add_up_to_the_whole_text_guard():
    text = HALLUCINATED + " Also [the form](http://www.facebook.com/help/delete_account) [1]."
    stream = LinkGuardStream(**GUARD)
    words = text.split(" ")
    shown = [stream.feed(w + (" " if i < len(words) - 1 else "")) for i, w in enumerate(words)]
    assert "".join(shown) + stream.close() == link_guard(text, **GUARD).text


def test_an_address_whose_name_went_out_first_loses_its_domain():
    stream = LinkGuardStream(**GUARD)
    shown = [
        stream.feed(t)
        for t in ["Mail", " jane", "@concierge-ai.com", " or", " support", "@example.com", " today"]
    ]
    shown.append(stream.close())
    assert "".join(shown) == "Mail jane or support@example.com today"
    assert stream.removed == ["jane@concierge-ai.com"]


def test_a_link_is_never_shown_before_it_is_judged():
    stream = LinkGuardStream(**GUARD)
    pieces = ["See ", "[the ", "page](https://", "evil", ".example/x"]
    shown = [stream.feed(piece) for piece in pieces]
    assert "".join(shown) == "See "
    assert stream.feed(") now") == "the page now"
    assert stream.close() == ""
    assert stream.removed == ["https://evil.example/x"]


def test_the_stream_holds_a_number_until_it_is_complete():
    stream = LinkGuardStream(**GUARD)
    assert stream.feed("Call") == "Call"
    assert stream.feed(" +1 555") == ""
    assert stream.feed(" 2671") == ""
    assert stream.feed(" now") == "  now"
    assert stream.removed == ["+1 555 2671"]


# --- through the reply path: live, stored, replayed, history, SSE ------------------------------
SCRIPTED = [
    "Delete it ",
    "[here](https://www.facebook.com/help/delete_account) ",
    "or [on Jira](https://jira.atlassian.com/",
    "browse/CONC) and mail ",
    "jane@concierge-ai.com",
    " [1].",
]
SHOWN = "Delete it [here](https://www.facebook.com/help/delete_account) or on Jira and mail  [1]."


@pytest.fixture
def help_center(settings, db):
    from knowledge import services
    from knowledge.models import KnowledgeBaseEntry
    from knowledge.search import index

    settings.CHAT_RETRIEVER = "knowledge.search.retrieve_passages"
    settings.CHAT_CACHE_TTL = 0
    index.clear()
    services.entries_save(
        entries=[
            KnowledgeBaseEntry(
                category="Facebook",
                title="How do I delete my Facebook account?",
                body="Go here: http://www.facebook.com/help/delete_account and click Submit.",
            )
        ]
    )
    yield
    index.clear()


def token_text(events: list[dict]) -> str:
    return "".join(e["text"] for e in events if e["type"] == "token")


@pytest.mark.django_db(transaction=True)
async def test_live_tokens_and_the_stored_reply_carry_no_invented_link(
    connect, fake_provider, help_center
):
    from channels.db import database_sync_to_async

    from chat.models import ChatMessage

    fake_provider.enqueue(SCRIPTED)
    client = await connect()
    await client.hello()
    await client.ask("How do I delete my Facebook account?")
    events = await client.receive_until("done")
    assert token_text(events) == SHOWN
    assert "jira" not in json_dump(events) and "concierge-ai" not in json_dump(events)
    session = next(e for e in events if e["type"] == "ack")["session"]
    reply = await database_sync_to_async(ChatMessage.objects.get)(id=events[-1]["message"])
    assert reply.text == SHOWN

    # replayed: a new socket resuming from the start, and the history of the conversation
    again = await connect()
    ready_again = await again.hello(session)
    history = [m for m in ready_again["history"] if m["role"] == "assistant"]
    assert history[0]["text"] == SHOWN
    await again.send(
        {
            "type": "hello",
            "session": session,
            "page": {},
            "resume": {"message": str(reply.id), "seq": -1},
        }
    )
    resumed = await again.receive_until("done")
    assert token_text(resumed) == SHOWN


@pytest.mark.django_db(transaction=True)
async def test_the_sse_stream_is_guarded_too(fake_provider, help_center):
    from django.test import AsyncClient

    from tests.chat.test_sse import post, question, sse_events

    fake_provider.enqueue(SCRIPTED)
    response = await post(
        AsyncClient(),
        {"session": None, "message": question("How do I delete my Facebook account?")},
    )
    events = await sse_events(response)
    assert token_text(events) == SHOWN


def json_dump(events) -> str:
    import json

    return json.dumps(events)
