"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import gc
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
    """Load the embedding model, build the search index and the router's example vectors before
    daphne listens: a process that accepts connections answers at once, so a load balancer never
    sends a question to a cold one (well under a second for search; the router's examples take
    a few seconds on a busy CPU)."""
    import time

    import structlog

    from knowledge import routing
    from knowledge.search import warm_up

    started = time.monotonic()
    try:
        warm_up()
        if settings.CHAT_INTENT_ROUTER:
            routing.warm_up()
    except Exception:  # noqa: BLE001 - search loads lazily on the first question instead
        structlog.get_logger(__name__).warning("knowledge_warm_up_failed", exc_info=True)
        return
    ms = round((time.monotonic() - started) * 1000)
    structlog.get_logger(__name__).info("knowledge_warmed_up", ms=ms)


def _warm_up_provider() -> None:
    """Import the configured provider's SDK before daphne listens: openai's takes 0.5-1.5 s,
    which the first question would otherwise wait for."""
    from chat.providers.registry import provider_class

    try:
        provider_class(settings.CHAT_PROVIDER)
    except Exception:  # noqa: BLE001 - the first question reports a wrong provider
        import structlog

        structlog.get_logger(__name__).warning("provider_warm_up_failed", exc_info=True)


def settle_memory() -> None:
    """Collect once, freeze what the start-up made (modules, the search index, the router's
    vectors) out of the collector's sight, and collect each generation less often: the youngest
    at 10,000 objects instead of 700, the older ones after 20 collections of the one below
    instead of 10 (full collections about 57 times rarer). `manage.py serve` calls it once the
    application is loaded; tests and other importers keep Python's defaults.

    In a run of bursts (200 at once) and 30 s of 200 visitors asking in a loop, the collector
    held the process for 2.4 s in all, its 13 full collections up to 133 ms each; after this,
    0.3 s in all and 34 ms at most. Time to first token and throughput did not move beyond the
    noise (bench/README.md, "Fourth pass"). A frozen object in a reference cycle is never
    reclaimed: the start-up's objects live as long as the process, and a search index rebuilt
    later is freed by reference counting (it holds no cycles).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


if settings.KNOWLEDGE_WARM_UP and "knowledge" in settings.INSTALLED_APPS:
    _warm_up_knowledge()
_warm_up_provider()

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
