"""`manage.py weekly_report`: last week's figures as text, Markdown, JSON or HTML.

Cron (Mondays 07:00, after the week closed in TIME_ZONE):
    0 7 * * 1  cd /srv/concierge && .venv/bin/python manage.py weekly_report --save \
        --email ops@example.com
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from analytics.render import FORMATS, report_render
from analytics.selectors.report import WeekError, report_build, week_last, week_parse
from analytics.services.report import report_email, report_save


class Command(BaseCommand):
    help = "Print (and optionally save and e-mail) the weekly report of an ISO week."

    def add_arguments(self, parser):
        parser.add_argument("--week", help="ISO week, e.g. 2026-W48 (default: last week)")
        parser.add_argument("--format", choices=FORMATS, default="text")
        parser.add_argument("--email", default="", help="comma-separated recipients")
        parser.add_argument("--save", action="store_true", help="keep it (readable in the admin)")

    def handle(self, *args, **options):
        try:
            week = week_parse(options["week"]) if options["week"] else week_last()
        except WeekError as exc:
            raise CommandError(str(exc)) from exc
        recipients = self._recipients(options["email"])
        report = report_build(week)
        self.stdout.write(report_render(report, options["format"]), ending="")
        if options["save"]:
            report_save(report=report)
            self.stderr.write(f"Saved the report of {week.label}.")
        if recipients:
            report_email(report=report, recipients=recipients)
            self.stderr.write(f"Sent the report of {week.label} to {', '.join(recipients)}.")

    def _recipients(self, value: str) -> list[str]:
        recipients = [address.strip() for address in value.split(",") if address.strip()]
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise CommandError(f"{address!r} is not an e-mail address.") from exc
        return recipients
