"""The :class:`Postroom` object: an application's handlers plus postroom's library API.

    room = Postroom()

    @room.handler("forum")
    def on_reply(reply: Reply) -> None:
        post(reply.session_data["topic"], reply.user_id, reply.text)

    address = room.create_session("forum", user=42, data={"topic": 7})

Settings are bound late (``room.configure(settings)``, done by the command line from
``postroom.toml``) so that the module defining the handlers can be imported anywhere.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from postroom.addresses import AddressCodec, FormatV1, Keyring, new_session_key
from postroom.errors import ConfigError, PostroomError
from postroom.handlers import HandlerFunc, HandlerRegistry, HandlerSpec, SenderCheck, module_id_for
from postroom.inbound.digests import DIGEST_KEY
from postroom.inbound.types import Envelope, InboundResult
from postroom.mailer import MailTransport, transport_from_settings
from postroom.settings import Settings

# What is imported here stays light: an application module imports this one, and so does
# every `postroom inbound` process an MTA starts (see postroom.cli.pipe). The store
# (SQLAlchemy), the pipeline and the digest renderer are imported where they are used.
if TYPE_CHECKING:
    from postroom.compose.digest import DigestItem, DigestParts
    from postroom.inbound.effects import LiveEffects, Store
    from postroom.inbound.pipeline import InboundPipeline
    from postroom.outcomes import (
        BounceScore,
        Event,
        EventType,
        InboundMessage,
        Outcomes,
        Suppression,
    )
    from postroom.store import Database
    from postroom.webhooks.service import Webhooks
    from postroom.webhooks.transport import WebhookTransport

if TYPE_CHECKING:
    from postroom.compose.email import Email
    from postroom.jobs.worker import Worker
    from postroom.sending import EmailState, SendResult
    from postroom.tracking.engagement import EmailEngagement

F = TypeVar("F", bound=HandlerFunc)

#: User ids are what a reply address can carry (format 1: 48 bits), everywhere.
USER_ID_LIMIT = 1 << FormatV1.USER_BITS
#: How deep session data may nest (JSON); deeper data is refused, not stored.
MAX_DATA_DEPTH = 64


def json_depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_user_id(user: object) -> int:
    """``user`` as a user id, or ValueError: an int from 0 to 2^48 - 1 (bools refused)."""
    if isinstance(user, bool) or not isinstance(user, int) or not 0 <= user < USER_ID_LIMIT:
        raise ValueError(f"user id {user!r} is not a whole number from 0 to 2^48 - 1")
    return user


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One item an application puts into a digest; ``data`` is what its replies carry."""

    title: str
    body: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class IssuedDigest:
    """A rendered digest: its own reply address (for Reply-To), the parts, one item each."""

    address: str
    parts: DigestParts
    items: tuple[DigestItem, ...]


@dataclass(frozen=True, slots=True)
class Pruned:
    """What ``prune`` deleted: expired sessions, and Message-IDs of old sent copies."""

    sessions: int
    message_ids: int


@dataclass(frozen=True, slots=True)
class IssuedAddress:
    """A reply address and the session behind it."""

    address: str
    session_id: int
    expires_at: datetime


