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
  batch goes back to the head of the queue, so a rating queued behind its conversation's first
  reply in this process finds the conversation.
- A database outage loses nothing the queue can hold: a batch whose transaction fails (it rolls
  back whole, so a retry never counts a reply twice) on an error that goes away
  (`OperationalError`, `InterfaceError`: "database is locked", a PostgreSQL restart, a deadlock,
  a serialization failure) waits at the head of the queue while the writer backs off (0.5 s,
  doubling, at most `BACKOFF_MAX_SECONDS`). On any other error (`IntegrityError`, `DataError`,
  `ValueError`...) the batch is recorded one event at a time, each tried `EVENT_ATTEMPTS` times;
  only an event that fails alone is dropped, logged and counted (`analytics_batch_dropped`).
- Bounded: past `ANALYTICS_QUEUE_MAX` waiting events, the thread that queues (a signals worker,
  never the event loop) records the queue itself: back-pressure on the listeners, no loss. On a
  running event loop it drops the new event instead, and during an outage the oldest: logged and
  counted (`analytics_event_dropped`), the loop never blocks and memory stays bounded.
- Shutdown: `atexit` closes the writer: it stops the thread, records what is left (daphne,
  `manage.py serve` and `runserver` exit through it), and a `put` after that records in place.
  `writer_stop` drains without closing (a bench or a test runs the writer again).
- What a crash loses: a hard kill (SIGKILL, the OOM killer) skips `atexit`, so the events still
  queued are lost: at most the last `ANALYTICS_FLUSH_MS` of them (more during an outage, when
  batches wait to be retried).
- A rating can reach this process (another worker's request) before its conversation's first
  reply, queued in another process, has landed: it finds no conversation, so the writer keeps it
  and tries it again with each batch and each wake, for `UNMATCHED_RATING_WAIT_SECONDS` (60 s);
  past that, or at a stop, it is dropped, logged and counted (`analytics_rating_dropped`).
- `ANALYTICS_FLUSH_MS = 0` records each event in place, on the caller's thread (the tests).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Any

import structlog
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
)

from analytics.services import recording
from analytics.services.events import Event, RatingEvent

log = structlog.get_logger(__name__)

