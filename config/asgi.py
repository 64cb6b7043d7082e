"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Set up Django (apps, models) before importing anything that touches the ORM.
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.live.routing import websocket_urlpatterns  # noqa: E402
from config.origin import SameOriginValidator  # noqa: E402
from config.proxy import TrustedProxies  # noqa: E402


def _warm_up_knowledge() -> None:
    """Load the embedding model and build the search index before the first question needs
    them (3 to 10 s), in the background so the server starts listening at once."""
    import threading

    from knowledge import routing
    from knowledge.search import warm_up

    def run() -> None:
        try:
            warm_up()
            if settings.CHAT_INTENT_ROUTER:
                routing.warm_up()
        except Exception:  # noqa: BLE001 - search loads lazily on the first question instead
            import structlog

            structlog.get_logger(__name__).warning("knowledge_warm_up_failed", exc_info=True)

    threading.Thread(target=run, name="knowledge-warm-up", daemon=True).start()


if settings.KNOWLEDGE_WARM_UP and "knowledge" in settings.INSTALLED_APPS:
    _warm_up_knowledge()

application = TrustedProxies(  # the client's address, from trusted proxies' headers only
    ProtocolTypeRouter(
        {
            "http": django_http,  # static files: ServeStatic's middleware (settings.SERVE_STATIC)
            "websocket": SameOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
