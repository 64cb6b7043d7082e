from django.urls import path

from chat import ask_about, openapi, views
from chat.live import sse

urlpatterns = [
    path("api/health/", views.health, name="health"),
    path("api/schema/", openapi.schema, name="api-schema"),  # OpenAPI 3.1 (chat/openapi.py)
    path("api/chat/stream/", sse.stream, name="chat-stream"),
    path("api/chat/sessions/", views.sessions, name="chat-sessions"),
    path("api/chat/sessions/<uuid:session_id>/", views.session_detail, name="chat-session"),
    path("api/chat/sessions/<uuid:session_id>/stop/", views.session_stop, name="chat-session-stop"),
    path(
        "api/chat/sessions/<uuid:session_id>/messages/",
        views.session_messages,
        name="chat-session-messages",
    ),
    path(
        "api/chat/sessions/<uuid:session_id>/export.md",
        views.session_export,
        name="chat-session-export",
    ),
    path("api/chat/messages/<uuid:message_id>/", views.message_detail, name="chat-message"),
    path(
        "api/chat/messages/<uuid:message_id>/image",
        views.message_image,
        name="chat-message-image",
    ),
    path("api/chat/usage/", views.usage, name="chat-usage"),
    path("api/chat/universes/", views.universes, name="chat-universes"),
    path("api/chat/models/", views.models, name="chat-models"),
    path("api/chat/ask-about/", ask_about.ask_about, name="chat-ask-about"),
    path("api/chat/suggestions/", views.suggestions, name="chat-suggestions"),
]
