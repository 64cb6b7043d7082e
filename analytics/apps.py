import os

from django.apps import AppConfig
from django.conf import settings


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        # prometheus-client reads the directory from the environment when it is first imported:
        # make sure it exists before analytics.metrics creates its values there.
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.PROMETHEUS_MULTIPROC_DIR
        if directory:
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", directory)
            os.makedirs(directory, exist_ok=True)
        from analytics import checks  # noqa: F401  (registers the system checks)
        from analytics.receivers import receivers_connect

        receivers_connect()
