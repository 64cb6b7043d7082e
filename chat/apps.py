from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        from chat import checks  # noqa: F401  (registers the system checks)
        from chat.operator import checks as operator_checks  # noqa: F401  (its system checks)
