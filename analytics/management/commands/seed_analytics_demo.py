"""`manage.py seed_analytics_demo`: a few weeks of clearly marked synthetic conversations."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analytics.services.demo import demo_exists, demo_remove, demo_seed


class Command(BaseCommand):
    help = (
        "Write a few weeks of synthetic conversations (marked synthetic; never mixed with real "
        "ones) so the analytics dashboard has something to show. --remove deletes only them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=21)
        parser.add_argument("--per-day", type=int, default=10, help="conversations on a weekday")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (repeatable)")
        parser.add_argument("--reset", action="store_true", help="remove, then write again")
        parser.add_argument("--remove", action="store_true", help="delete the synthetic rows")

    def handle(self, *args, **options):
        if options["days"] < 1 or options["per_day"] < 1:
            raise CommandError("--days and --per-day must be at least 1.")
        if options["remove"] or options["reset"]:
            removed = demo_remove()
            self.stdout.write("Removed synthetic rows: " + ", ".join(
                f"{name} {count}" for name, count in removed.items()))  # fmt: skip
            if options["remove"]:
                return
        if demo_exists():
            self.stdout.write("Synthetic analytics demo data is already there (--reset renews it).")
            return
        count = demo_seed(days=options["days"], per_day=options["per_day"], seed=options["seed"])
        self.stdout.write(f"Wrote {count} synthetic conversations over {options['days']} days.")
