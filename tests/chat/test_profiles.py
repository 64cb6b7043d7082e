"""Prompt profiles by model size: the small profile's prompt and options, its lead from the best
passage, its answer when nothing matches, and the out-of-scope decline in both profiles."""

from __future__ import annotations

import pytest

from chat.providers import GenerationOptions
from chat.reply.grounding import check, sentence_spans
from chat.reply.links import link_guard
from chat.reply.profiles import (
    HEDGE,
    LEAD_MAX_CHARS,
    Opening,
    grounding_instruction,
    lead_from_passage,
    no_match_reply,
    options_for,
    profile_for,
    reply_opening,
    unwrapped,
)
from chat.reply.retrieval import Passage

SUPPORT = {"email": "support@example.com", "phone": "+1 555 0100", "url": "/help/", "hours": ""}
SCOPE = "questions about this site and its help center"

LONG_BODY = (
    "Gmail keeps everything you archive. To find archived mail, open All Mail in the left menu. "
    "You can also search with in:archive to see only archived conversations. Labels stay on "
    "archived mail, so a label's view shows it too. Nothing is deleted until you empty the "
    "trash, which happens after thirty days. Filters can archive new mail automatically. "
    "Mobile apps show All Mail under the menu as well, in the same place on every phone and "
    "tablet you sign in with."
)


def passage(body: str, *, score: float = 0.8, title: str = "Where is my archived mail?"):
    return Passage(id="1", title=title, url="/help/kb/1/", body=body, score=score)


def test_the_small_profile_reads_less_and_writes_less():
    small, large = profile_for("small"), profile_for("large")
    assert (small.passage_limit(3), large.passage_limit(3), large.passage_limit(5)) == (2, 3, 5)
    assert small.passage_limit(1) == 1
    options = small.options({"temperature": 0.3, "top_p": 0.9, "max_tokens": 512})
    assert options == {"temperature": 0.1, "top_p": 0.9, "max_tokens": 160}
    assert large.options({"temperature": 0.3, "max_tokens": 512}) == {
        "temperature": 0.3,
        "max_tokens": 512,
    }


def test_a_profile_never_raises_what_the_operator_set_lower():
    assert profile_for("small").options({"temperature": 0.0, "max_tokens": 64}) == {
        "temperature": 0.0,
        "max_tokens": 64,
    }


def test_an_unknown_profile_gets_the_full_prompt():
    assert profile_for("medium") == profile_for("large")


def test_the_small_instruction_is_short_and_strict():
    text = grounding_instruction(
        profile_for("small"), passages=[passage("x")], support=SUPPORT, scope=SCOPE
    )
    assert len(text.split()) < 110
    assert "only the words and facts of the article" in text
    assert "Never write links, e-mail addresses, phone numbers" in text
    assert "support@example.com" in text


@pytest.mark.parametrize("name", ["small", "large"])
@pytest.mark.parametrize("with_passages", [True, False])
def test_both_profiles_tell_the_model_to_decline_questions_outside_the_scope(name, with_passages):
    passages = [passage("x")] if with_passages else []
    text = grounding_instruction(profile_for(name), passages=passages, support=SUPPORT, scope=SCOPE)
    assert f"If the question is not about {SCOPE}, do not answer it from memory" in text
    assert f"you can only help with {SCOPE}" in text


def test_a_near_match_short_passage_is_the_lead_word_for_word():
    body = "Open **All Mail** in the left menu."
    assert lead_from_passage("where is archived mail", passage(body)) == f"{body} [1]"


def test_a_long_passage_is_condensed_to_the_sentences_closest_to_the_question():
    assert len(LONG_BODY) > LEAD_MAX_CHARS
    lead = lead_from_passage("How do I find my archived mail?", passage(LONG_BODY))
    assert lead.startswith("To find archived mail, open All Mail in the left menu. ")
    assert lead.endswith(" [1]") and len(lead) < len(LONG_BODY) / 2
    sentences = [lead[s:e] for s, e in sentence_spans(lead.removesuffix(" [1]"))]
    # "archived mail" is the title's: "find" decides, and one sentence has it.
    assert sentences == ["To find archived mail, open All Mail in the left menu."]
    assert check(lead, passages=[passage(LONG_BODY)]).grounded == "grounded"


def test_the_second_sentence_is_kept_when_it_answers_too_in_the_passages_order():
    lead = lead_from_passage("find archived mail labels", passage(LONG_BODY, title="Archive"))
    sentences = [lead[s:e] for s, e in sentence_spans(lead.removesuffix(" [1]"))]
    assert len(sentences) == 2 and all(s in LONG_BODY for s in sentences)  # its own words
    assert LONG_BODY.index(sentences[0]) < LONG_BODY.index(sentences[1])  # in its order
    assert "thirty days" not in lead


# The demo help center's article as written: Markdown with its lines wrapped at 100 columns.
SETUP_TITLE = "How do I book a guided setup session?"
SETUP_BODY = (
    "Write to support with two or three time slots that suit you (weekdays, 9:00 to 17:00 UTC, "
    "at least\n"
) + """two business days ahead). An engineer confirms one slot and sends a video-call link.

Before the call, have ready: a server or laptop with Python 3.11, the address of your site, and,
if you want to use a hosted model, your OpenAI or Anthropic API key. The session lasts two hours
and costs 490 USD; if we run over, the extra time is free."""


