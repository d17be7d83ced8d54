"""What the pipeline does to the world, behind one interface.

:class:`LiveEffects` writes to the store, sends error emails and calls handlers;
:class:`DryRunEffects` reads the store but only describes every write, so ``postroom replay
--dry-run`` walks exactly the decisions a real run would take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

from postroom.handlers import HandlerSpec, module_id_for
from postroom.inbound.types import Reply
from postroom.mailer import MailTransport
from postroom.settings import Settings
from postroom.store import inbound as repos
from postroom.store.driver import Driver

if TYPE_CHECKING:
    from postroom.webhooks.transport import WebhookTransport

CLAIM_LEASE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SessionView:
    """The parts of a session row the pipeline decides on (detached from the ORM)."""

    id: int
    module: int
    user_id: int
    data: Any
    expires_at: datetime
    uses_left: int | None
    use_count: int
    address: str | None = None


@dataclass(frozen=True, slots=True)
class SentCopy:
    """Whose copy a Message-ID or delivery id was (see ``Postroom.remember_sent``)."""

    message_id: str
    user_id: int | None
    module: int | None
    recipient: str | None


@dataclass(frozen=True, slots=True)
class BounceTally:
    score: float
    crossed: bool
    newly_suppressed: bool


class Effects(Protocol):
    steps: list[str]
    #: The inbound row this message holds a claim on (set by a committed :meth:`claim`).
    claimed: int | None

    def unit(self) -> AbstractContextManager[None]: ...

    def claim(self, key: str, values: Mapping[str, Any]) -> tuple[int | None, bool, str]: ...
    def find_session(self, key: bytes) -> SessionView | None: ...
    def find_copy(
        self, *, message_id: str | None = None, delivery_id: int | None = None
    ) -> SentCopy | None: ...
    def take_use(self, session_id: int) -> bool: ...
    def give_back_use(self, session_id: int) -> None: ...
    def count_bounce(
        self, *, user_id: int, hard: bool, address: str | None, details: Mapping[str, Any]
    ) -> BounceTally: ...
    def suppress(self, *, user_id: int, address: str | None, reason: str) -> bool: ...
    def event(self, type: str, **values: Any) -> None: ...
    def notify(self, kind: str, message: EmailMessage, inbound_id: int | None) -> str: ...
    def dispatch(self, spec: HandlerSpec, reply: Reply) -> None: ...
    def url_handler(self, module: int) -> HandlerSpec | None: ...
    def retry_dispatch(self, inbound_id: int | None, reason: str) -> None: ...
    def finish(self, inbound_id: int | None, **values: Any) -> None: ...


def _view(row: Any) -> SessionView:
    return SessionView(
        id=row.id,
        module=row.module,
        user_id=row.user_id,
        data=row.data,
        expires_at=row.expires_at,
        uses_left=row.uses_left,
        use_count=row.use_count,
        address=row.address,
    )


class Store(Protocol):
    """Where the effects are written: units of work on a database driver connection
    (``Database.unit`` over SQLAlchemy's pool, or ``store.driver.Connector``)."""

    def unit(self) -> AbstractContextManager[Driver]: ...


class LiveEffects:
    """Effects performed for real."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        transport: MailTransport,
        clock: Callable[[], datetime],
        webhook_transport: WebhookTransport | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self.clock = clock
        self.webhook_transport = webhook_transport
        self.steps: list[str] = []
        self.claimed: int | None = None
        self._tx: Driver | None = None
        self._events: list[dict[str, Any]] = []

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Run the effects inside the block in one transaction (one commit for a bounce)."""
        with self.store.unit() as tx:
            self._tx = tx
            try:
                yield
                self._write_events(tx)
            except BaseException:
                # Rolled back with the transaction: the claim and the queued events are gone.
                self.claimed, self._events = None, []
                raise
            finally:
                self._tx = None

    def _write_events(self, tx: Driver) -> None:
        events, self._events = self._events, []
        for event in events:
            repos.add_event(tx, **event)

    @contextmanager
    def _connection(self) -> Iterator[Driver]:
        if self._tx is not None:
            yield self._tx
        else:
            with self.store.unit() as tx:
                yield tx

    def claim(self, key: str, values: Mapping[str, Any]) -> tuple[int | None, bool, str]:
        now = self.clock()
        with self._connection() as tx:
            claim = repos.claim_inbound(
                tx, key=key, now=now, lease=CLAIM_LEASE, values={**values, "received_at": now}
            )
            if claim.claimed:
                self.claimed = claim.inbound_id
            return claim.inbound_id, claim.claimed, claim.state

    def find_session(self, key: bytes) -> SessionView | None:
        with self._connection() as tx:
            row = repos.find_session(tx, key)
            return None if row is None else _view(row)

    def take_use(self, session_id: int) -> bool:
        with self._connection() as tx:
            return repos.take_session_use(tx, session_id)

    def find_copy(
        self, *, message_id: str | None = None, delivery_id: int | None = None
    ) -> SentCopy | None:
        with self._connection() as tx:
            row = repos.find_message_id(tx, message_id=message_id, delivery_id=delivery_id)
            if row is None:
                return None
            return SentCopy(row.message_id, row.user_id, row.module, row.recipient)

    def give_back_use(self, session_id: int) -> None:
        with self._connection() as tx:
            repos.give_back_session_use(tx, session_id)

    def count_bounce(
        self, *, user_id: int, hard: bool, address: str | None, details: Mapping[str, Any]
    ) -> BounceTally:
        policy = self.settings.bounces
        now = self.clock()
        with self._connection() as tx:
            score = repos.add_bounce_score(
                tx,
                user_id=user_id,
                weight=policy.hard_weight if hard else policy.soft_weight,
                hard=hard,
                now=now,
                quiet=policy.quiet_period,
            )
            crossed = score >= policy.threshold
            newly = False
            if crossed:
                newly = repos.suppress_user(
                    tx,
                    user_id=user_id,
                    address=address,
                    reason="bounces",
                    now=now,
                    details={**details, "score": score},
                )
            return BounceTally(score=score, crossed=crossed, newly_suppressed=newly)

    def suppress(self, *, user_id: int, address: str | None, reason: str) -> bool:
        with self._connection() as tx:
            return repos.suppress_user(
                tx, user_id=user_id, address=address, reason=reason, now=self.clock(), details={}
            )

    def event(self, type: str, **values: Any) -> None:
        """Queued, and written with the outcome in :meth:`finish` (one commit, not two)."""
        self._events.append({"type": type, "occurred_at": self.clock(), **values})

    def notify(self, kind: str, message: EmailMessage, inbound_id: int | None) -> str:
        """Queue an error email unless the throttle says no; returns ``queued`` or
        ``throttled``. Queued ones are sent by ``postroom worker`` (durable, retried: a down
        mail server loses nothing, and a bounce storm opens no connection per message here)."""
        to = str(message["To"])
        now = self.clock()
        window = self.settings.error_mail.throttle_window
        with self._connection() as tx:
            recent = repos.count_notices_since(tx, to, now - window)
            status = "throttled" if recent >= self.settings.error_mail.throttle_count else "queued"
            repos.add_notice(
                tx,
                to_address=to,
                kind=kind,
                now=now,
                inbound_id=inbound_id,
                status=status,
                raw=bytes(message),
            )
        return status

    def dispatch(self, spec: HandlerSpec, reply: Reply) -> None:
        spec.func(reply)
        self.steps.append(f"dispatched to handler {spec.name!r}")

    def url_handler(self, module: int) -> HandlerSpec | None:
        """The module served by a URL (a webhook endpoint with ``handler``), if one is."""
        with self._connection() as tx:
            endpoints = repos.handler_endpoints(tx)
        for name, url, secret in endpoints:
            if module_id_for(name) == module:
                from postroom.webhooks.handler import url_handler_spec
                from postroom.webhooks.transport import UrllibWebhookTransport

                return url_handler_spec(
                    name,
                    url,
                    secret,
                    transport=self.webhook_transport or UrllibWebhookTransport(),
                    timeout=self.settings.webhooks.timeout.total_seconds(),
                    clock=self.clock,
                )
        return None

    def retry_dispatch(self, inbound_id: int | None, reason: str) -> None:
        """Queue the replay of a reply its module's URL did not take (``handler-retry``)."""
        if inbound_id is None:
            return
        from postroom.webhooks.payloads import RETRY_SCHEDULE

        now = self.clock()
        with self._connection() as tx:
            repos.enqueue_handler_retry(tx, inbound_id, now=now, run_at=now + RETRY_SCHEDULE[0])
        self.steps.append(f"kept for the handler-retry job: {reason}")

    def finish(self, inbound_id: int | None, **values: Any) -> None:
        if inbound_id is None and not self._events:
            return
        with self._connection() as tx:
            self._write_events(tx)
            if inbound_id is not None:
                repos.finish_inbound(tx, inbound_id, **values)


class DryRunEffects(LiveEffects):
    """Reads like :class:`LiveEffects`, but writes nothing, sends nothing, calls no handler."""

    @contextmanager
    def unit(self) -> Iterator[None]:
        yield

    def claim(self, key: str, values: Mapping[str, Any]) -> tuple[int | None, bool, str]:
        self.steps.append("would record the message and claim it for processing")
        return None, True, "processing"

    def take_use(self, session_id: int) -> bool:
        with self._connection() as tx:
            row = repos.get_session(tx, session_id)
            ok = row is not None and (row.uses_left is None or row.uses_left > 0)
        self.steps.append(
            f"would spend one use of session {session_id}: {'ok' if ok else 'none left'}"
        )
        return ok

    def give_back_use(self, session_id: int) -> None:
        self.steps.append(f"would give back the use of session {session_id}")

    def count_bounce(
        self, *, user_id: int, hard: bool, address: str | None, details: Mapping[str, Any]
    ) -> BounceTally:
        policy = self.settings.bounces
        weight = policy.hard_weight if hard else policy.soft_weight
        with self._connection() as tx:
            row = repos.get_bounce_score(tx, user_id)
            fresh = row is None or row.last_bounce_at < self.clock() - policy.quiet_period
            score = weight + (0.0 if fresh or row is None else row.score)
        self.steps.append(f"would add {weight} to user {user_id}'s bounce score (to {score})")
        return BounceTally(score=score, crossed=score >= policy.threshold, newly_suppressed=False)

    def suppress(self, *, user_id: int, address: str | None, reason: str) -> bool:
        self.steps.append(f"would suppress user {user_id} ({reason})")
        return False

    def event(self, type: str, **values: Any) -> None:
        self.steps.append(f"would record event {type}")

    def notify(self, kind: str, message: EmailMessage, inbound_id: int | None) -> str:
        self.steps.append(f"would send error email {kind} to {message['To']}")
        return "dry_run"

    def dispatch(self, spec: HandlerSpec, reply: Reply) -> None:
        self.steps.append(
            f"would call handler {spec.name!r} for user {reply.user_id} with "
            f"{len(reply.text)} characters of text"
        )

    def retry_dispatch(self, inbound_id: int | None, reason: str) -> None:
        self.steps.append(f"would queue the handler-retry job: {reason}")

    def finish(self, inbound_id: int | None, **values: Any) -> None:
        self.steps.append(f"would record outcome {values.get('outcome')}")
