from django.apps import AppConfig

GARDEN_EXAMPLES = (
    "watering: How often should I water the tomatoes?",
    "watering: Do the roses need water every day in summer?",
    "watering: Is it better to water the garden in the morning or the evening?",
    "pruning: When should I prune the apple tree?",
    "pruning: How far back can I cut the hedge?",
    "pruning: Should I cut off the dead flowers of my roses?",
)


class RoutingAppConfig(AppConfig):
    name = "tests.knowledge.routing_app"
    label = "routing_app"

    def ready(self) -> None:
        from chat.reply.universes import Universe, universe_register

        universe_register(
            Universe(
                key="garden",
                label="Garden",
                intro="Watering and pruning.",
                examples=GARDEN_EXAMPLES,
                order=50,
            )
        )
