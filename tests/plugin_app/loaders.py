"""Loaders whose behaviour a test sets: what they return, how long they take, whether they fail.

`BEHAVIOUR` is read at call time. With `REDIS_URL` set, the plantshop summary also reads its text
from Redis (key `plugin:plantshop`), so that two processes share "the host's data".
"""

from __future__ import annotations

import os
import time

from chat.reply.universes import ContextPart, ContextRequest

BEHAVIOUR: dict = {
    "summary": "Roses bloom in June.",
    "stock": "Tulip bulbs: 40 in stock.",
    "stock_delay": 0.0,
    "stock_fails": False,
}
CALLS: dict[str, int] = {"summary": 0, "stock": 0}


def plantshop_summary(request: ContextRequest) -> ContextPart:
    CALLS["summary"] += 1
    text = BEHAVIOUR["summary"]
    if os.environ.get("PLUGIN_REDIS_URL"):
        import redis

        client = redis.Redis.from_url(os.environ["PLUGIN_REDIS_URL"])
        client.incr("plugin:plantshop:calls")
        text = (client.get("plugin:plantshop") or b"").decode()
    return ContextPart(source="plantshop.summary", title="Plant shop", text=text, priority=10)


def plantshop_stock(request: ContextRequest) -> ContextPart | None:
    CALLS["stock"] += 1
    time.sleep(BEHAVIOUR["stock_delay"])
    if BEHAVIOUR["stock_fails"]:
        raise RuntimeError("the stock service is down")
    return ContextPart(
        source="plantshop.stock", title="Stock", text=BEHAVIOUR["stock"], priority=90
    )


def staff_notes(request: ContextRequest) -> str:
    return "Remember the Friday stock count."
