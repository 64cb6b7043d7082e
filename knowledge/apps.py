from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowledge"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from knowledge.context import context_sources_register
        from knowledge.stamps import STAMPED_MODELS, stamps_forget
        from knowledge.universes import universes_register

        for model in STAMPED_MODELS:
            for signal in (post_save, post_delete):
                signal.connect(stamps_forget, sender=model, dispatch_uid=f"stamps.{model.__name__}")

        universes_register()  # general, services, navigation, account
        context_sources_register()  # the page guide and named services, in every universe
