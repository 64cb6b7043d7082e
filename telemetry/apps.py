from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "telemetry"
    verbose_name = "Formula 1 telemetry"

    def ready(self) -> None:
        # Plug into chat through its registries only: chat never imports telemetry.
        from telemetry import ask_templates, context

        context.register()
        ask_templates.templates_register()