EVENT_ATTEMPTS = 2  # an event recorded alone: a second try reads a row another process created
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# a rating can reach this process before its conversation's first reply lands from another
UNMATCHED_RATING_WAIT_SECONDS = 60.0
# errors that go away: the database is locked, restarting, or chose this transaction to abort
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


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
        self._lock = threading.Lock()  # the queue, the thread and the back-off
        self._writing = threading.Lock()  # one batch at a time: batches land in arrival order
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._exit_hooked = False
        self._closed = False
        self.failures = 0  # transient failures in a row: the back-off's exponent
        self.retry_at = 0.0  # time.monotonic() before which the thread does not retry
        self._unmatched: list[tuple[float, RatingEvent]] = []  # (deadline, rating): _writing
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Queue `event` (or record it in place when ANALYTICS_FLUSH_MS is 0 or the writer is
        closed)."""
        if settings.ANALYTICS_FLUSH_MS <= 0:
            with worker_connection():
                recording.event_record(event)
            return
        with self._lock:
            full = len(self._events) >= settings.ANALYTICS_QUEUE_MAX
            if full and _on_event_loop():
                self._drop(reason="queue_full_on_event_loop", waiting=len(self._events))
                return
            if full and self.failures:
                self._events.popleft()  # the database is out: flushing here would fail too
                self._drop(reason="queue_full_during_outage", waiting=len(self._events))
                full = False
            self._events.append(event)
            waiting = len(self._events)
            if not self._closed:
                self._thread_start()
        if self._closed:
            self.flush()  # after shutdown no thread will: record it here, behind the queue
        elif full:
            log.warning("analytics_queue_full", waiting=waiting)
            self.flush()  # on a worker thread: record the queue here, in order
        elif waiting >= settings.ANALYTICS_BATCH_SIZE:
            self._wake.set()

    def flush(self) -> None:
        """Record every waiting event now, on the caller's thread (tests, shutdown, overflow);
        stop at a transient failure, leaving the queue for the thread's retry."""
        while self._write_next():
            pass

    def stop(self) -> None:
        """Stop the thread, then record what is left (`writer_stop`; it starts again on the
        next `put`)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(STOP_TIMEOUT_SECONDS)
            if thread.is_alive():  # stuck in a write (a hung database): leave it be
                log.error("analytics_writer_stuck", waiting=len(self._events))
                return  # not flushed here (it would wait on the same write), no second thread
        self.flush()
        self.unmatched_retry(final=True)
        with self._lock:
            self._thread = None
            self._stopping.clear()
        if self._events:
            log.error("analytics_events_left_unrecorded", waiting=len(self._events))

    def close(self) -> None:
        """Stop for good (atexit): what is left is recorded, and so is any later event, in
        place, since no thread would flush it."""
        with self._lock:
            self._closed = True
        self.stop()

    def waiting(self) -> int:
        return len(self._events)

    def _thread_start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
        self._thread.start()
        if not self._exit_hooked:
            atexit.register(self.close)
            self._exit_hooked = True

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.wait(self._pause())
                self._wake.clear()
                if time.monotonic() < self.retry_at:
                    continue  # woken by a full batch while backing off: wait the rest
                wrote = False
                while not self._stopping.is_set() and self._write_next():
                    wrote = True  # the waiting ratings went first in those batches
                self.unmatched_retry(write=not wrote)
        finally:
            connections.close_all()

    def _pause(self) -> float:
        """Seconds until the next write: the flush interval, or what is left of the back-off.
        Never a busy loop, even if a test sets the interval to 0 while we run."""
        backoff = self.retry_at - time.monotonic()
        if backoff > 0:
            return max(backoff, 0.01)
        return max(settings.ANALYTICS_FLUSH_MS, 10) / 1000

    def _write_next(self) -> bool:
        """Record the next batch; False when none was waiting or the database is out."""
        with self._writing:
            with self._lock:
                size = min(len(self._events), max(settings.ANALYTICS_BATCH_SIZE, 1))
                batch = [self._events.popleft() for _ in range(size)]
            if not batch:
                return False
            return self._write(batch)

    def unmatched_retry(self, *, final: bool = False, write: bool = True) -> None:
        """Try again (unless `write` is False: a batch just took them along) the ratings that
        found no conversation (its first reply may still wait in another process's writer);
        drop those older than UNMATCHED_RATING_WAIT_SECONDS, or all that are left when `final`
        (a stop)."""
        with self._writing:
            if write and self._unmatched and not self.failures:
                self._write([])
            now = time.monotonic()
            expired = [r for deadline, r in self._unmatched if final or deadline <= now]
            self._unmatched = [(d, r) for d, r in self._unmatched if not final and d > now]
        for rating in expired:
            with self._lock:
                self.dropped += 1
            log.error("analytics_rating_dropped", session_id=rating.session_id,
                      reason="no_conversation", dropped_total=self.dropped)  # fmt: skip

    def _write(self, batch: list[Event]) -> bool:
        """Record `batch` in one transaction, behind the ratings still waiting for their
        conversation; on a lasting error, one event at a time."""
        waited, self._unmatched = self._unmatched, []
        batch = [rating for _, rating in waited] + batch
        try:
            with worker_connection():
                results = recording.events_record(batch)
        except TRANSIENT_ERRORS as error:
            self._back_off(batch, error=error)
            return False
        except Exception as error:  # noqa: BLE001 - recorded apart: one bad event costs itself
            log.warning("analytics_batch_failed", events=len(batch), transient=False,
                        error=repr(error))  # fmt: skip
            return self._write_apart(batch, waited=waited)
        self._recovered()
        self._unmatched_keep(batch, results, waited=waited)
        return True

    def _unmatched_keep(self, batch: list[Event], results: list, *, waited: list) -> None:
        """Keep the ratings of `batch` that found no conversation, each with its first deadline
        (`waited`: the (deadline, rating) pairs that went into the batch)."""
        deadlines = {id(rating): deadline for deadline, rating in waited}
        deadline = time.monotonic() + UNMATCHED_RATING_WAIT_SECONDS
        for event, recorded in zip(batch, results, strict=True):
            if isinstance(event, RatingEvent) and recorded is False:
                self._unmatched.append((deadlines.get(id(event), deadline), event))

    def _write_apart(self, batch: list[Event], *, waited: list) -> bool:
        """Record a batch that failed, one event at a time: an event that fails alone
        `EVENT_ATTEMPTS` times is dropped and logged; a transient error puts the rest back; a
        rating that still finds no conversation waits again."""
        lost = 0
        for index, event in enumerate(batch):
            try:
                recorded, result = self._write_alone(event)
                lost += not recorded
                if recorded:
                    self._unmatched_keep([event], [result], waited=waited)
            except TRANSIENT_ERRORS as error:
                self._back_off(batch[index:], error=error)
                self._dropped_log(events=index, lost=lost)
                return False
        self._recovered()
        self._dropped_log(events=len(batch), lost=lost)
        return True

    def _write_alone(self, event: Event) -> tuple[bool, Any]:
        """Record one event: (False, None) when it failed every attempt (it is then dropped),
        else (True, what recording it returned)."""
        for attempt in range(1, EVENT_ATTEMPTS + 1):
            try:
                with worker_connection():
                    return True, recording.events_record([event])[0]
            except TRANSIENT_ERRORS:
                raise
            except Exception:  # noqa: BLE001 - logged with the event's kind, then dropped
                log.exception("analytics_event_failed", kind=type(event).__name__,
                              attempt=attempt)  # fmt: skip
        return False, None

    def _back_off(self, batch: list[Event], *, error: Exception) -> None:
        """Put `batch` back at the head of the queue (the oldest past ANALYTICS_QUEUE_MAX
        dropped) and wait longer before each retry."""
        with self._lock:
            self._events.extendleft(reversed(batch))
            while len(self._events) > max(settings.ANALYTICS_QUEUE_MAX, 1):
                self._events.popleft()
                self._drop(reason="queue_full_during_outage", waiting=len(self._events))
            self.failures += 1
            pause = min(BACKOFF_FIRST_SECONDS * 2 ** (self.failures - 1), BACKOFF_MAX_SECONDS)
            self.retry_at = time.monotonic() + pause
        log.warning("analytics_batch_failed", events=len(batch), transient=True,
                    failures=self.failures, retry_in_s=pause, error=repr(error))  # fmt: skip

    def _recovered(self) -> None:
        if self.failures:
            log.info("analytics_writer_recovered", failures=self.failures)
        with self._lock:
            self.failures, self.retry_at = 0, 0.0

    def _dropped_log(self, *, events: int, lost: int) -> None:
        if not lost:
            return
        with self._lock:
            self.dropped += lost
        log.error("analytics_batch_dropped", events=events, dropped=lost,
                  dropped_total=self.dropped)  # fmt: skip

    def _drop(self, *, reason: str, waiting: int) -> None:
        self.dropped += 1
        log.error("analytics_event_dropped", reason=reason, waiting=waiting,
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
    """Stop this process's writer thread and record what is left (the next event starts it
    again; atexit closes the writer instead: see `Writer.close`)."""
    _writer.stop()
