"""Give every visitor of a page a Django session, so the chat WebSocket can recognise them."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from chat.identity import visitor_key_for

SKIPPED_PREFIXES = ("/api/", "/static/", "/media/", "/metrics")


def _wants_visitor(request) -> bool:
    return request.method == "GET" and not request.path.startswith(SKIPPED_PREFIXES)


class VisitorMiddleware:
    """On HTML page views, make sure the session holds a visitor key (and so gets a cookie).

    Place after SessionMiddleware. API and static requests are left alone: the widget's page view
    always comes first. Sync and async capable, so async views are not run in a thread.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if _wants_visitor(request):
            visitor_key_for(request.session)
        return self.get_response(request)

    async def __acall__(self, request):
        if _wants_visitor(request):
            await sync_to_async(visitor_key_for)(request.session)
        return await self.get_response(request)
