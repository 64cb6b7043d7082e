"""Settle replies that a dead server process left `streaming`."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from chat import services


class Command(BaseCommand):
    help = (
        "Mark replies still 'streaming' after --older-than seconds as 'interrupted' (a server "
        "process died mid-reply). Safe to run from cron; live replies are far younger."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=3600, help="seconds (default 3600)")

    def handle(self, *args, older_than: int, **options):
        count = services.messages_reap_stale(older_than=timedelta(seconds=older_than))
        self.stdout.write(f"{count} stale repl{'y' if count == 1 else 'ies'} marked interrupted.")
