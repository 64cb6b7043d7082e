from django.urls import path

from knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("help/kb/<int:pk>/", views.entry_detail, name="entry"),
]
