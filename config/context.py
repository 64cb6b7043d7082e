"""Template context every page gets: the site's name, its human contact, the widget's settings."""

from django.conf import settings

from chat.selectors import widget_options


def site(request):
    return {
        "site_name": settings.CONCIERGE_SITE_NAME,
        "support": settings.CONCIERGE_SUPPORT,
        "chat_widget": {
            "ws_path": "/ws/chat/",
            "sse_path": "/api/chat/stream/",
            "api_path": "/api/chat/",
            "max_image_bytes": settings.CHAT_MAX_IMAGE_BYTES,
            "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
            **widget_options(request),
        },
    }
