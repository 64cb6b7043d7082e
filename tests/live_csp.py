"""A strict Content-Security-Policy for the live test server, so every browser test also checks
that the widget needs no inline script or style and loads nothing from elsewhere."""

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class StrictCSPMiddleware:
    """Send STRICT_CSP on every response that has no policy of its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = STRICT_CSP
        return response
