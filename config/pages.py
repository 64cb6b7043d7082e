"""URLs of the demo site's pages."""

from django.urls import path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("about/", views.about, name="about"),
    path("help/", views.help_page, name="help"),
]
