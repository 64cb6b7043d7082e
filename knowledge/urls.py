from django.urls import path

from knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("help/kb/", views.help_center, name="index"),
    path("help/kb/search/", views.search, name="search"),
    path("help/kb/category/<str:name>/", views.category_detail, name="category"),
    path("help/kb/<int:pk>/", views.entry_detail, name="entry"),
]
