"""The demo site's pages, and the error pages (HTML for people, JSON under /api/)."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from chat.http import error_response


def home(request):
    return render(request, "pages/home.html")


def about(request):
    return render(request, "pages/about.html")


def help_page(request):
    return render(request, "pages/help.html")


def page_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response("not_found", "There is nothing at this address.")
    # The widget tells the assistant the visitor landed on an error page (see chat/widget.html).
    return render(request, "404.html", {"page_status": 404}, status=404)


def server_error(request):
    """Render the static 500 page: no context processors, no database, no widget."""
    if request.path.startswith("/api/"):
        return error_response("internal", "Something went wrong on our side. Please try again.")
    return HttpResponseServerError(loader.get_template("500.html").render())
