from django.urls import path

from chat import views

urlpatterns = [
    path("api/health/", views.health, name="health"),
    path("api/chat/models/", views.models, name="chat-models"),
]
