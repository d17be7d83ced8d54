"""``postroom worker``: delivers due copies and runs due jobs until it is told to stop.

One process holds up to ``concurrency`` SMTP connections (one sender thread each, never more
per account than the account's ``limits.connections``, counted across all workers through the
``connection_leases`` table) and one thread for other jobs. Threads suit the work: it waits on
sockets and the database, and the protocol core is sans-IO, so one core serves any shell.

Stopping (SIGTERM or SIGINT): no new copy is started, the copy in flight on each connection is
finished and recorded, claimed copies not yet started are released (due at once for another
worker), connections are closed with QUIT and their slots released. A worker killed outright
leaves at most the copy in flight on each of its connections unrecorded (sent twice at worst,
once its lease runs out); nothing is lost.

The worker enqueues the daily prune itself (one job per day across all workers, by its unique
key), and a Sent folder reconciliation for every email whose copies are all final (one per
email, by its unique key; see :mod:`postroom.mailbox.jobs`). Every
``webhooks.fanout_interval`` it queues new events for the webhook endpoints
(:mod:`postroom.webhooks.delivery`). With ``mailbox.watch`` set, one thread per watched
mailbox polls it (IDLE where offered) and hands new messages to the inbound pipeline
(:mod:`postroom.mailbox.watch`).
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from postroom.errors import StoreUnavailable
from postroom.jobs.registry import JobContext, JobRegistry, RetryLater, default_registry
from postroom.jobs.retry import Backoff
from postroom.store import queue

if TYPE_CHECKING:
    from postroom.app import Postroom

log = logging.getLogger("postroom.worker")

JOB_LEASE = timedelta(minutes=10)
JOB_BACKOFF = Backoff(timedelta(seconds=30), timedelta(hours=1), timedelta(days=7))

# Runs one account's deliveries on one connection slot until nothing is due or stop is set.
AccountRunner = Callable[[int, threading.Event], int]


def worker_name() -> str:
    """host:pid:random, so claims say who holds them and a restarted process is new."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class WorkerStats:
    copies: int = 0
    jobs: int = 0
    errors: list[str] = field(default_factory=list)


