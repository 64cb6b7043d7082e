"""What the HTTP providers (openai, anthropic) share, free of either SDK.

Both SDKs raise exceptions that carry an HTTP status, a body and the response headers, and their
meaning is the same across vendors: each provider extracts (status, detail, headers) and calls
`status_error` for a `ProviderError` a person can act on. Both SDKs run on httpx2 and get the
same timeouts from `sdk_timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx2

from chat.providers.base import ErrorKind, ProviderError, Timeouts

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "prompt is too long",
)
_MISSING_MARKERS = ("not found", "not_found", "does not exist", "unknown model", "no such model")


@dataclass(frozen=True)
class Vendor:
    """Who answered, in words for a person, and which setting fixes what.

    `label` starts a sentence ("OpenAI", "The model server at http://..."); `key_setting` is the
    setting holding the key; `unreachable_hint` says what to check when nothing answers;
    `url_hint` what to check when the URL is wrong (a 404 that is not about the model).
    """

    label: str
    url: str
    key_setting: str
    unreachable_hint: str
    url_hint: str = ""


def sdk_timeout(timeouts: Timeouts) -> httpx2.Timeout:
    """The SDK's own timeouts: connect as configured; reads are a backstop behind the
    first-token and silence timeouts that `Provider.stream` enforces precisely."""
    read = max(timeouts.first_token, timeouts.idle) + timeouts.connect
    return httpx2.Timeout(read, connect=timeouts.connect)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Read `retry-after-ms` or `retry-after` (seconds or an HTTP date); None when absent."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def status_error(
    status: int,
    *,
    detail: str,
    vendor: Vendor,
    model: str,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """Map an HTTP error status (and the vendor's message in `detail`) to a ProviderError."""
    text = detail.lower()
    if status in (401, 403):
        return ProviderError(
            f"{vendor.label} rejected the API key (HTTP {status}): check {vendor.key_setting}.",
            kind=ErrorKind.AUTHENTICATION,
        )
    if model and status in (400, 404, 422) and _names_missing_model(text, status):
        return unknown_model_error(vendor, model)
    if status == 429:
        return rate_limited_error(vendor, text, retry_after_seconds(headers))
    if status in (400, 413, 422) and any(marker in text for marker in _CONTEXT_MARKERS):
        return ProviderError(
            f"The conversation is too long for the model {model!r}: "
            "start a new conversation or send a shorter message.",
            kind=ErrorKind.CONTEXT_TOO_LONG,
        )
    if status == 404:
        return ProviderError(
            f"{vendor.label} answered 404 Not Found ({_short(detail)}): check the base URL "
            f"{vendor.url}{vendor.url_hint}.",
            kind=ErrorKind.BAD_REQUEST,
        )
    if status == 408:
        return ProviderError(
            f"{vendor.label} timed out (HTTP 408): try again.",
            kind=ErrorKind.TIMEOUT,
            retryable=True,
        )
    if status >= 500:
        return ProviderError(
            f"{vendor.label} failed (HTTP {status}): try again shortly.",
            kind=ErrorKind.UNAVAILABLE,
            retryable=True,
            retry_after=retry_after_seconds(headers),
        )
    return ProviderError(
        f"{vendor.label} rejected the request (HTTP {status}): {_short(detail)}",
        kind=ErrorKind.BAD_REQUEST,
    )


def unknown_model_error(vendor: Vendor, model: str) -> ProviderError:
    return ProviderError(
        f"{vendor.label} does not serve the model {model!r}: set CHAT_MODEL to one it offers "
        "(GET /api/chat/models/ lists them).",
        kind=ErrorKind.UNKNOWN_MODEL,
    )


def rate_limited_error(vendor: Vendor, text: str, retry_after: float | None) -> ProviderError:
    if "insufficient_quota" in text or ("quota" in text and "exceeded" in text):
        # Waiting does not help when the account has run out of credit.
        return ProviderError(
            f"{vendor.label} says the account has no quota left: check its plan and billing.",
            kind=ErrorKind.RATE_LIMITED,
        )
    when = f"in {retry_after:g} s" if retry_after is not None else "shortly"
    return ProviderError(
        f"{vendor.label} is rate limiting requests: try again {when}.",
        kind=ErrorKind.RATE_LIMITED,
        retryable=True,
        retry_after=retry_after,
    )


def unreachable_error(vendor: Vendor, *, timed_out: bool) -> ProviderError:
    if timed_out:
        return ProviderError(
            f"{vendor.label} did not answer in time: try again, or raise CHAT_TIMEOUT_CONNECT.",
            kind=ErrorKind.TIMEOUT,
            retryable=True,
        )
    return ProviderError(
        f"Cannot reach the model at {vendor.url}: {vendor.unreachable_hint}",
        kind=ErrorKind.UNAVAILABLE,
        retryable=True,
    )


def _names_missing_model(text: str, status: int) -> bool:
    if "model_not_found" in text:
        return True
    return "model" in text and (status == 404 or any(m in text for m in _MISSING_MARKERS))


def _short(detail: str, limit: int = 300) -> str:
    detail = " ".join(detail.split())
    return detail if len(detail) <= limit else detail[: limit - 3] + "..."