@pytest.mark.parametrize(
    "question", ["What does the guided setup cost?", "How much is the setup session?"]
)
def test_a_question_beyond_the_title_gets_the_sentence_that_answers_it_whole(question):
    """What the question asks beyond the article's own question (the cost) picks the sentence;
    a sentence wrapped over two lines is quoted whole, never cut where a line ends."""
    lead = lead_from_passage(question, passage(SETUP_BODY, title=SETUP_TITLE))
    assert lead == (
        "The session lasts two hours and costs 490 USD; if we run over, the extra time is free. [1]"
    )


def test_the_articles_own_question_gets_its_opening_sentences_unwrapped():
    lead = lead_from_passage(SETUP_TITLE, passage(SETUP_BODY, title=SETUP_TITLE))
    assert lead == (
        "Write to support with two or three time slots that suit you (weekdays, 9:00 to 17:00 "
        "UTC, at least two business days ahead). An engineer confirms one slot and sends a "
        "video-call link. [1]"
    )


def test_a_short_wrapped_passage_is_quoted_unwrapped_but_lists_and_tables_keep_their_lines():
    body = "Open Settings and\nchoose Export.\n\n- one item\n  wrapped\n- two\n| a | b |\n| c | d |"
    assert lead_from_passage("export", passage(body, title="Export")) == (
        "Open Settings and choose Export.\n- one item wrapped\n- two\n| a | b |\n| c | d | [1]"
    )


def test_a_weak_match_gives_no_lead():
    assert lead_from_passage("archived mail", passage(LONG_BODY, score=0.4)) is None


def test_an_embedder_can_confirm_a_near_match_by_the_title():
    def embed(texts):
        return [[1.0, 0.0] if "archiv" in t.lower() else [0.0, 1.0] for t in texts]

    weak = passage("Open All Mail.", score=0.4)
    assert lead_from_passage("Where did my archived mail go?", weak, embed) == "Open All Mail. [1]"
    assert lead_from_passage("How do I print?", weak, embed) is None


def test_when_nothing_matches_the_reply_says_so_and_offers_a_person():
    reply = no_match_reply(SUPPORT, site_name="Concierge")
    assert reply.startswith("I couldn't find this in Concierge's help center")
    assert "support@example.com" in reply and "+1 555 0100" in reply
    # it is a refusal (not penalised) and its contact survives the link guard
    assert check(reply, passages=[], support=SUPPORT).grounded == "grounded"
    guarded = link_guard(reply, sources=[], site_hosts=[], support=SUPPORT)
    assert guarded.removed == []


def test_a_small_reply_opens_with_the_lead_or_the_no_match_answer():
    small, large = profile_for("small"), profile_for("large")
    near = passage("Open All Mail in the left menu.")
    opening = reply_opening(small, question="archived mail?", passages=[near], support=SUPPORT)
    assert opening == Opening("Open All Mail in the left menu. [1]", model=False)
    nothing = reply_opening(small, question="capital of France?", passages=[], support=SUPPORT)
    assert nothing.model is False and "support@example.com" in nothing.text
    weak = passage("Open All Mail.", score=0.4)
    hedged = reply_opening(small, question="x", passages=[weak], support=SUPPORT)
    assert hedged == Opening(f"{HEDGE}\n\nOpen All Mail. [1]", model=False)
    assert check(hedged.text, passages=[weak]).grounded == "grounded"
    assert reply_opening(large, question="x", passages=[near], support=SUPPORT) is None


def test_the_profile_caps_the_generation_options():
    options = GenerationOptions(temperature=0.3, top_p=0.9, max_tokens=512)
    capped = options_for(profile_for("small"), options)
    assert (capped.temperature, capped.top_p, capped.max_tokens) == (0.1, 0.9, 160)
    assert options_for(profile_for("large"), options) == options


@pytest.mark.parametrize("name", ["small", "large"])
def test_the_built_prompt_carries_the_profile_and_the_decline(name):
    from dataclasses import replace

    from chat.config import env_config
    from chat.reply.prompt import PromptBuilder

    config = replace(env_config(), profile=name, scope="questions about this shop")
    builder = PromptBuilder(config)
    france = builder.grounding([])  # "What is the capital of France?" finds no passage
    assert "If the question is not about questions about this shop, do not answer it" in france
    grounded = builder.grounding([passage("Open All Mail in the left menu.")])
    assert grounded.endswith("[1] Where is my archived mail?\nOpen All Mail in the left menu.")
    strict = "using only the words and facts of the article below" in grounded
    assert strict is (name == "small")


def test_code_keeps_its_lines_and_windows_line_ends_are_read():
    body = (
        "Run this:\r\n\r\n```\r\npip install x\r\npython -m x\r\n```\r\nThen it\r\nworks."
        "\n\n    indented code\n    more\nText\nwrapped."
    )
    assert unwrapped(body) == (
        "Run this:\n\n```\npip install x\npython -m x\n```\nThen it works."
        "\n\n    indented code\n    more\nText wrapped."
    )


def test_headings_hard_breaks_and_underlines_keep_their_lines():
    body = "## Export\nOpen Settings and\nchoose Export.\nContact:  \nAcme Inc.\nTitle\n====="
    assert unwrapped(body) == (
        "## Export\nOpen Settings and choose Export. Contact:  \nAcme Inc. Title\n====="
    )


def test_how_much_asks_a_price_only_when_no_noun_follows():
    notice = "How much notice do I need to book a setup session?"
    lead = lead_from_passage(notice, passage(SETUP_BODY, title=SETUP_TITLE))
    assert "two business days ahead" in lead and "490" not in lead
