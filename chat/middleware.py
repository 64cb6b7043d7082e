"""Give every visitor of a page a Django session, so the chat WebSocket can recognise them."""

from chat.identity import visitor_key_for


class VisitorMiddleware:
    """On HTML page views, make sure the session holds a visitor key (and so gets a cookie).

    Place after SessionMiddleware. API and static requests are left alone: the widget's page view
    always comes first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "GET" and not request.path.startswith(("/api/", "/static/", "/media/")):
            visitor_key_for(request.session)
        return self.get_response(request)
