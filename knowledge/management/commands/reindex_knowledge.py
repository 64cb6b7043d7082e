"""Recompute every entry's search data (vectors and, on PostgreSQL, the full-text vector)."""

from django.core.management.base import BaseCommand

from knowledge import embeddings, services


class Command(BaseCommand):
    help = "Recompute embeddings and full-text vectors of all entries (after a model change)."

    def handle(self, *args, **options):
        count = services.entries_reindex()
        mode = "vectors and full-text" if embeddings.available() else "full-text only (no model)"
        self.stdout.write(f"reindexed {count} entries: {mode}")
