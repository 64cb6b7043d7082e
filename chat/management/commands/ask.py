"""`manage.py ask "question"`: stream the configured model's answer to the terminal, with timings.

Without a question it reads one per line until an empty line, "exit" or the end of input. After
each answer it prints one stats line: time to first token, tokens per second, token counts.
A provider failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat.providers import (
    GenerationOptions,
    PromptMessage,
    Provider,
    ProviderError,
    Usage,
)
from chat.reply.generation import provider_for
from chat.reply.preview import Preview, prompt_preview

QUIT_WORDS = ("exit", "quit")


@dataclass(frozen=True)
class AnswerStats:
    """How one answer went. Times in seconds from the request; None when no token came."""

    provider: str
    model: str
    first_token_s: float | None
    total_s: float
    token_events: int
    usage: Usage | None

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s * 1000

    @property
    def tokens_per_second(self) -> float | None:
        """Tokens after the first, over the time after the first token (the decode speed)."""
        if self.first_token_s is None:
            return None
        output = self.usage.output_tokens if self.usage else self.token_events
        generation_s = self.total_s - self.first_token_s
        if output < 2 or generation_s <= 0:
            return None
        return (output - 1) / generation_s

    def line(self) -> str:
        ttft = "n/a" if self.ttft_ms is None else f"{self.ttft_ms:.0f} ms"
        speed = "n/a" if self.tokens_per_second is None else f"{self.tokens_per_second:.1f}"
        usage = "tokens n/a"
        if self.usage is not None:
            usage = f"tokens in {self.usage.input_tokens} / out {self.usage.output_tokens}"
            usage += " (estimated)" if self.usage.estimated else ""
        return (
            f"[ttft {ttft} | {speed} tokens/s | {usage} | total {self.total_s:.2f} s | "
            f"{self.provider} {self.model}]"
        )


async def stream_answer(
    provider: Provider,
    *,
    model: str,
    messages: list[PromptMessage],
    options: GenerationOptions,
    write: Callable[[str], None],
) -> AnswerStats:
    """Stream one answer, handing each token to `write` as it arrives; measure as it goes."""
    started = time.monotonic()
    first_token_s: float | None = None
    token_events = 0
    usage: Usage | None = None
    async for event in provider.stream(model=model, messages=messages, options=options):
        if event.type == "token":
            if first_token_s is None:
                first_token_s = time.monotonic() - started
            token_events += 1
            write(event.text)
        elif event.type == "usage":
            usage = event.usage
    return AnswerStats(
        provider=provider.name,
        model=model,
        first_token_s=first_token_s,
        total_s=time.monotonic() - started,
        token_events=token_events,
        usage=usage,
    )


@contextmanager
def quiet_provider_logs(quiet: bool) -> Iterator[None]:
    """Hold back warnings (provider retries, a database not migrated yet, an unreadable admin
    setting): at a terminal, the answer or the one error line says it all (-v 2 shows them)."""
    loggers = [logging.getLogger(name) for name in ("chat", "knowledge", "telemetry")]
    previous = [logger.level for logger in loggers]
    if quiet:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.setLevel(level)


class Command(BaseCommand):
    help = (
        "Ask the configured model a question and stream the answer, with time to first token "
        "and tokens per second. Without a question, ask interactively (empty line or 'exit' quits)."
    )

    def add_arguments(self, parser):
        parser.add_argument("question", nargs="?", help="The question; omit to ask interactively.")

    def handle(self, *args, question: str | None = None, verbosity: int = 1, **options):
        with quiet_provider_logs(verbosity < 2):
            if question:
                self.answer(question)
                return
            self.stdout.write(
                f"Asking {settings.CHAT_PROVIDER} {settings.CHAT_MODEL}. "
                "An empty line or 'exit' quits."
            )
            for line in self.questions():
                self.answer(line)

    def questions(self) -> Iterator[str]:
        while True:
            try:
                line = input("> ").strip()
            except EOFError:
                return
            if not line or line.lower() in QUIT_WORDS:
                return
            yield line

    def answer(self, question: str) -> None:
        try:
            stats, preview = asyncio.run(self._answer(question))
        except ProviderError as exc:
            if exc.partial:
                self.stdout.write("")  # end the interrupted answer's line
            what = "The answer was interrupted: " if exc.partial else ""
            raise CommandError(what + " ".join(exc.message.split())) from None
        self.stdout.write("")
        for passage in preview.reply_input.passages:
            self.stdout.write(f"  source: {passage.title} ({passage.url})")
        self.stdout.write(stats.line())

    async def _answer(self, question: str) -> tuple[AnswerStats, Preview]:
        """Build the site's real prompt for `question` (as a first turn) and stream the answer."""
        preview = await prompt_preview(question)
        provider = provider_for(preview.choice)
        try:
            stats = await stream_answer(
                provider,
                model=preview.choice.model,
                messages=preview.prompt.messages,
                options=preview.choice.options,
                write=self._write_token,
            )
        finally:
            await provider.aclose()
        return stats, preview

    def _write_token(self, text: str) -> None:
        self.stdout.write(text, ending="")
        self.stdout.flush()
