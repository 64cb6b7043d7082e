"""`manage.py prompt_preview "question" [--universe race] [--page URL] [--context JSON]`: print
the exact prompt that question would get, part by part, with each part's source and tokens."""

from __future__ import annotations

import asyncio
import json

from django.core.management.base import BaseCommand, CommandError

from chat.exceptions import ChatError
from chat.reply.preview import preview_lines, prompt_preview


class Command(BaseCommand):
    help = "Show the exact prompt a question would get: each part with its source and tokens."

    def add_arguments(self, parser):
        parser.add_argument("question")
        parser.add_argument("--universe", default="", help="A universe key (default: routed).")
        parser.add_argument("--page", default="", help="The page's URL the visitor is on.")
        parser.add_argument("--title", default="", help="The page's title.")
        parser.add_argument("--status", type=int, default=None, help="The page's HTTP status.")
        parser.add_argument("--context", default="", help='"Ask AI about this" context as JSON.')
        parser.add_argument("--language", default="", help="The visitor's language (pt-BR).")

    def handle(
        self,
        *args,
        question: str,
        universe: str,
        page: str,
        title: str,
        status,
        context: str,
        language: str,
        **options,
    ):
        try:
            extra = json.loads(context) if context else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--context is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise CommandError("--context must be a JSON object.")
        where = {"url": page, "title": title} if page or title else {}
        if status:
            where["status"] = status
        try:
            preview = asyncio.run(
                prompt_preview(
                    question, universe=universe, page=where, context=extra, language=language
                )
            )
        except ChatError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write("\n".join(preview_lines(preview)))
