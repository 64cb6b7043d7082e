"""`manage.py rotate_encryption_key`: re-encrypt stored secrets with the newest key."""

from django.core.management.base import BaseCommand, CommandError

from chat.operator.exceptions import OperatorError
from chat.operator.services import encryption_key_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret stored by the admin (API keys) with the first key of "
        "CONCIERGE_ENCRYPTION_KEY. Put the new key first, keep the old one after it, run this, "
        "then drop the old key."
    )

    def handle(self, *args, **options):
        try:
            count = encryption_key_rotate()
        except OperatorError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Re-encrypted {count} secret(s) with the newest key.")
