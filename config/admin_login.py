"""The admin's login, throttled: after too many failed logins for one username, or from one
address, further attempts are refused for a while without checking the password (finding 16).

Failures are counted in a sliding window of one-minute buckets in Django's cache (Redis when
configured, so every server process shares one count; process memory otherwise). An attempt
first reserves its place (an atomic `incr`), then looks at the window's total: over the limit,
it gives the place back and is refused with HTTP 429 and the login page saying why; under it,
the password is checked, and a success gives the place back (it was not a failure), so a
burst of parallel guesses cannot slip past the count. A success only ever touches its own
username's and address's counts, never another account's.

If the cache (Redis) does not answer, the login works unthrottled and says so in the log
(`admin_login_unthrottled`): locking every administrator out would be worse.

Settings: ADMIN_LOGIN_FAILURES (per username), ADMIN_LOGIN_FAILURES_IP (per address, IPv6 by
its /64) and ADMIN_LOGIN_WINDOW_MINUTES; 0 turns a limit off.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

BUCKET_SECONDS = 60
CACHE_PREFIX = "admin-login:"


@dataclass(frozen=True)
class Counter:
    """One count of failed logins: a username's or an address's, with its limit."""

    key: str
    limit: int


@dataclass(frozen=True)
class Lockout:
    """Why an attempt is refused: the counter that is full and the seconds until it is not."""

    counter: Counter
    retry_after: float


@login_not_required
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login(request, extra_context=None):
    """The admin site's login view, behind the failure counts."""
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    username = str(request.POST.get("username", ""))[:150]
    counters = login_counters(username=username, ip=request.META.get("REMOTE_ADDR", ""))
    now = time.time()
    try:
        lockout = attempt_reserve(counters=counters, now=now)
    except (RedisError, OSError) as exc:  # Redis away: the admin stays reachable, unthrottled
        log.warning("admin_login_unthrottled", error=repr(exc))
        counters, lockout = [], None
    if lockout is not None:
        log.warning("admin_login_locked_out", counter=lockout.counter.key.split(":")[0],
                    retry_after=round(lockout.retry_after))  # fmt: skip
        return lockout_response(request, username=username, lockout=lockout)
    response = admin.site.login(request, extra_context)
    if _succeeded(request, response):
        try:
            attempt_release(counters=counters, now=now)
        except (RedisError, OSError) as exc:
            log.warning("admin_login_unthrottled", error=repr(exc))
    else:
        log.info("admin_login_failed")
    return response


def login_counters(*, username: str, ip: str) -> list[Counter]:
    """The counts an attempt adds to: its username's and its address's (limits above 0 only)."""
    named = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    counters = [
        Counter(key=f"user:{named}", limit=settings.ADMIN_LOGIN_FAILURES),
        Counter(key=f"ip:{_network(ip)}", limit=settings.ADMIN_LOGIN_FAILURES_IP),
    ]
    return [c for c in counters if c.limit > 0]


def attempt_reserve(*, counters: list[Counter], now: float) -> Lockout | None:
    """Count an attempt on every counter, or, if one is full, on none and say which."""
    bucket = _bucket(now)
    reserved: list[Counter] = []
    lockout = None
    for counter in counters:
        _increment(counter, bucket, 1)
        reserved.append(counter)
        counts = _counts(counter, now)
        if sum(counts.values()) > counter.limit:
            lockout = Lockout(counter=counter, retry_after=_retry_after(counts, counter, now))
            break
    if lockout is not None:
        for counter in reserved:
            _increment(counter, bucket, -1)
    return lockout


def attempt_release(*, counters: list[Counter], now: float) -> None:
    """Give back an attempt's places: it succeeded, so it was no failure."""
    for counter in counters:
        _increment(counter, _bucket(now), -1)


def lockout_response(request, *, username: str, lockout: Lockout) -> TemplateResponse:
    """The login page, unbound (no password was checked), saying why and for how long."""
    minutes = max(1, math.ceil(lockout.retry_after / 60))
    form = AdminAuthenticationForm(request, initial={"username": username})
    form.cleaned_data = {}  # unbound: validating it would check the password
    form.add_error(
        None,
        f"Too many failed log-ins for this account or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or ask another "
        f"administrator to reset your password.",
    )
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "form": form,
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME) or reverse("admin:index"),
    }
    request.current_app = admin.site.name
    response = TemplateResponse(
        request, admin.site.login_template or "admin/login.html", context, status=429
    )
    response["Retry-After"] = str(max(1, math.ceil(lockout.retry_after)))
    return response


def _succeeded(request, response) -> bool:
    return response.status_code == 302 and request.user.is_authenticated


def _network(ip: str) -> str:
    """An IPv4 address as is; an IPv6 address by its /64 (one host often owns the whole /64)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()[:64] or "unknown"
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _window_seconds() -> int:
    return int(settings.ADMIN_LOGIN_WINDOW_MINUTES * 60)


def _bucket(now: float) -> int:
    return int(now // BUCKET_SECONDS)


def _cache_key(counter: Counter, bucket: int) -> str:
    return f"{CACHE_PREFIX}{counter.key}:{bucket}"


def _increment(counter: Counter, bucket: int, delta: int) -> None:
    key = _cache_key(counter, bucket)
    cache.add(key, 0, timeout=_window_seconds() + BUCKET_SECONDS)
    try:
        cache.incr(key, delta)
    except ValueError:  # expired between add and incr: start the bucket again
        cache.add(key, max(delta, 0), timeout=_window_seconds() + BUCKET_SECONDS)


def _counts(counter: Counter, now: float) -> dict[int, int]:
    """The counter's buckets inside the window, oldest first."""
    last = _bucket(now)
    first = _bucket(now - _window_seconds()) + 1
    keys = {_cache_key(counter, b): b for b in range(first, last + 1)}
    found = cache.get_many(list(keys))
    return {keys[k]: max(int(v), 0) for k, v in sorted(found.items(), key=lambda kv: keys[kv[0]])}


def _retry_after(counts: dict[int, int], counter: Counter, now: float) -> float:
    """Seconds until enough failures leave the window for one more attempt to fit."""
    excess = sum(counts.values()) - counter.limit
    for bucket, count in counts.items():
        excess -= count
        if excess <= 0:
            return bucket * BUCKET_SECONDS + _window_seconds() - now
    return float(_window_seconds())
