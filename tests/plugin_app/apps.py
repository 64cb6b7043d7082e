from django.apps import AppConfig


class PluginAppConfig(AppConfig):
    name = "tests.plugin_app"
    label = "plugin_app"

    def ready(self) -> None:
        from chat.reply.universes import Universe, context_source_register, universe_register
        from tests.plugin_app import loaders

        universe_register(
            Universe(
                key="plantshop",
                label="Plant shop",
                intro="Plants, seeds and what grows where.",
                token_budget=120,
                loader=loaders.plantshop_summary,
                examples=("Which seeds grow in shade?", "When do I plant tulips?"),
                order=200,
            )
        )
        universe_register(
            Universe(
                key="staff-notes",
                label="Staff notes",
                intro="For the team.",
                audience="staff",
                loader="tests.plugin_app.loaders.staff_notes",
            )
        )
        context_source_register(
            "plantshop.stock", loaders.plantshop_stock, universes=("plantshop",)
        )
