"""The title queue: titles wait while this process is busy with replies, then are made one by one.

A title is a whole second model call per new conversation (an upstream request and a stream
relayed through this process). Made at once, the 200 first replies of a burst made 200 titles
that competed for the process's CPU with the replies still streaming (bench/README.md). The
`reply_finished` receiver now only queues a title, and at most `WORKERS` daemon threads make them:

- Low priority: a title starts while fewer than `CHAT_TITLES_IDLE_BELOW` replies are being
  generated in this process (counted from the `reply_in_flight` signal), or once it has waited
  `CHAT_TITLES_MAX_DELAY_SECONDS` however busy the process is (logged `title_forced`).
- Order: first queued, first made. A conversation is queued once: a second `reply_finished` for
  one that is waiting or being titled is ignored.
- Bounded: past `CHAT_TITLES_QUEUE_MAX` waiting titles a new one is not queued and its
  conversation keeps its first-words title, the fallback (logged `title_dropped`).
- Threads live while there is work: `put` starts them, and each ends when the queue is empty.
  At exit (`atexit`) what still waits is dropped (logged; the first words stay); the threads are
  daemons, so a title being made never holds the exit. `reset` does the same for tests and then
  opens the queue again.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import connections

log = structlog.get_logger(__name__)

WORKERS = 2  # title calls at once, at most
STOP_TIMEOUT_SECONDS = 20.0  # a title call ends within its own timeout (15 s)


@dataclass(frozen=True)
class TitleJob:
    """A conversation waiting for its title."""

    session_id: str
    reply_id: str
    question: str
    words: str  # its first-words title: the fallback
    only_if: str  # its title when queued: replaced only while it is still this one
    loop: asyncio.AbstractEventLoop | None  # the server's loop the reply ran on, if any
    queued_at: float = field(default_factory=time.monotonic)


class TitleQueue:
    """Title jobs, the replies in flight, and the threads that make titles (see the module)."""

    def __init__(self, make: Callable[[TitleJob], None], *, workers: int = WORKERS) -> None:
        self.make = make
        self.workers = workers
        self._jobs: deque[TitleJob] = deque()
        self._sessions: set[str] = set()  # waiting or being made: queued once
        self._cond = threading.Condition()  # all of the above and below
        self._threads: set[threading.Thread] = set()
        self._making = 0
        self._in_flight = 0
        self._closed = False
        self._exit_hooked = False
        self.dropped = 0

    def put(self, job: TitleJob) -> bool:
        """Queue `job`; False when it was not (already queued, the queue is full or closed)."""
        with self._cond:
            if job.session_id in self._sessions:
                return False
            waiting = len(self._jobs)
            refused = "closed" if self._closed else ""
            if not refused and waiting >= settings.CHAT_TITLES_QUEUE_MAX:
                refused = "queue_full"
            if not refused:
                self._jobs.append(job)
                self._sessions.add(job.session_id)
                waiting_threads = len(self._threads) - self._making
                if waiting_threads < len(self._jobs) and len(self._threads) < self.workers:
                    self._thread_start()
                return True
            self.dropped += 1
        log.warning("title_dropped", session_id=job.session_id, reason=refused, waiting=waiting,
                    dropped_total=self.dropped)  # fmt: skip
        return False

    def in_flight_add(self, delta: int) -> None:
        """A reply started (+1) or ended (-1) in this process (on the event loop: cheap)."""
        with self._cond:
            self._in_flight += delta
            if delta < 0 and self._jobs:
                self._cond.notify_all()

    def waiting(self) -> int:
        return len(self._jobs)

    def idle(self) -> bool:
        """Nothing waits and no title is being made."""
        with self._cond:
            return not self._jobs and not self._threads

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._threads, timeout)

    def close(self, *, timeout: float = 0) -> bool:
        """Drop what waits (its conversations keep their first words) and let the threads end;
        wait up to `timeout` seconds for a title being made. Return whether every thread ended."""
        with self._cond:
            self._closed = True
            dropped = list(self._jobs)
            self._jobs.clear()
            self._sessions.difference_update(job.session_id for job in dropped)
            self.dropped += len(dropped)
            self._cond.notify_all()
            threads = list(self._threads)
        if dropped:
            log.warning("titles_dropped_at_stop", dropped=len(dropped))
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))
        return not any(thread.is_alive() for thread in threads)

    def reset(self) -> bool:
        """Close, wait for the threads, then open again with nothing counted (tests)."""
        stopped = self.close(timeout=STOP_TIMEOUT_SECONDS)
        with self._cond:
            self._closed = False
            self._in_flight = 0
            self.dropped = 0
            self._sessions.clear()
        return stopped

    def _thread_start(self) -> None:
        thread = threading.Thread(target=self._run, name="titles", daemon=True)
        self._threads.add(thread)
        try:
            thread.start()
        except RuntimeError:  # at interpreter shutdown, or no thread to be had
            self._threads.discard(thread)  # never counted as a worker that will come
            log.warning("title_thread_not_started", waiting=len(self._jobs))
            return
        if not self._exit_hooked:
            atexit.register(self.close)
            self._exit_hooked = True

    def _run(self) -> None:
        try:
            while (job := self._next()) is not None:
                try:
                    self.make(job)
                except Exception:  # noqa: BLE001 - one title's bug must not stop the others
                    log.exception("title_crashed", session_id=job.session_id)
                finally:
                    connections.close_all()  # this thread's, back to the pool
                    with self._cond:
                        self._making -= 1
                        self._sessions.discard(job.session_id)
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._threads.discard(threading.current_thread())
                self._cond.notify_all()

    def _next(self) -> TitleJob | None:
        """The oldest job once the process is not busy or it has waited long enough; None when
        there is none (the thread then ends)."""
        with self._cond:
            while True:
                if not self._jobs or self._closed:
                    self._threads.discard(threading.current_thread())
                    self._cond.notify_all()
                    return None
                job = self._jobs[0]
                left = job.queued_at + settings.CHAT_TITLES_MAX_DELAY_SECONDS - time.monotonic()
                busy = self._in_flight >= settings.CHAT_TITLES_IDLE_BELOW
                if not busy or left <= 0:
                    break
                self._cond.wait(left)
            self._jobs.popleft()
            self._making += 1
            in_flight = self._in_flight
        if busy:
            log.info("title_forced", session_id=job.session_id, in_flight=in_flight,
                     waited_s=round(time.monotonic() - job.queued_at, 1))  # fmt: skip
        return job
