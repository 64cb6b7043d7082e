"""One writer per process records chat's events in batches, off the reply path.

Recording a reply is a handful of small writes (its fact, its conversation, rollup rows, the
owner's day). Done one transaction per reply, on SQLite they held the database's only write lock
while the next question, asked the moment an answer ended, wanted it, and on PostgreSQL they
took the CPU it needed: next-question time to first token p50 +10 ms on both
(bench/analytics_recording.py). The receivers now only queue the event; a daemon thread wakes
every `ANALYTICS_FLUSH_MS`, or as soon as `ANALYTICS_BATCH_SIZE` events wait, and records the
queue in one transaction (`recording.events_record`: each rollup row written once per batch):
about 1 ms per reply instead of 7 to 20, and p50 within 0 to 2.5 ms of no recording at all.

- Order: events are recorded in arrival order, batch after batch, one batch at a time; a failed
  batch is retried before any later one, so a rating queued behind its conversation's first reply
  finds the conversation.
- Nothing lost silently: a batch whose transaction fails (it rolls back whole, so a retry never
  counts a reply twice) is tried `WRITE_ATTEMPTS` times, then its events one by one; an event that
  fails alone is dropped and logged (`analytics_batch_dropped`, with counts).
- Bounded: past `ANALYTICS_QUEUE_MAX` waiting events, the thread that queues (a signals worker,
  never the event loop) records the queue itself: back-pressure on the listeners, no loss. Called
  on a running event loop, it drops the event instead, logged and counted: the loop never blocks.
- Shutdown: `atexit` stops the thread and records what is left (daphne, `manage.py serve` and
  `runserver` exit through it).
- `ANALYTICS_FLUSH_MS = 0` records each event in place, on the caller's thread (the tests).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections import deque
from contextlib import contextmanager

import structlog
from django.conf import settings
from django.db import close_old_connections, connection, connections

from analytics.services import recording
from analytics.services.recording import Event

log = structlog.get_logger(__name__)

WRITE_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.25  # times the attempt number
STOP_TIMEOUT_SECONDS = 10.0


@contextmanager
def worker_connection():
    """A thread outside any request: drop a stale or expired connection before and after, as
    Django does around requests (CONN_MAX_AGE, CONN_HEALTH_CHECKS). Never inside a transaction
    (a caller that sends the signal in place, as tests do)."""
    own = not connection.in_atomic_block
    if own:
        close_old_connections()
    try:
        yield
    finally:
        if own:
            close_old_connections()


class Writer:
    """A queue of recording events and the daemon thread that drains it (see the module)."""

    def __init__(self) -> None:
        self._events: deque[Event] = deque()
        self._lock = threading.Lock()  # the queue and the thread
        self._writing = threading.Lock()  # one batch at a time: batches land in arrival order
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._exit_hooked = False
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Queue `event` (or record it in place when ANALYTICS_FLUSH_MS is 0)."""
        if settings.ANALYTICS_FLUSH_MS <= 0:
            with worker_connection():
                recording.event_record(event)
            return
        with self._lock:
            full = len(self._events) >= settings.ANALYTICS_QUEUE_MAX
            if full and _on_event_loop():
                self._drop(waiting=len(self._events))
                return
            self._events.append(event)
            waiting = len(self._events)
            self._thread_start()
        if full:
            log.warning("analytics_queue_full", waiting=waiting)
            self.flush()  # on a worker thread: record the queue here, in order
        elif waiting >= settings.ANALYTICS_BATCH_SIZE:
            self._wake.set()

    def flush(self) -> None:
        """Record every waiting event now, on the caller's thread (tests, shutdown, overflow)."""
        while self._write_next():
            pass

    def stop(self) -> None:
        """Stop the thread, then record what is left (atexit)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(STOP_TIMEOUT_SECONDS)
        self.flush()
        with self._lock:
            self._thread = None
            self._stopping.clear()

    def waiting(self) -> int:
        return len(self._events)

    def _thread_start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
        self._thread.start()
        if not self._exit_hooked:
            atexit.register(self.stop)
            self._exit_hooked = True

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                # never a busy loop, even if a test sets the interval to 0 while we run
                self._wake.wait(max(settings.ANALYTICS_FLUSH_MS, 10) / 1000)
                self._wake.clear()
                while not self._stopping.is_set() and self._write_next():
                    pass
        finally:
            connections.close_all()

    def _write_next(self) -> bool:
        """Record the next batch; False when none was waiting."""
        with self._writing:
            with self._lock:
                size = min(len(self._events), max(settings.ANALYTICS_BATCH_SIZE, 1))
                batch = [self._events.popleft() for _ in range(size)]
            if batch:
                self._write(batch)
            return bool(batch)

    def _write(self, batch: list[Event]) -> None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with worker_connection():
                    recording.events_record(batch)
                return
            except Exception as error:  # noqa: BLE001 - retried, then recorded apart
                log.warning("analytics_batch_failed", events=len(batch), attempt=attempt,
                            error=repr(error))  # fmt: skip
                if attempt < WRITE_ATTEMPTS:
                    time.sleep(RETRY_PAUSE_SECONDS * attempt)
        self._write_apart(batch)

    def _write_apart(self, batch: list[Event]) -> None:
        """Record a batch that keeps failing one event at a time: one bad event (or a conflict)
        costs that event alone."""
        lost = 0
        for event in batch:
            try:
                with worker_connection():
                    recording.events_record([event])
            except Exception:  # noqa: BLE001 - logged with the event's kind and counted
                lost += 1
                log.exception("analytics_event_failed", kind=type(event).__name__)
        self.dropped += lost
        log.error("analytics_batch_dropped", events=len(batch), dropped=lost,
                  dropped_total=self.dropped)  # fmt: skip

    def _drop(self, *, waiting: int) -> None:
        self.dropped += 1
        log.error("analytics_event_dropped", reason="queue_full_on_event_loop", waiting=waiting,
                  dropped_total=self.dropped)  # fmt: skip


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_writer = Writer()


def writer_put(event: Event) -> None:
    """Queue one recording event for this process's writer (see the module docstring)."""
    _writer.put(event)


def writer_flush() -> None:
    """Record every waiting event now, on the caller's thread (tests: after signals_wait_idle)."""
    _writer.flush()


def writer_stop() -> None:
    """Stop this process's writer thread and record what is left (registered with atexit)."""
    _writer.stop()
