"""Every client frame through the real consumer, fuzzed with Hypothesis.

Structured frames of each type with random field values and shapes, random JSON, random text and
bytes, and the nasty shapes an attacker tried (JSON nested 100,000 deep, integers of 5,000
digits, lone surrogates, invalid UTF-8 in a bytes frame). After each frame a `ping` must get its
`pong` on the same socket, no event may be an `internal` error, and nothing may be logged at
ERROR or with a traceback. The model is the scripted fake: no model runs.
"""

from __future__ import annotations

import json
import logging
import string
import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ, SCALE, examples

pytestmark = pytest.mark.django_db(transaction=True)

COUNTS: dict[str, int] = {}  # cases per test, reported by the last test

# --- strategies -----------------------------------------------------------------------------

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text(max_size=30) | st.sampled_from(["", " ", "general", "hello", "0", "-1", "null"])
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
uuids = st.uuids().map(str)
anything = json_values | uuids


def optional(**fields) -> st.SearchStrategy[dict]:
    """A dict with any subset of `fields`, each drawn from its strategy."""
    return st.fixed_dictionaries({}, optional=fields)


pages = optional(url=anything | st.just("/pricing/"), title=anything, referrer=anything,
                 status=anything | st.integers(100, 599)) | json_values  # fmt: skip
data_urls = st.builds(
    lambda kind, data: f"data:image/{kind};base64,{data}",
    st.sampled_from(["png", "jpeg", "webp", "gif", "svg+xml", ""]),
    st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=40),
)


def frame(type_: str, **fields) -> st.SearchStrategy[dict]:
    return st.builds(lambda extra, body: {**extra, **body, "type": type_},
                     st.dictionaries(st.text(max_size=6), scalars, max_size=2),
                     optional(**fields))  # fmt: skip


structured_frames = st.one_of(
    frame("hello", session=st.none() | anything, page=pages,
          resume=optional(message=anything, seq=anything | st.integers()) | json_values,
          timezone=anything | st.sampled_from(["Europe/Paris", "Mars/Olympus", "UTC"]),
          language=anything | st.sampled_from(["pt-BR", "en", "x" * 40])),
    frame("message", id=uuids | anything, text=st.text(max_size=60) | anything,
          image=data_urls | anything, universe=st.sampled_from(["", "general", "nope"]) | anything,
          context=st.dictionaries(st.text(max_size=8), json_values, max_size=4) | anything),
    frame("rate", score=st.integers(-2, 8) | anything, comment=st.text(max_size=40) | anything),
    frame("stop"), frame("regenerate"), frame("ping"),
    frame("pong") | frame("usage") | frame("ready"),  # server events sent back
    st.builds(lambda t: {"type": t}, st.text(max_size=12) | anything),
)  # fmt: skip

