"""Job kinds and the functions that run them.

A registry is an ordinary object (no module-level state to mutate): the worker builds one with
the built-in kinds and the application may add its own. A job function gets a
:class:`JobContext` and the job's payload; returning means done, raising :class:`RetryLater`
asks for another attempt at a given time, any other exception is retried with backoff until
the job's ``max_attempts`` and then recorded as failed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from postroom.errors import PostroomError

if TYPE_CHECKING:
    from postroom.app import Postroom


class RetryLater(PostroomError):
    """Raised by a job function: try again after ``delay`` (a transient failure)."""

    def __init__(self, reason: str, delay: timedelta = timedelta(minutes=5)) -> None:
        self.reason = reason
        self.delay = delay
        super().__init__(reason)


@dataclass(slots=True)
class JobContext:
    """What a job function may use: the application, the clock, the job's attempt number."""

    room: Postroom
    now: datetime
    attempts: int
    rng: random.Random = field(default_factory=random.Random)


JobFunc = Callable[[JobContext, Mapping[str, Any]], None]


class JobRegistry:
    def __init__(self) -> None:
        self._kinds: dict[str, JobFunc] = {}

    def add(self, kind: str, func: JobFunc) -> None:
        if kind in self._kinds:
            raise ValueError(f"job kind {kind!r} is registered already")
        self._kinds[kind] = func

    def get(self, kind: str) -> JobFunc | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)


def run_prune(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    """The daily ``postroom prune``: expired sessions, old Message-IDs, finished jobs and
    webhook messages."""
    from postroom.store import queue
    from postroom.store.webhooks import delete_finished_messages

    ctx.room.prune()
    before = ctx.now - ctx.room.settings.session_prune_after
    with ctx.room.database.transaction() as tx:
        queue.delete_finished_jobs(tx, before)
        delete_finished_messages(tx, before)


def default_registry(imap_opener: Any = None) -> JobRegistry:
    """The built-in kinds: ``prune``, ``notice``, the Mailbox part's ``sent-reconcile``
    and ``mailbox-discover`` (``imap_opener`` opens their IMAP sessions; tests pass a fake),
    and the webhooks' ``webhook`` and ``handler-retry``."""
    from postroom.jobs.notices import run_notice
    from postroom.mailbox.jobs import register
    from postroom.webhooks.delivery import register as register_webhooks

    registry = JobRegistry()
    registry.add("prune", run_prune)
    registry.add("notice", run_notice)
    register(registry, imap_opener)
    register_webhooks(registry)
    return registry
