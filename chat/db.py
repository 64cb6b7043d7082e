"""The one bridge from async code to the ORM.

Selectors and services are sync (Django's ORM is); async callers use their `a...` twins, made
here with `db_async`, as `contrib.sessions` offers `aget`/`asave`. Every twin goes through
channels' `database_sync_to_async`, which closes stale connections around the call, so the
choice of executor is made in this one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def db_async(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """The async twin of a sync selector or service."""
    twin = database_sync_to_async(function)
    twin.__name__ = f"a{function.__name__}"
    twin.__doc__ = function.__doc__
    return twin
