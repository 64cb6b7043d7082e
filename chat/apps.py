from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        # checks registers the system checks; accounts and titles connect signal receivers.
        from chat import accounts, checks, titles  # noqa: F401
        from chat.operator import checks as operator_checks  # noqa: F401  (its system checks)
        from chat.reply.universes import DEFAULT_UNIVERSE, Universe, universe_register

        # The assistant works with no other app installed; apps replace or add universes.
        universe_register(
            Universe(key=DEFAULT_UNIVERSE, label="Help", intro="Ask anything about this site."),
            replace=False,
        )
