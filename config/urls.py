from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from analytics.views import metrics_view

urlpatterns = [
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
