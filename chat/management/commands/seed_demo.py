"""Seed the demo site: every command listed in settings.DEMO_SEED_COMMANDS, in order."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Seed the demo site's data (knowledge base, telemetry, ...). Safe to run again."

    def handle(self, *args, **options):
        steps = getattr(settings, "DEMO_SEED_COMMANDS", [])
        for name, command_args in steps:
            self.stdout.write(f"seed_demo: {name} {' '.join(map(str, command_args))}")
            call_command(name, *command_args, stdout=self.stdout, stderr=self.stderr)
        if not steps:
            self.stdout.write("seed_demo: nothing to seed yet.")