raw_frames = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=80),
    st.binary(max_size=80),
    structured_frames.map(lambda f: json.dumps(f)[: len(json.dumps(f)) // 2]),  # cut short
)

DEEP = 100_000
ID = str(uuid.uuid4())


def _message(text: str, extra: str = "") -> str:
    """A `message` frame with `text` spliced in raw (escapes as written)."""
    return '{"type":"message","id":"' + ID + '","text":"' + text + '"' + extra + "}"


NASTY: dict[str, str | bytes] = {
    "nested arrays 100,000 deep": "[" * DEEP + "]" * DEEP,
    "nested objects 100,000 deep": '{"a":' * DEEP + "1" + "}" * DEEP,
    "nested in a message's context": _message("hi", ',"context":' + "[" * DEEP + "]" * DEEP),
    "a 5,000-digit integer": '{"type":"ping","n":' + "9" * 5000 + "}",
    "a 5,000-digit score": '{"type":"rate","score":' + "4" * 5000 + "}",
    "a 5,000-digit resume seq": '{"type":"hello","session":null,"resume":{"message":"' + ID
    + '","seq":' + "1" * 5000 + "}}",
    "a lone surrogate in text": _message("\\ud800 hi"),
    "a lone surrogate in a key": '{"type":"ping","\\udfff":1}',
    "a lone surrogate in the page title":
        '{"type":"hello","session":null,"page":{"title":"\\udc00"}}',
    "invalid UTF-8 bytes": b'{"type":"ping","x":"\xff\xfe\xfd"}',
    "truncated UTF-8 bytes": b'{"type":"message","text":"\xe2\x82"}',
    "NaN and Infinity": '{"type":"rate","score":NaN,"comment":Infinity}',
    "NaN in a message's context": _message("hi", ',"context":{"x":NaN}'),
    "Infinity in a message's context": _message("hi", ',"context":{"x":[-Infinity]}'),
    "a huge exponent": '{"type":"rate","score":1e999999}',
    "a null byte": _message("a\\u0000b"),
    "not JSON": "ping",
    "empty": "",
    "empty bytes": b"",
}  # fmt: skip


# --- the socket under test ------------------------------------------------------------------


class Probe:
    """One greeted socket through which every case of a test goes, checked after each case."""

    def __init__(self, connect, caplog) -> None:
        self.connect, self.caplog = connect, caplog
        self.client = None
        self.seen_records = 0

    async def send(self, frame: dict | str | bytes) -> list[dict]:
        """Send one case, then a ping; return the events up to its pong (checked)."""
        if self.client is None:
            self.client = await self.connect()
            assert self.client.connected
            await self.client.hello()
        raw = frame if isinstance(frame, str | bytes) else json.dumps(frame)
        key = "bytes" if isinstance(raw, bytes) else "text"
        await self.client.ws.send_input({"type": "websocket.receive", key: raw})
        await self.client.send({"type": "ping"})
        events = await self.client.receive_until("pong", timeout=10)
        self.check(events, frame)
        return events

    def check(self, events: list[dict], frame) -> None:
        internal = [e for e in events if e.get("type") == "error" and e.get("code") == "internal"]
        assert not internal, (internal, _short(frame))
        records = self.caplog.records[self.seen_records :]
        self.seen_records = len(self.caplog.records)
        bad = [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
        assert not bad, ([r.getMessage()[:300] for r in bad], _short(frame))

    async def finish(self) -> None:
        """Let every reply end, then check what came after the last pong."""
        if self.client is None:
            return
        from chat.reply.lifecycle import replies_wait_idle

        await replies_wait_idle()
        await self.client.send({"type": "ping"})
        self.check(await self.client.receive_until("pong", timeout=10), "final ping")


def _short(frame) -> str:
    text = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    return repr(text[:300])


@pytest.fixture
async def probe(connect, fake_provider, limits_off, caplog):
    caplog.set_level(logging.WARNING)
    probe = Probe(connect, caplog)
    yield probe
    await probe.finish()


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


# --- the fuzz tests -------------------------------------------------------------------------


@pytest.mark.slow  # about a minute on 2 shared cores
@settings(FUZZ, max_examples=examples(1300))
@given(frame=structured_frames)
@example(frame={"type": "message", "id": str(uuid.uuid4()), "text": "What do you sell?"})
@example(frame={"type": "rate", "score": 5, "comment": "thanks"})
@example(frame={"type": "regenerate"})
async def test_structured_frames_never_break_the_socket(probe, frame):
    _count("structured frames")
    await probe.send(frame)


@pytest.mark.slow
@settings(FUZZ, max_examples=examples(700))
@given(raw=raw_frames)
async def test_random_frames_never_break_the_socket(probe, raw):
    _count("random JSON, text and bytes")
    await probe.send(raw)


# Found by this test (issue 9), fixed in chat/validation.loads_json: NUL, which PostgreSQL text
# cannot hold, and NaN or Infinity, which JSON columns refuse, are now refused as `invalid`.


@pytest.mark.parametrize(
    "name",
    sorted(NASTY),
)
async def test_nasty_shapes_are_invalid_not_internal(probe, name):
    _count("nasty shapes")
    events = await probe.send(NASTY[name])
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["code"] in {"invalid", "too_large"}, (name, events)


def test_at_least_2000_frames_went_through_the_consumer(capsys):
    """The fuzz tests above ran their full count (when they ran: `-m "not slow"` skips them)."""
    if set(COUNTS) != {"structured frames", "random JSON, text and bytes", "nasty shapes"}:
        pytest.skip("the fuzz tests of this module did not all run")
    with capsys.disabled():
        print(f"\nHypothesis frames: {sum(COUNTS.values())} cases {COUNTS}")
    assert sum(COUNTS.values()) >= 2000 * min(SCALE, 1)
