"""A reply in progress: what it has streamed so far, who answered, and how it stands.

chat.reply.lifecycle fills a Draft while the reply runs (generation, cache hits, guards);
chat.reply.finish reads it once to store, charge and announce the reply. The value is its own
module because both sides share it and neither owns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.live import streams
from chat.models import ChatMessage
from chat.providers import Usage

TAIL_CHARS = 400


@dataclass
class Draft:
    """What a reply has produced so far. Only chat.reply.lifecycle writes it, while the reply
    runs; finishing reads it once."""

    started: float
    pieces: list[str] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    fallback_from: dict | None = None
    usage: Usage | None = None
    ttft_ms: int | None = None
    status: str = ChatMessage.Status.COMPLETE
    error_code: str = ""
    error: str = ""
    cached: bool = False
    cached_sources: list[dict] | None = None
    cache_key: str = ""
    _tail: str = field(default="", init=False, repr=False)  # the last TAIL_CHARS (see `tail`)
    final_text: str | None = None  # what is stored when it differs from what streamed
    support: dict = field(default_factory=dict)  # the human contact offered (not a claim)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def tail(self, chars: int = TAIL_CHARS) -> str:
        """The end of the text so far, up to `TAIL_CHARS` (per-token checks need no more than
        this: kept as pieces arrive, where walking back over the pieces on every token cost
        hundreds of steps a token). At most `TAIL_CHARS`: asking for more is a mistake."""
        if chars > TAIL_CHARS:
            raise ValueError(f"the draft keeps its last {TAIL_CHARS} characters, not {chars}")
        return self._tail[-chars:]

    @property
    def stored_text(self) -> str:
        return self.final_text if self.final_text is not None else self.text

    def add(self, piece: str) -> int:
        """Keep a streamed piece; return its `seq`."""
        if self.ttft_ms is None:
            self.ttft_ms = streams.monotonic_ms(self.started)
        self.pieces.append(piece)
        self._tail = (self._tail + piece)[-TAIL_CHARS:]
        return len(self.pieces) - 1

    def answered_by(self, provider: str, model: str, fallback_from: dict | None) -> None:
        self.provider, self.model, self.fallback_from = provider, model, fallback_from

    def fail(self, code: str, message: str, *, partial: bool | None = None) -> None:
        partial = bool(self.pieces) if partial is None else partial
        self.status = ChatMessage.Status.INTERRUPTED if partial else ChatMessage.Status.FAILED
        self.error_code, self.error = code, message
