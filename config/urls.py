from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from analytics.views import metrics_view
from chat.inspect import prompt_inspector
from config import admin_login

urlpatterns = [
    # Staff's prompt inspector (chat/inspect.py), a page of the admin site.
    path("admin/chat/prompt-inspector/", admin.site.admin_view(prompt_inspector),
         name="chat-prompt-inspector"),
    # The admin's login behind failed-login lockouts (config/admin_login.py), before admin/.
    path("admin/login/", admin_login.login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("config.pages")),
    path("", include("knowledge.urls")),
    path("metrics", metrics_view, name="metrics"),  # Prometheus (analytics/metrics.py)
]

# The Formula 1 pages, when the telemetry app is installed (chat works without it).
if apps.is_installed("telemetry"):
    urlpatterns.append(path("", include("telemetry.urls")))

handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