class Postroom:
    """Handlers, sessions and the inbound pipeline of one application."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: MailTransport | None = None,
        database: Database | None = None,
        clock: Callable[[], datetime] = utcnow,
        webhook_transport: WebhookTransport | None = None,
    ) -> None:
        self.handlers = HandlerRegistry()
        self.clock = clock
        self._webhook_transport = webhook_transport
        self._settings = settings
        self._transport = transport
        self._transport_owned = False  # True when built from settings (and so replaceable)
        self._database = database
        self._database_owned = database is None  # True when opened here from settings
        self._codec: AddressCodec | None = None

    # -- configuration ---------------------------------------------------------------------

    def configure(
        self,
        settings: Settings,
        *,
        transport: MailTransport | None = None,
        database: Database | None = None,
    ) -> Postroom:
        """Bind settings (and optionally a transport or database).

        Called again with other settings, it drops what was derived from the old ones (the
        database engine when the URL changes, a transport built from settings, the codec).
        """
        previous = self._settings
        if database is not None:
            self._database = database
        elif previous is not None and previous.database_url != settings.database_url:
            if self._database is not None and self._database_owned:
                self._database.dispose()
            self._database = None
        if transport is not None:
            self._transport, self._transport_owned = transport, False
        elif self._transport_owned:
            self._transport = None
        self._database_owned = self._database_owned and database is None
        self._settings = settings
        self._codec = None
        return self

    @property
    def configured(self) -> bool:
        return self._settings is not None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise ConfigError(
                "settings",
                "this Postroom object has no settings",
                "call room.configure(load_settings()) or run it through the postroom command",
            )
        return self._settings

    @property
    def database(self) -> Database:
        if self._database is None:
            from postroom.store import open_database

            self._database = open_database(self.settings.database_url)
            self._database_owned = True
        return self._database

    @property
    def transport(self) -> MailTransport:
        if self._transport is None:
            self._transport = transport_from_settings(self.settings.error_mail)
            self._transport_owned = True
        return self._transport

    @property
    def webhook_transport(self) -> WebhookTransport:
        """How webhooks are POSTed (urllib; tests pass a fake or point at a local server)."""
        if self._webhook_transport is None:
            from postroom.webhooks.transport import UrllibWebhookTransport

            self._webhook_transport = UrllibWebhookTransport()
        return self._webhook_transport

    @property
    def webhooks(self) -> Webhooks:
        """Webhook endpoints: add, list, test, remove, and their messages."""
        from postroom.webhooks.service import Webhooks

        return Webhooks(self)

    def handler_spec(self, name: str) -> HandlerSpec:
        """The handler ``name``: Python code registered here, or a module served by a URL
        (a webhook endpoint with that handler). KeyError names the known ones."""
        try:
            return self.handlers.by_name(name)
        except KeyError:
            from postroom.store import webhooks as store
            from postroom.webhooks.handler import url_handler_spec

            with self.database.transaction() as tx:
                endpoint = store.find_handler_endpoint(tx, name)
            if endpoint is None:
                raise
            return url_handler_spec(
                name,
                endpoint.url,
                endpoint.secret,
                transport=self.webhook_transport,
                timeout=self.settings.webhooks.timeout.total_seconds(),
                clock=self.clock,
            )

    def codec_keyring(self) -> Keyring:
        """The address keyring; tracking tokens are signed with it too (own HMAC label)."""
        settings = self.settings
        settings.require_keys()
        return Keyring.from_secrets(settings.address_keys, settings.signing_key_id)

    @property
    def codec(self) -> AddressCodec:
        if self._codec is None:
            settings = self.settings
            keyring = self.codec_keyring()
            self._codec = AddressCodec(
                keyring,
                domain=settings.reply_domain,
                reply_prefix=settings.reply_prefix,
                bounce_prefix=settings.bounce_prefix,
            )
        return self._codec

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()

    # -- handlers --------------------------------------------------------------------------

    def handler(
        self,
        name: str,
        *,
        module: int | None = None,
        uses: int | None = None,
        ttl: timedelta | None = None,
        check_sender: SenderCheck | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function for replies to ``name``'s addresses.

        ``uses``: replies one address accepts (None: unlimited until expiry). ``ttl``: how
        long its addresses live (default ``sessions.ttl_days``). ``check_sender(user, sender)``:
        return False to refuse mail from someone other than the session's user.
        """
        if uses is not None and uses < 1:
            raise ValueError("uses must be at least 1 (or None for unlimited)")

        def register(func: F) -> F:
            self.handlers.add(
                HandlerSpec(
                    name=name,
                    module=module_id_for(name) if module is None else module,
                    func=func,
                    uses=uses,
                    ttl=ttl,
                    check_sender=check_sender,
                )
            )
            return func

        return register

    # -- sessions --------------------------------------------------------------------------

    def create_session(
        self,
        handler: str,
        user: int,
        data: Any = None,
        *,
        ttl: timedelta | None = None,
        uses: int | None = None,
        address: str | None = None,
    ) -> IssuedAddress:
        """Store a new email session for ``handler`` and return its signed reply address.

        ``address``: where the application sends the mail that carries this reply address
        (the user's own address). A bounce or complaint that comes back to the reply address
        counts against the user only when it names this address; without it, none counts.
        """
        spec = self.handler_spec(handler)
        key = new_session_key()
        [issued] = self._insert_sessions(
            spec, user, [(key, data)], ttl=ttl, uses=uses, address=address
        )
        return issued

    def _insert_sessions(
        self,
        spec: HandlerSpec,
        user: int,
        keyed_data: Sequence[tuple[bytes, Any]],
        *,
        ttl: timedelta | None,
        uses: int | None,
        address: str | None = None,
    ) -> list[IssuedAddress]:
        check_user_id(user)
        if uses is not None and (isinstance(uses, bool) or uses < 1):
            raise ValueError("uses must be at least 1 (or None for the handler's default)")
        for _, data in keyed_data:
            if json_depth(data) > MAX_DATA_DEPTH:
                raise ValueError(f"session data nests deeper than {MAX_DATA_DEPTH} levels")
        from postroom.store import repos

        now = self.clock()
        expires = now + (ttl or spec.ttl or self.settings.session_ttl)
        issued = []
        with self.database.transaction() as tx:
            for key, data in keyed_data:
                row = repos.insert_session(
                    tx,
                    key=key,
                    module=spec.module,
                    user_id=user,
                    data=data,
                    created_at=now,
                    expires_at=expires,
                    uses_left=uses if uses is not None else spec.uses,
                    address=address,
                )
                address = self.codec.encode_reply(module=spec.module, user=user, session_key=key)
                issued.append(IssuedAddress(address, row.id, expires))
        return issued

    def create_digest(
        self,
        handler: str,
        user: int,
        entries: Sequence[DigestEntry],
        *,
        subject: str,
        intro: str = "",
        ttl: timedelta | None = None,
        address: str | None = None,
    ) -> IssuedDigest:
        """Issue a digest of several items to one user: a reply address per item, one for the
        whole digest, and the rendered text/HTML parts (item markers, per-item mailto: links).

        A reply to an item's address goes to that item; a reply to the digest's address is
        attributed by a ``#2`` reference or by where the person wrote in the quoted digest.
        Either way the handler's ``reply.session_data`` is that item's ``data`` and
        ``reply.digest_item`` its number; when nothing tells, the sender is asked to choose.
        """
        from postroom.compose.digest import DigestItem, render_digest

        if not entries:
            raise ValueError("a digest needs at least one item")
        spec = self.handler_spec(handler)
        keys = [new_session_key() for _ in range(len(entries) + 1)]
        addresses = [
            self.codec.encode_reply(module=spec.module, user=user, session_key=key) for key in keys
        ]
        listing = [
            {"number": n, "title": entry.title, "address": addresses[n], "data": entry.data}
            for n, entry in enumerate(entries, start=1)
        ]
        self._insert_sessions(
            spec,
            user,
            [(key, {DIGEST_KEY: {"item": n, "items": listing}}) for n, key in enumerate(keys)],
            ttl=ttl,
            uses=None,
            address=address,
        )
        items = tuple(
            DigestItem(number=n, title=entry.title, body=entry.body, reply_address=addresses[n])
            for n, entry in enumerate(entries, start=1)
        )
        # Session 0 stands for the whole digest ("item": 0 means no item of its own).
        return IssuedDigest(
            address=addresses[0],
            parts=render_digest(items, subject=subject, intro=intro),
            items=items,
        )

    def remember_sent(
        self,
        message_id: str,
        *,
        user: int | None,
        recipient: str | None = None,
        handler: str | None = None,
        delivery_id: int | None = None,
    ) -> bool:
        """Record that the copy sent under ``message_id`` went to ``user`` at ``recipient``.

        A bounce or complaint that reaches postroom at no address of its own (a bounce
        mailbox piped to ``postroom inbound``) but quotes this Message-ID in its returned
        message then counts against that user, like one sent to a reply or VERP address.
        Call it for mail the application sends itself. Returns False when the Message-ID was
        recorded already (the first record stands).
        """
        module = self.handler_spec(handler).module if handler is not None else None
        if user is not None:
            check_user_id(user)
        if not message_id.strip("<> \t"):
            raise ValueError("an empty Message-ID cannot identify a sent copy")
        if len(message_id) > 998:
            # RFC 5322 section 2.1.1: no header line is longer than 998 characters.
            raise ValueError(f"a Message-ID of {len(message_id)} characters is not one")
        from postroom.store import repos

        with self.database.transaction() as tx:
            return repos.remember_message_id(
                tx,
                message_id=message_id,
                now=self.clock(),
                user_id=user,
                module=module,
                recipient=recipient,
                delivery_id=delivery_id,
            )

    def prune(self, *, older_than: timedelta | None = None) -> Pruned:
        """Delete sessions that expired more than ``older_than`` ago (default from settings),
        and the Message-IDs of copies sent longer ago than a session lives plus that."""
        from postroom.store import repos

        age = older_than if older_than is not None else self.settings.session_prune_after
        now = self.clock()
        with self.database.transaction() as tx:
            sessions = repos.delete_sessions_expired_before(tx, now - age)
            ids = repos.delete_message_ids_before(tx, now - age - self.settings.session_ttl)
        return Pruned(sessions, ids)

    # -- sending ---------------------------------------------------------------------------

    def send(self, email: Email) -> SendResult:
        """Queue one copy of ``email`` per recipient and return at once (a worker sends them).

        Everything is checked first (account, addresses, headers, the reply handler, the size
        against the server's SIZE); bad input raises :class:`~postroom.errors.ComposeError` or
        :class:`~postroom.errors.AccountError` and queues nothing. Suppressed recipients are
        reported in ``result.skipped``.
        """
        from postroom.sending import queue_email

        return queue_email(self, email)

    def email(self, email_id: int) -> EmailState:
        """Every recipient's state of a sent email."""
        from postroom.sending import email_state

        return email_state(self, email_id)

    def engagement(self, email_id: int) -> EmailEngagement:
        """The email's opens and clicks: totals, copies opened and clicked at least once (by
        anyone and by a person), the first open by a person (docs/tracking.md)."""
        from postroom.store.api import email_engagement

        with self.database.transaction() as tx:
            return email_engagement(tx, email_id)

    def worker(self, **options: Any) -> Worker:
        """A :class:`~postroom.jobs.worker.Worker` for this application (``postroom worker``)."""
        from postroom.jobs.worker import Worker

        return Worker(self, **options)

    # -- inbound ---------------------------------------------------------------------------

    def pipeline(self) -> InboundPipeline:
        from postroom.inbound.pipeline import InboundPipeline

        return InboundPipeline(
            settings=self.settings, codec=self.codec, handlers=self.handlers, clock=self.clock
        )

    def _effects(self, dry_run: bool, store: Store | None = None) -> LiveEffects:
        from postroom.inbound.effects import DryRunEffects, LiveEffects

        kind = DryRunEffects if dry_run else LiveEffects
        return kind(
            settings=self.settings,
            store=store or self.database,
            transport=self.transport,
            clock=self.clock,
            webhook_transport=self.webhook_transport,
        )

    def receive(
        self,
        raw: bytes,
        *,
        recipients: tuple[str, ...] | list[str] = (),
        sender: str | None = None,
        dry_run: bool = False,
        size: int | None = None,
    ) -> InboundResult:
        """Run one received message through the pipeline.

        ``size``: the message's full size when ``raw`` holds only its beginning (a receiver
        that stops reading past ``inbound.max_message_bytes``).
        Raises :class:`~postroom.errors.UnparseableMessage` for bytes that are no message and
        :class:`~postroom.errors.StoreUnavailable` when the database is down (retry later).
        """
        envelope = Envelope(sender=sender, recipients=tuple(recipients))
        if self._database is not None:
            return self.pipeline().process(raw, envelope, self._effects(dry_run), size=size)
        # Nothing has opened the database yet (an MTA pipe: one message per process): the
        # message is handled on the database driver alone, without loading SQLAlchemy.
        from postroom.store.driver import Connector

        connector = Connector(self.settings.database_url)
        try:
            effects = self._effects(dry_run, connector)
            return self.pipeline().process(raw, envelope, effects, size=size)
        finally:
            connector.close()

    def replay(
        self, inbound_id: int, *, dry_run: bool = False, force: bool = False
    ) -> InboundResult:
        """Run a stored inbound message through the pipeline again (``postroom replay``)."""
        from postroom.store import repos

        with self.database.transaction() as tx:
            row = repos.get_inbound(tx, inbound_id)
            if row is None:
                raise PostroomError(f"no inbound message #{inbound_id}")
            raw, status, outcome = row.raw, row.status, row.outcome
            envelope = Envelope(
                sender=row.envelope_sender,
                recipients=tuple(filter(None, (row.envelope_recipient or "").split(","))),
            )
        if status != "failed" and not (dry_run or force):
            raise PostroomError(
                f"inbound message #{inbound_id} was handled already ({outcome}); "
                "use --dry-run to see what would happen, or --force to dispatch it again"
            )
        return self.pipeline().process(raw, envelope, self._effects(dry_run), replay_id=inbound_id)

    # -- outcomes: suppressions, bounce scores, events, received messages ---------------------
    # Thin methods over postroom.outcomes (its module holds the queries and the types).

    @property
    def outcomes(self) -> Outcomes:
        from postroom.outcomes import Outcomes

        return Outcomes(self.database, self.clock)

    def is_suppressed(self, *, user: int | None = None, address: str | None = None) -> bool:
        """Whether ``user`` (or ``address``, any case) must not be mailed any more."""
        return self.outcomes.is_suppressed(user=user, address=address)

    def suppression(
        self, *, user: int | None = None, address: str | None = None
    ) -> Suppression | None:
        """The suppression of ``user`` or ``address``: why and since when, or None."""
        return self.outcomes.suppression(user=user, address=address)

    def lift_suppression(
        self, *, user: int | None = None, address: str | None = None, reset_score: bool = True
    ) -> int:
        """Mail ``user`` (or ``address``) again; also restarts the bounce score by default."""
        return self.outcomes.lift_suppression(user=user, address=address, reset_score=reset_score)

    def bounce_score(self, user: int) -> BounceScore | None:
        """``user``'s bounce score (hard and soft counts, last bounce), or None."""
        return self.outcomes.bounce_score(user)

    def events(
        self,
        *,
        type: EventType | str | None = None,
        user: int | None = None,
        email: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Recorded events, newest first, filtered by type, user, email and time."""
        return self.outcomes.events(
            type=type, user=user, email=email, since=since, until=until, limit=limit
        )

    def inbound_message(self, inbound_id: int) -> InboundMessage | None:
        """One received message (``InboundResult.inbound_id``) with its outcome."""
        return self.outcomes.inbound_message(inbound_id)


def load_app(spec: str) -> Postroom:
    """Import ``package.module:attribute`` and return the Postroom object it names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            "app.import", f"{spec!r} is not 'module:attribute'", "e.g. myapp.mail:room"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            "app.import",
            f"cannot import {module_name!r} ({exc})",
            "install it into postroom's environment, or put its folder on PYTHONPATH",
        ) from exc
    except Exception as exc:  # the application's own code failed while it was imported
        raise ConfigError(
            "app.import",
            f"importing {module_name!r} failed ({type(exc).__name__}: {exc})",
            f"fix the module (try: python -c 'import {module_name}')",
        ) from exc
    room = getattr(module, attribute, None)
    if not isinstance(room, Postroom):
        raise ConfigError(
            "app.import",
            f"{spec} is not a postroom.Postroom object",
            "point it at the object your handlers are registered on",
        )
    return room
