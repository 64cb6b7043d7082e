"""Import knowledge-base entries, services and navigation help from files (idempotent)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge import services
from knowledge.exceptions import ImportSourceError


class Command(BaseCommand):
    help = (
        "Import JSONL or CSV files, folders of Markdown files with front matter, and YAML site "
        "files (services, navigation help). Re-running updates; it never duplicates."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument(
            "--source", default="", help="Name of the entry set (default: the file or folder name)."
        )
        parser.add_argument("--attribution", default="", help="Credit for entries that carry none.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete rows of these sets that are no longer in the files.",
        )

    def handle(self, *args, paths, source, attribution, prune, **options):
        try:
            result = services.knowledge_import(
                paths=paths, source=source, attribution=attribution, prune=prune
            )
        except ImportSourceError as exc:
            raise CommandError(str(exc)) from exc
        self.report(result)

    def report(self, result: services.ImportResult) -> None:
        for error in result.errors:
            self.stderr.write(f"error: {error}")
        for note in result.notes:
            self.stdout.write(f"note: {note}")
        self.stdout.write(
            f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}, "
            f"pruned {result.pruned}, errors {len(result.errors)}"
        )
