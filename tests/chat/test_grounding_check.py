"""The groundedness check on fixture replies with known verdicts: supported, partly supported,
unsupported, and chit-chat or refusals that are not penalised."""

from __future__ import annotations

import numpy as np
import pytest

from chat.reply.grounding import check, content_words, sentence_spans

PASSAGES = [
    {
        "title": "How do I delete my GitHub repository?",
        "body": "Open the repository's Settings page. At the bottom, in the Danger Zone, click "
        "Delete this repository and type its name to confirm. This cannot be undone.",
    },
    {
        "title": "Strikethrough with GitHub Markdown",
        "body": "Use ~~two tildes~~ around the words.",
    },
]
SUPPORT = {"email": "support@example.com", "phone": "+1 555 0100"}

SUPPORTED = (
    "To delete a repository, open its Settings page and click Delete this repository in the "
    "Danger Zone [1]. You must type the repository's name to confirm, and it cannot be undone."
)
PARTLY = (
    "Open the repository's Settings page [1]. In the Danger Zone, click Delete this "
    "repository. Afterwards, e-mail Jira support to restore the backups of your account."
)
UNSUPPORTED = (
    "To delete a repository, run git-clone --delete in your terminal. Then push the empty "
    "branch with git push --force origin main. Atlassian keeps backups for ninety days."
)


def spans_text(text, verdict):
    return [text[start:end] for start, end in verdict.unsupported]


def test_a_reply_that_says_what_its_passages_say_is_grounded():
    verdict = check(SUPPORTED, passages=PASSAGES)
    assert (verdict.grounded, verdict.unsupported, verdict.supported_share) == ("grounded", [], 1)
    assert verdict.sentences == 2


def test_a_reply_with_an_invented_sentence_is_partly_grounded_and_points_at_it():
    verdict = check(PARTLY, passages=PASSAGES)
    assert verdict.grounded == "partly"
    assert spans_text(PARTLY, verdict) == [
        "Afterwards, e-mail Jira support to restore the backups of your account."
    ]
    assert verdict.supported_share == pytest.approx(2 / 3)


def test_invented_commands_under_the_right_topic_are_ungrounded():
    verdict = check(UNSUPPORTED, passages=PASSAGES)
    assert verdict.grounded == "ungrounded"
    assert len(verdict.unsupported) == 3
    assert verdict.supported_share == 0


def test_without_passages_every_claim_is_unsupported():
    assert check(SUPPORTED, passages=[]).grounded == "ungrounded"


@pytest.mark.parametrize(
    "reply",
    [
        "Hello! How can I help you today?",
        "I don't know the answer to that. You can write to support@example.com.",
        "I'm not sure about that one, sorry. Please contact our support team.",
        "I couldn't find this in our help center, so I'd rather not guess.",
        "I can only help with questions about this site. Is there anything else?",
        "Thanks, glad that helped!",
        "*I'm running without a language model right now, so here is the closest answer from "
        "the help center.*\n\nRead the article in the help center: [Delete](/help/kb/1/)\n\n"
        "*Source: StackFAQ (Karan & Šnajder, 2018), Stack Exchange content, CC BY-SA 3.0*",
    ],
)
def test_chit_chat_refusals_and_offers_of_a_person_are_not_penalised(reply):
    verdict = check(reply, passages=PASSAGES, support=SUPPORT)
    assert verdict.grounded == "grounded"
    assert verdict.unsupported == []


def test_a_refusal_does_not_excuse_the_claims_around_it():
    reply = "I'm not sure. Run git-clone --delete in the terminal to remove everything."
    verdict = check(reply, passages=PASSAGES)
    assert spans_text(reply, verdict) == [
        "Run git-clone --delete in the terminal to remove everything."
    ]


def test_spans_point_into_the_original_text_of_lists_and_lines():
    reply = "Here is how:\n\n1. Open the Settings page.\n2. Fly to the moon with NASA rockets."
    verdict = check(reply, passages=PASSAGES)
    assert spans_text(reply, verdict) == ["Fly to the moon with NASA rockets."]


