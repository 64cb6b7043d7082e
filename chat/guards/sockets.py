"""What one WebSocket may cost: frames it sends us, and bytes we owe it.

One socket pushing 19,000 pings a second slowed every other client's; one that never read,
asking for the history again and again, made the process hold 90 MB of replies owed to it. A
token bucket bounds the frames a socket may send (a burst, then a steady rate); a byte budget per
window bounds what we send it (daphne buffers what a client does not read, and tells the app
nothing, so what we sent is the measure). Past either, the consumer says why and closes the socket
with 1008 (policy violation). Ordinary use (a person typing, a reply streaming, a reconnect
replaying history) stays far below both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

POLICY_VIOLATION = 1008


@dataclass
class FrameBudget:
    """A token bucket: `burst` frames at once, then `rate` a second."""

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class SendBudget:
    """At most `limit` bytes sent in any fixed window of `window` seconds (0: no limit)."""

    limit: int
    window: float = 60.0
    used: int = 0
    started: float = field(default_factory=time.monotonic)

    def spend(self, size: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self.started >= self.window:
            self.started, self.used = now, 0
        self.used += size
        return not self.limit or self.used <= self.limit
