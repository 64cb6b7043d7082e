from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("config.pages")),
    path("", include("knowledge.urls")),
]

handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