def test_sentences_split_at_stops_and_lines_but_not_at_abbreviations_or_list_numbers():
    text = "1. Open Settings, e.g. the gear. 2. Click Delete!\n- Done here\n\nReally?"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Open Settings, e.g. the gear.",
        "Click Delete!",
        "Done here",
        "Really?",
    ]


def test_content_words_drop_function_words_and_compare_stems():
    assert content_words("Deleting the deleted repositories [1]") == ["delet", "delet", "repos"]
    assert content_words("It costs 490 USD") == content_words("the cost: 490 usd")
    assert content_words("hours classes") == ["hour", "class"]  # a plural's s, not a double s


class FakeEmbedder:
    """Unit vectors from a fixed table: a paraphrase and its original share a direction."""

    def __init__(self, same: dict[str, str]) -> None:
        self.same = same
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return [self.vector(self.same.get(t.strip(), t.strip())) for t in texts]

    def vector(self, key: str) -> np.ndarray:
        rng = np.random.default_rng(abs(hash(key)) % 2**32)
        v = rng.normal(size=16)
        return v / np.linalg.norm(v)


def test_embeddings_rescue_a_paraphrase_that_shares_a_few_words():
    reply = "Find the Danger Zone at the end of the repository options screen."
    assert check(reply, passages=PASSAGES).grounded == "ungrounded"
    embed = FakeEmbedder({reply: "At the bottom, in the Danger Zone, click Delete this "
                                 "repository and type its name to confirm."})
    assert check(reply, passages=PASSAGES, embed=embed).grounded == "grounded"


def test_embeddings_alone_never_support_a_sentence_without_shared_words():
    reply = "Launch a rocket toward the moon with NASA engineers tonight."
    embed = FakeEmbedder({reply: "Open the repository's Settings page."})
    assert check(reply, passages=PASSAGES, embed=embed).grounded == "ungrounded"
    assert embed.calls == []  # nothing in doubt: the embedding model is not even called


def test_an_embedder_that_is_off_means_lexical_only():
    reply = "Find the Danger Zone at the end of the repository options screen."
    assert check(reply, passages=PASSAGES, embed=lambda texts: None).grounded == "ungrounded"


# --- through the reply path: the verdict event, stored and replayed ----------------------------
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
            KnowledgeBaseEntry(category="GitHub", title=p["title"], body=p["body"])
            for p in PASSAGES
        ]
    )
    yield
    index.clear()


@pytest.mark.django_db(transaction=True)
async def test_the_verdict_is_sent_before_done_stored_and_replayed(
    connect, fake_provider, help_center
):
    from channels.db import database_sync_to_async

    from chat.models import ChatMessage

    fake_provider.enqueue([PARTLY[:40], PARTLY[40:]])
    client = await connect()
    await client.hello()
    await client.ask("How do I delete my GitHub repository?")
    events = await client.receive_until("done")
    types = [e["type"] for e in events]
    assert "verdict" in types and types.index("verdict") < types.index("done")
    verdict = events[types.index("verdict")]
    reply_id = events[-1]["message"]
    assert verdict == {
        "type": "verdict",
        "message": reply_id,
        "grounded": "partly",
        "unsupported": check(PARTLY, passages=PASSAGES).unsupported,
    }
    start, end = verdict["unsupported"][0]
    assert PARTLY[start:end].startswith("Afterwards, e-mail Jira")
    reply = await database_sync_to_async(ChatMessage.objects.get)(id=reply_id)
    assert reply.metadata["verdict"]["grounded"] == "partly"

    session = next(e for e in events if e["type"] == "ack")["session"]
    again = await connect()
    ready_again = await again.hello(session)
    stored = [m for m in ready_again["history"] if m["role"] == "assistant"][0]
    assert stored["verdict"]["unsupported"] == verdict["unsupported"]
    await again.send({"type": "hello", "session": session, "page": {},
                      "resume": {"message": reply_id, "seq": -1}})
    replayed = await again.receive_until("done")
    assert [e for e in replayed if e["type"] == "verdict"] == [verdict]
