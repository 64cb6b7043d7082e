"""The link guard: a link, address or number survives only when a source, the site, the
allowlist or the support contact vouches for it. Fixtures are hostile and hallucinated outputs
(the kind SmolLM2 wrote for "What is Concierge?")."""

from __future__ import annotations

import random

import pytest

from chat.reply.grounding import LinkGuardStream, link_guard

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
def test_streamed_pieces_add_up_to_the_guarded_reply(seed):
    rng = random.Random(seed)  # noqa: S311 - reproducible cuts, not secrets
    text = HALLUCINATED + " Also [the form](http://www.facebook.com/help/delete_account) [1]."
    stream = LinkGuardStream(**GUARD)
    shown, index = [], 0
    while index < len(text):
        size = rng.randint(1, 7)
        shown.append(stream.feed(text[index : index + size]))
        index += size
    shown.append(stream.close())
    assert "".join(shown) == link_guard(text, **GUARD).text
    assert not any("twitter" in piece or "jira.atl" in piece for piece in shown)


def test_a_link_is_never_shown_before_it_is_judged():
    stream = LinkGuardStream(**GUARD)
    pieces = ["See ", "[the ", "page](https://", "evil", ".example/x"]
    shown = [stream.feed(piece) for piece in pieces]
    assert "".join(shown) == "See "
    assert stream.feed(") now") == ""  # ")" may still be part of a number
    assert stream.feed(" please") == "the page now "
    assert stream.close() == "please"
    assert stream.removed == ["https://evil.example/x"]


def test_the_stream_releases_text_word_by_word():
    stream = LinkGuardStream(**GUARD)
    assert stream.feed("Open") == ""
    assert stream.feed(" Settings") == "Open "
    assert stream.feed(", then") == "Settings, "
