"""The reply in progress: what per-token checks read of it."""

from __future__ import annotations

import random

from chat.reply.draft import TAIL_CHARS, Draft


def test_the_tail_is_the_end_of_the_text_streamed_so_far():
    draft = Draft(started=0.0)
    words = ["a", "bc ", "déf", "\n", " ghij ", "k" * 50]
    pieces = random.Random(7).choices(words, k=400)  # noqa: S311 - test data, not secrets
    for count, piece in enumerate(pieces, start=1):
        draft.add(piece)
        text = "".join(pieces[:count])
        assert draft.tail() == text[-TAIL_CHARS:]
        assert draft.tail(10) == text[-10:]
    assert draft.text == "".join(pieces) and len(draft.text) > TAIL_CHARS
