"""`manage.py export_chats`: conversations or messages as CSV, with the dashboard's filters."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from analytics.forms import FilterForm
from analytics.selectors.export import KINDS, export_chunks


class Command(BaseCommand):
    help = "Write conversations or messages as CSV (streamed: constant memory at any volume)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--start", help="first day, YYYY-MM-DD (default: 30 days ago)")
        parser.add_argument("--end", help="last day, YYYY-MM-DD (default: today)")
        parser.add_argument("--user-type", default="", help="anonymous, user, staff, user:client")
        parser.add_argument("--universe", default="")
        parser.add_argument("--provider", default="")
        parser.add_argument("--model", default="")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        form = FilterForm(
            {
                "start": options["start"] or "",
                "end": options["end"] or "",
                "user_type": options["user_type"],
                "universe": options["universe"],
                "provider": options["provider"],
                "model": options["model"],
            }
        )
        if not form.is_valid():
            raise CommandError(" ".join(e for errors in form.errors.values() for e in errors))
        chunks = export_chunks(options["kind"], form.filters())
        if options["output"]:
            with open(options["output"], "w", newline="", encoding="utf-8") as handle:
                handle.writelines(chunks)
        else:
            sys.stdout.writelines(chunks)
