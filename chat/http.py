"""JSON responses in the shape PROTOCOL.md gives every REST endpoint."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from chat.exceptions import ChatError, InvalidInput, TooLarge
from chat.validation import loads_json

STATUS_FOR_CODE = {
    "invalid": 400,
    "unsupported_image": 400,
    "too_large": 413,
    "forbidden": 403,
    "not_found": 404,
    "busy": 409,
    "rate_limited": 429,
    "quota_exceeded": 429,
    "provider_unavailable": 503,
    "internal": 500,
}


def error_response(code: str, message: str, *, retry_after: float | None = None) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if retry_after is not None:
        body["retry_after"] = retry_after
    response = JsonResponse({"error": body}, status=STATUS_FOR_CODE.get(code, 400))
    if retry_after is not None:
        response["Retry-After"] = str(max(1, round(retry_after)))
    return response


def chat_error_response(exc: ChatError) -> JsonResponse:
    return error_response(exc.code, exc.message, retry_after=exc.retry_after)


def json_body(request, *, max_bytes: int) -> dict[str, Any]:
    """Parse a JSON object body, or raise the ChatError a client should see."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise TooLarge(f"The request body is over {max_bytes} bytes.") from None
    if len(body) > max_bytes:
        raise TooLarge(f"The request body is over {max_bytes} bytes.")
    data = loads_json(body or b"{}", what="The request body")
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return data
