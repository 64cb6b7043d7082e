"""Security headers for every page."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Send `settings.CONTENT_SECURITY_POLICY` on every response that has no policy of its own.

    The policy forbids inline script: the widget is one external file configured through data-
    attributes, and model output is drawn as DOM nodes, so a reply that smuggles markup in can
    neither run script nor load anything from elsewhere. The admin gets inline styles, which
    Django's admin templates use.
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
        return self._secure(request, self.get_response(request))

    async def __acall__(self, request):
        return self._secure(request, await self.get_response(request))

    def _secure(self, request, response):
        if "Content-Security-Policy" not in response:
            policy = settings.CONTENT_SECURITY_POLICY
            if request.path.startswith("/admin/"):
                policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
            response["Content-Security-Policy"] = policy
        return response
