from django.urls import path

from telemetry import views

urlpatterns = [
    path("f1/", views.race_list, name="telemetry-races"),
    path("f1/<slug:event_key>/", views.race_dashboard, name="telemetry-race"),
    path("f1/<slug:event_key>/compare/", views.race_compare, name="telemetry-compare"),
]
