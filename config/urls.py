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

handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
