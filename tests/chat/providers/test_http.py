"""The vendor-neutral pieces the HTTP providers share: retry-after and status mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from chat.providers.base import ErrorKind
from chat.providers.http import Vendor, retry_after_seconds, status_error

VENDOR = Vendor(label="Acme", url="http://acme/v1", key_setting="ACME_KEY", unreachable_hint="-")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_milliseconds(headers, expected):
    assert retry_after_seconds(headers) == expected


def test_retry_after_reads_an_http_date():
    when = datetime.now(UTC) + timedelta(seconds=30)

    seconds = retry_after_seconds({"retry-after": format_datetime(when, usegmt=True)})

    assert 28 <= seconds <= 30


@pytest.mark.parametrize(
    ("status", "detail", "kind", "retryable"),
    [
        (401, "bad key", ErrorKind.AUTHENTICATION, False),
        (403, "forbidden", ErrorKind.AUTHENTICATION, False),
        (404, "model 'x' not found", ErrorKind.UNKNOWN_MODEL, False),
        (400, "The model `x` does not exist", ErrorKind.UNKNOWN_MODEL, False),
        (400, "maximum context length is 2048 tokens", ErrorKind.CONTEXT_TOO_LONG, False),
        (429, "slow down", ErrorKind.RATE_LIMITED, True),
        (408, "timeout", ErrorKind.TIMEOUT, True),
        (500, "oops", ErrorKind.UNAVAILABLE, True),
        (503, "maintenance", ErrorKind.UNAVAILABLE, True),
        (422, "temperature must be <= 2", ErrorKind.BAD_REQUEST, False),
    ],
)
def test_status_error_maps_status_and_wording_to_a_kind(status, detail, kind, retryable):
    error = status_error(status, detail=detail, vendor=VENDOR, model="x")

    assert (error.kind, error.retryable) == (kind, retryable)
    assert error.message.startswith(("Acme", "The conversation"))
