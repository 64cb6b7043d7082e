"""Security headers for every page."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Send `settings.CONTENT_SECURITY_POLICY` on every response that has no policy of its own
    (and give the API's 405 refusals the API's JSON error shape).

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
        if response.status_code == 405 and request.path.startswith("/api/"):
            response = _method_not_allowed(request, response)
        if "Content-Security-Policy" not in response:
            policy = settings.CONTENT_SECURITY_POLICY
            if request.path.startswith("/admin/"):
                policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
            response["Content-Security-Policy"] = policy
        return response


def _method_not_allowed(request, response):
    """The API's refusals are JSON, also Django's own 405 (require_http_methods)."""
    from django.http import JsonResponse

    allowed = response.get("Allow", "")
    json_response = JsonResponse(
        {
            "error": {
                "code": "invalid",
                "message": f"{request.method} is not allowed here; use {allowed or 'GET'}.",
            }
        },
        status=405,
    )
    if allowed:
        json_response["Allow"] = allowed
    return json_response