class Worker:
    """Delivers copies and runs jobs for one application (a :class:`~postroom.app.Postroom`)."""

    def __init__(
        self,
        room: Postroom,
        *,
        concurrency: int = 4,
        poll_interval: float = 1.0,
        name: str | None = None,
        registry: JobRegistry | None = None,
        rng: random.Random | None = None,
        imap_opener: Any = None,
        **delivery: Any,
    ) -> None:
        """``delivery`` options go to :class:`~postroom.jobs.delivering.Deliverer`
        (``connector``, ``timeouts``, ``ca_file``, ``token_transport``); ``imap_opener``
        opens IMAP sessions for the Mailbox part (default: the account's own settings)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.room = room
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.name = name or worker_name()
        self.imap_opener = imap_opener
        self.registry = registry or default_registry(imap_opener)
        self.rng = rng or random.Random()
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._senders: dict[int, list[threading.Thread]] = {}
        self._deliver: AccountRunner | None = None
        self._delivery_options = delivery
        self._next_fanout = 0.0

    # -- the parts ---------------------------------------------------------------------------

    @property
    def deliver(self) -> AccountRunner:
        if self._deliver is None:
            from postroom.jobs.delivering import Deliverer

            deliverer = Deliverer(
                self.room, worker=self.name, rng=self.rng, **self._delivery_options
            )
            self._deliver = deliverer.run_account
        return self._deliver

    def stop(self) -> None:
        """Ask every thread to finish what it started and stop."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- running -----------------------------------------------------------------------------

    def run(self, *, signals: bool = True) -> WorkerStats:
        """Work until :meth:`stop` (or SIGTERM/SIGINT when ``signals``); returns the tally."""
        if signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        log.info("worker %s started (concurrency %d)", self.name, self.concurrency)
        jobs = threading.Thread(target=self._job_loop, name="postroom-jobs", daemon=True)
        jobs.start()
        pollers = self._start_pollers()
        try:
            while not self._stop.is_set():
                try:
                    self._start_senders()
                except StoreUnavailable as exc:
                    log.warning("database unavailable, trying again: %s", exc)
                self._stop.wait(self.poll_interval)
        finally:
            self._stop.set()
            for thread in self._threads():
                thread.join()
            jobs.join()
            for poller in pollers:
                poller.join()
            log.info(
                "worker %s stopped: %d copies, %d jobs",
                self.name,
                self.stats.copies,
                self.stats.jobs,
            )
        return self.stats

    def drain(self, *, timeout: float = 60.0) -> WorkerStats:
        """Deliver and run everything due now, in this thread, then return (tests, demo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.room.clock()
            with self.room.database.transaction() as tx:
                due = queue.due_accounts(tx, now)
            done = sum(self.deliver(account, self._stop) for account, _ in due)
            self.stats.copies += done
            self._schedule_mailbox()
            fanned = self._fan_out(force=True)
            ran = self.run_jobs()
            if not done and not ran and not fanned:
                break
        return self.stats

    def _threads(self) -> list[threading.Thread]:
        with self._lock:
            return [t for threads in self._senders.values() for t in threads]

    def _start_senders(self) -> None:
        """Start sender threads for accounts with due copies: up to the account's connection
        limit and this worker's concurrency. A sender that finds every slot of its account
        held (by other workers) ends at once."""
        now = self.room.clock()
        with self.room.database.transaction() as tx:
            due = queue.due_accounts(tx, now)
        with self._lock:
            for account_id, threads in list(self._senders.items()):
                self._senders[account_id] = [t for t in threads if t.is_alive()]
            running = sum(len(t) for t in self._senders.values())
            for account_id, connections in due:
                alive = self._senders.setdefault(account_id, [])
                while len(alive) < min(connections, self.concurrency) and (
                    running < self.concurrency
                ):
                    thread = threading.Thread(
                        target=self._sender,
                        args=(account_id,),
                        name=f"postroom-send-{account_id}",
                        daemon=True,
                    )
                    alive.append(thread)
                    running += 1
                    thread.start()

    def _sender(self, account_id: int) -> None:
        try:
            done = self.deliver(account_id, self._stop)
            with self._lock:  # several sender threads count at once
                self.stats.copies += done
        except StoreUnavailable as exc:
            log.warning("database unavailable while sending for account %s: %s", account_id, exc)
        except Exception:  # a bug must not take the worker down; it is logged with its cause
            self.stats.errors.append(traceback.format_exc())
            log.exception("sending for account %s failed", account_id)

    # -- other jobs --------------------------------------------------------------------------

    def _job_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._schedule_prune()
                self._schedule_mailbox()
                ran = self._fan_out() + self.run_jobs()
            except StoreUnavailable as exc:
                log.warning("database unavailable for jobs, trying again: %s", exc)
                ran = 0
            except Exception:
                self.stats.errors.append(traceback.format_exc())
                log.exception("running jobs failed")
                ran = 0
            if not ran:
                self._stop.wait(self.poll_interval)

    def _schedule_prune(self) -> None:
        now = self.room.clock()
        day = now.date().isoformat()
        with self.room.database.transaction() as tx:
            queue.enqueue_job(
                tx, kind="prune", payload={}, now=now, unique_key=f"prune:{day}", max_attempts=3
            )

    def _fan_out(self, *, force: bool = False) -> int:
        """Queue new events for the webhook endpoints, at most every fanout_interval."""
        started = time.monotonic()
        if not force and started < self._next_fanout:
            return 0
        interval = self.room.settings.webhooks.fanout_interval.total_seconds()
        self._next_fanout = started + interval
        from postroom.webhooks.delivery import fan_out

        return fan_out(self.room)

    def _schedule_mailbox(self) -> None:
        from postroom.mailbox.jobs import schedule_reconciliations

        schedule_reconciliations(self.room)

    def _start_pollers(self) -> list[threading.Thread]:
        from postroom.mailbox.watch import MailboxPoller, WatchedMailbox

        threads = []
        for text in self.room.settings.mailbox.watch:
            poller = MailboxPoller(
                self.room, WatchedMailbox.parse(text), worker=self.name, opener=self.imap_opener
            )
            thread = threading.Thread(
                target=self._poll, args=(poller,), name=f"postroom-watch-{text}", daemon=True
            )
            thread.start()
            threads.append(thread)
        return threads

    def _poll(self, poller: Any) -> None:
        try:
            poller.run(self._stop)
        except Exception:  # a bug must not take the worker down; it is logged with its cause
            self.stats.errors.append(traceback.format_exc())
            log.exception("watching %s failed", poller.mailbox)

    def run_jobs(self, limit: int = 20) -> int:
        """Claim and run due jobs once; returns how many ran."""
        now = self.room.clock()
        kinds = self.registry.kinds()
        with self.room.database.transaction() as tx:
            claimed = queue.claim_jobs(
                tx, worker=self.name, now=now, lease=JOB_LEASE, kinds=kinds, limit=limit
            )
        for index, job in enumerate(claimed):
            if self._stop.is_set() and index:
                with self.room.database.transaction() as tx:
                    queue.release_jobs(
                        tx, [j.id for j in claimed[index:]], worker=self.name, now=now
                    )
                return index
            self._run_job(job)
        return len(claimed)

    def _run_job(self, job: queue.ClaimedJob) -> None:
        func = self.registry.get(job.kind)
        now = self.room.clock()
        status, error, run_at = "done", None, None
        try:
            if func is None:
                raise LookupError(f"no function for job kind {job.kind!r}")
            func(JobContext(self.room, now, job.attempts, self.rng), job.payload or {})
        except RetryLater as exc:
            status, error, run_at = "queued", exc.reason, now + exc.delay
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            retry = JOB_BACKOFF.next_attempt(
                attempts=job.attempts, now=now, created_at=now, rng=self.rng
            )
            if job.attempts < job.max_attempts and retry is not None:
                status, run_at = "queued", retry
            else:
                status = "failed"
            log.warning(
                "job %s #%d (%s) attempt %d: %s", job.kind, job.id, status, job.attempts, error
            )
        with self.room.database.transaction() as tx:
            queue.finish_job(
                tx, job.id, now=self.room.clock(), status=status, error=error, run_at=run_at
            )
        self.stats.jobs += 1
