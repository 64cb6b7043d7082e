"""Import race folders of FastF1 / Ergast CSV exports (idempotent)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from telemetry import services
from telemetry.exceptions import ImportSourceError


class Command(BaseCommand):
    help = (
        "Import one or more race folders (event.csv, teams.csv, drivers.csv, results.csv, "
        "laps.csv, and optionally qualifying, pit_stops, weather, track_status, telemetry). "
        "Re-running updates in place; unreadable rows are reported by file and line."
    )

    def add_arguments(self, parser):
        parser.add_argument("folders", nargs="+", type=Path)

    def handle(self, *args, folders, **options):
        for folder in folders:
            try:
                report = services.race_import(path=folder)
            except ImportSourceError as exc:
                raise CommandError(str(exc)) from exc
            self.report(folder, report)

    def report(self, folder: Path, report: services.ImportReport) -> None:
        for problem in report.problems:
            self.stderr.write(
                f"error: {folder / problem.file} line {problem.line}: {problem.message}"
            )
        counts = ", ".join(f"{name.removesuffix('.csv')} {n}" for name, n in report.counts.items())
        self.stdout.write(
            f"{report.event_key}: {counts}; pruned {report.pruned}, "
            f"errors {len(report.problems)} ({report.seconds * 1000:.0f} ms)"
        )
