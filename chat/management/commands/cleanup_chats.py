"""`manage.py cleanup_chats`: close idle conversations, delete expired anonymous ones (cron)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat.operator.retention import chats_cleanup


class Command(BaseCommand):
    help = (
        "Close conversations idle for CHAT_IDLE_CLOSE_HOURS (24) and delete anonymous visitors' "
        "conversations idle for more than CHAT_RETENTION_DAYS. Idempotent; safe from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
        parser.add_argument("--idle-hours", type=float, default=settings.CHAT_IDLE_CLOSE_HOURS)
        parser.add_argument("--retention-days", type=int, default=settings.CHAT_RETENTION_DAYS)

    def handle(self, *args, dry_run: bool, idle_hours: float, retention_days: int, **options):
        if idle_hours <= 0:
            raise CommandError("--idle-hours must be above 0.")
        report = chats_cleanup(
            idle_hours=idle_hours, retention_days=retention_days, dry_run=dry_run
        )
        verb = "would" if report.dry_run else ""
        closed = f"{verb} close" if verb else "closed"
        deleted = f"{verb} delete" if verb else "deleted"
        keep = (
            "kept (CHAT_RETENTION_DAYS=0)"
            if retention_days <= 0
            else f"after {retention_days} days"
        )
        self.stdout.write(
            f"{closed} {report.closed} conversation(s) idle for {idle_hours:g} h; "
            f"{deleted} {report.deleted} anonymous conversation(s) ({report.deleted_messages} "
            f"message(s)) {keep}."
        )
