from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowledge"

    def ready(self) -> None:
        from knowledge.context import context_sources_register
        from knowledge.universes import universes_register

        universes_register()  # general, services, navigation, account
        context_sources_register()  # the page guide and named services, in every universe
