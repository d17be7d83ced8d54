"""Delivering one account's due copies over one SMTP connection (the worker's sender threads).

    claim a batch (within the account's limits) -> build each copy (splice the template,
    tokens, VERP return path, DKIM) -> stream them through the pipelining connection ->
    record each result before the next copy's message ends -> renew leases -> next batch.

A connection that fails to open defers the batch (the account's server is down, or refuses the
account: then the account pauses for an operator, and ``postroom accounts list`` says why). A
stop request finishes the copy in flight and releases the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select

from postroom.accounts.model import Account, Auth, Envelope
from postroom.accounts.service import read_secrets, write_secrets
from postroom.accounts.vault import AccountSecrets
from postroom.compose import CopyValues, Template, Unsubscribe
from postroom.compose.dkim import DkimKey, sign_copy
from postroom.errors import (
    AuthFailed,
    ConfigError,
    OAuthCredentialsInvalid,
    OAuthError,
    OAuthRevoked,
    OutboundError,
    PostroomError,
)
from postroom.jobs.decisions import Decision, decide
from postroom.jobs.retry import Backoff
from postroom.outbound.connection import SmtpConnection
from postroom.outbound.oauth import REAUTHORISE_FIX, OAuthCredentials, mark_revoked
from postroom.outbound.token_transport import TokenTransport, UrllibTokenTransport
from postroom.outbound.types import (
    AuthMethod,
    ConnectionSettings,
    CopyResult,
    OutgoingCopy,
    Reply,
    Security,
    Timeouts,
)
from postroom.outbound.xoauth2 import LoginAnswer, classify_login_answer, login_with_refresh
from postroom.store import queue, repos
from postroom.store.accounts import get_account, merge_state, update_account
from postroom.store.models import EmailRow, SuppressionRow
from postroom.tracking.tokens import TokenCodec

if TYPE_CHECKING:
    from postroom.app import Postroom

log = logging.getLogger("postroom.worker")

EMAILS = cast(Table, EmailRow.__table__)
SUPPRESSIONS = cast(Table, SuppressionRow.__table__)

#: Opens a connection for an account (the seam tests replace to point at a scripted server
#: or to pass a CA file); the default builds ConnectionSettings from the account.
Connector = Callable[[Account, AccountSecrets], SmtpConnection]


@dataclass(frozen=True, slots=True)
class LoadedEmail:
    template: Template
    options: dict[str, Any]


class Deliverer:
    """Sends one account's due copies over one connection slot; see the module docstring."""

    def __init__(
        self,
        room: Postroom,
        *,
        worker: str,
        rng: random.Random | None = None,
        connector: Connector | None = None,
        timeouts: Timeouts | None = None,
        ca_file: str | None = None,
        token_transport: TokenTransport | None = None,
    ) -> None:
        self.room = room
        self.worker = worker
        self.rng = rng or random.Random()
        self.connector = connector or self._connect
        self.timeouts = timeouts or Timeouts()
        self.ca_file = ca_file
        self.token_transport = token_transport or UrllibTokenTransport()
        settings = room.settings
        self.backoff = Backoff(
            settings.sending.min_backoff, settings.sending.max_backoff, settings.sending.max_age
        )
        self.tokens = TokenCodec(room.codec_keyring())
        self.base_url = settings.tracking.base_url
        self._emails: OrderedDict[int, LoadedEmail] = OrderedDict()
        self._dkim: dict[int, DkimKey | None] = {}
        self._lock = threading.Lock()

    # -- one account -------------------------------------------------------------------------

    def run_account(self, account_id: int, stop: threading.Event) -> int:
        """Send due copies of one account until none is due, the account pauses, or ``stop``;
        returns how many copies were attempted."""
        room = self.room
        settings = room.settings.sending
        now = room.clock()
        with room.database.transaction() as tx:
            account = get_account(tx, id=account_id)
            if account is None:
                return 0
            slot = queue.acquire_slot(
                tx,
                account_id=account_id,
                slots=account.limits.connections,
                holder=self.worker,
                now=now,
                until=now + settings.lease,
            )
        if slot is None:
            return 0
        attempted = 0
        connection: SmtpConnection | None = None
        recorder = queue.ResultRecorder(room.database)
        try:
            while not stop.is_set():
                now = room.clock()
                with room.database.transaction() as tx:
                    copies = queue.claim_copies(
                        tx,
                        account_id=account_id,
                        worker=self.worker,
                        now=now,
                        lease=settings.lease,
                        limit=settings.batch,
                        limits=account.limits,
                    )
                    queue.renew_slot(
                        tx,
                        account_id=account_id,
                        slot=slot,
                        holder=self.worker,
                        until=now + settings.lease,
                    )
                if not copies:
                    break
                if connection is None:
                    connection = self._open(account, copies)
                    if connection is None:
                        break
                done, keep = self._send_batch(connection, account, copies, stop, recorder)
                attempted += done
                if not keep:
                    connection.close()
                    connection = None
                    if self._paused(account_id):
                        break
        finally:
            recorder.close()
            if connection is not None:
                connection.close()
            with room.database.transaction() as tx:
                queue.release_slot(
                    tx, account_id=account_id, slot=slot, holder=self.worker, now=room.clock()
                )
        return attempted

    def _paused(self, account_id: int) -> bool:
        with self.room.database.transaction() as tx:
            account = get_account(tx, id=account_id)
        return account is None or account.paused(self.room.clock())

    # -- connecting --------------------------------------------------------------------------

    def _open(self, account: Account, copies: Sequence[queue.ClaimedCopy]) -> SmtpConnection | None:
        """Open the account's connection, or defer the batch and say why. An account the
        server refuses (login, OAuth) pauses for an operator; a server that cannot be reached
        only defers the copies."""
        room = self.room
        try:
            secrets = read_secrets(room.database, room.settings, account)
            self._dkim[account.id] = dkim_key(secrets)
            if account.smtp_auth is Auth.XOAUTH2:
                connection = self.open_oauth(account, secrets)
            else:
                connection = self.connector(account, secrets)
        except (OutboundError, OAuthError, ConfigError) as exc:
            account_problem = isinstance(
                exc, AuthFailed | OAuthError | ConfigError
            ) and not getattr(exc, "transient", False)
            self._defer_all(account, copies, exc, pause=account_problem)
            return None
        self.learn(account, connection)
        return connection

    def open_oauth(self, account: Account, secrets: AccountSecrets) -> SmtpConnection:
        """XOAUTH2: refresh the access token when it has expired, and once more when the
        server refuses it (RFC 6749 section 6); store whatever the refresh returned (a rotated
        refresh token replaces the old one)."""
        room = self.room
        if not secrets.oauth:
            raise OAuthCredentialsInvalid(
                f"account {account.name!r} has no OAuth credentials",
                REAUTHORISE_FIX.format(account=account.name),
            )
        creds = OAuthCredentials.from_json(secrets.oauth)
        opened: list[SmtpConnection] = []

        def attempt(token: str) -> LoginAnswer | None:
            try:
                opened.append(self.connector(account, _with_token(secrets, token)))
            except AuthFailed as refused:
                reply = refused.reply
                if not isinstance(reply, Reply):
                    raise
                text = f"{reply.enhanced} {reply.text}" if reply.enhanced else reply.text
                return classify_login_answer(reply.code, text, account=account.name)
            return None

        now = room.clock()
        try:
            outcome = login_with_refresh(
                creds, attempt, self.token_transport, now, account=account.name
            )
        except OAuthRevoked:
            self._store_oauth(account, secrets, mark_revoked(creds, now))
            raise
        if outcome.credentials != creds:
            self._store_oauth(account, secrets, outcome.credentials)
        outcome.raise_for_refusal()
        return opened[-1]

    def _store_oauth(
        self, account: Account, secrets: AccountSecrets, creds: OAuthCredentials
    ) -> None:
        updated = dataclasses.replace(secrets, oauth=creds.to_json())
        write_secrets(
            self.room.database, self.room.settings, account, updated, now=self.room.clock()
        )

    def _connect(self, account: Account, secrets: AccountSecrets) -> SmtpConnection:
        return SmtpConnection.open(
            connection_settings(account, secrets, timeouts=self.timeouts, ca_file=self.ca_file)
        )

    def learn(self, account: Account, connection: SmtpConnection) -> None:
        """Remember what the server offers (SIZE, SMTPUTF8...): ``room.send`` checks copies
        against it before queueing them."""
        caps = connection.capabilities
        learned = {
            "size": caps.size_limit,
            "smtputf8": caps.smtputf8,
            "8bitmime": caps.eightbitmime,
            "pipelining": caps.pipelining,
        }
        if account.state.get("capabilities") != learned:
            with self.room.database.transaction() as tx:
                merge_state(tx, account.id, {"capabilities": learned}, now=self.room.clock())

    def _defer_all(
        self,
        account: Account,
        copies: Sequence[queue.ClaimedCopy],
        error: Exception,
        *,
        pause: bool,
    ) -> None:
        now = self.room.clock()
        reason = f"{type(error).__name__}: {error}"
        log.warning("account %s: %s", account.name, reason)
        with self.room.database.transaction() as tx:
            until = None
            if pause:
                from postroom.jobs.decisions import ACCOUNT_PAUSE

                until = now + ACCOUNT_PAUSE
                update_account(tx, account.id, now=now, paused_until=until, pause_reason=reason)
            for copy in copies:
                retry = until or self.backoff.next_attempt(
                    attempts=copy.attempts, now=now, created_at=copy.created_at, rng=self.rng
                )
                status = "deferred" if retry is not None else "failed"
                queue.record_result(
                    tx,
                    copy=copy,
                    status=status,
                    now=now,
                    code=None,
                    reply=reason,
                    next_at=retry,
                    event_data={"reason": "connection", "error": reason},
                )

    # -- one batch ---------------------------------------------------------------------------

    def _send_batch(
        self,
        connection: SmtpConnection,
        account: Account,
        copies: Sequence[queue.ClaimedCopy],
        stop: threading.Event,
        recorder: queue.ResultRecorder,
    ) -> tuple[int, bool]:
        """Stream the batch; returns (copies attempted, whether the connection is still good)."""
        room = self.room
        pending = {copy.id: copy for copy in copies}
        suppressed = self._suppressed(copies)
        started = time.monotonic()
        lease = room.settings.sending.lease.total_seconds()
        keep = True

        def outgoing() -> Iterator[OutgoingCopy]:
            for copy in copies:
                if stop.is_set():
                    return
                if copy.address in suppressed:
                    continue
                try:
                    built = self._outgoing(account, copy)
                except PostroomError as exc:
                    # A copy that cannot be built never will be: it fails alone, with the
                    # reason, and the batch goes on.
                    pending.pop(copy.id, None)
                    self._fail_unbuildable(copy, exc)
                    continue
                yield built

        if suppressed:
            self._skip_suppressed([c for c in copies if c.address in suppressed], suppressed)
            for copy in copies:
                if copy.address in suppressed:
                    pending.pop(copy.id, None)
        done = 0
        try:
            for result in connection.deliver(outgoing()):
                copy = cast(queue.ClaimedCopy, result.copy.tag)
                pending.pop(copy.id, None)
                decision = self._record(account, copy, result, recorder)
                done += 1
                if decision.pause_until is not None or decision.reconnect:
                    keep = False
                    break
                if time.monotonic() - started > lease / 2 and pending:
                    self._renew(list(pending))
                    started = time.monotonic()
        except OutboundError as exc:
            log.warning("account %s: connection failed mid-batch: %s", account.name, exc)
            keep = False
        if not connection.usable:
            keep = False
        if pending:
            with room.database.transaction() as tx:
                queue.release_copies(tx, list(pending), worker=self.worker, now=room.clock())
        return done, keep

    def _renew(self, ids: list[int]) -> None:
        room = self.room
        with room.database.transaction() as tx:
            queue.renew_copies(
                tx, ids, worker=self.worker, until=room.clock() + room.settings.sending.lease
            )

    def _record(
        self,
        account: Account,
        copy: queue.ClaimedCopy,
        result: CopyResult,
        recorder: queue.ResultRecorder,
    ) -> Decision:
        room = self.room
        now = room.clock()
        decision = decide(
            result,
            attempts=copy.attempts,
            created_at=copy.created_at,
            now=now,
            backoff=self.backoff,
            rng=self.rng,
            suppress_gone=room.settings.sending.suppress_gone,
        )
        if not decision.suppress and decision.pause_until is None:
            recorder.record(
                copy,
                status=decision.status,
                now=now,
                code=decision.code,
                reply=decision.reply,
                queue_id=decision.queue_id,
                next_at=decision.next_at,
                event_data=decision.event_data(),
            )
            return decision
        # Rare: the result and what it does to the address or the account, in one transaction.
        with room.database.connect() as conn:
            queue.record_result(
                conn,
                copy=copy,
                status=decision.status,
                now=now,
                code=decision.code,
                reply=decision.reply,
                queue_id=decision.queue_id,
                next_at=decision.next_at,
                event_data=decision.event_data(),
            )
            if decision.suppress:
                repos.suppress_address(
                    conn,
                    address=copy.address,
                    user_id=copy.user_id,
                    reason="gone",
                    now=now,
                    details={"reply": decision.reply, "delivery_id": copy.id},
                )
            if decision.pause_until is not None:
                update_account(
                    conn,
                    account.id,
                    now=now,
                    paused_until=decision.pause_until,
                    pause_reason=decision.reply,
                )
        return decision

    def _fail_unbuildable(self, copy: queue.ClaimedCopy, error: Exception) -> None:
        log.error("copy %s cannot be built: %s", copy.id, error)
        with self.room.database.connect() as conn:
            queue.record_result(
                conn,
                copy=copy,
                status="failed",
                now=self.room.clock(),
                code=None,
                reply=f"not sent: the copy cannot be built ({error})",
                event_data={"reason": "unbuildable", "error": str(error)},
            )

    def _suppressed(self, copies: Sequence[queue.ClaimedCopy]) -> dict[str, str]:
        """Addresses of this batch suppressed since their email was queued."""
        addresses = sorted({c.address for c in copies})
        users = sorted({c.user_id for c in copies if c.user_id is not None})
        c = SUPPRESSIONS.c
        found: dict[str, str] = {}
        with self.room.database.connect() as conn:
            for row in conn.execute(
                select(c.address, c.user_id, c.reason).where(
                    c.address.in_(addresses) | c.user_id.in_(users or [-1])
                )
            ):
                if row.address in addresses:
                    found[row.address] = row.reason
                for copy in copies:
                    if row.user_id is not None and copy.user_id == row.user_id:
                        found[copy.address] = row.reason
        return found

    def _skip_suppressed(
        self, copies: Sequence[queue.ClaimedCopy], reasons: dict[str, str]
    ) -> None:
        now = self.room.clock()
        with self.room.database.connect() as conn:
            for copy in copies:
                queue.record_result(
                    conn,
                    copy=copy,
                    status="failed",
                    now=now,
                    code=None,
                    reply=f"not sent: suppressed ({reasons[copy.address]})",
                    event_data={"reason": "suppressed", "suppression": reasons[copy.address]},
                )

    # -- building a copy ---------------------------------------------------------------------

    def _email(self, email_id: int) -> LoadedEmail:
        with self._lock:
            loaded = self._emails.get(email_id)
            if loaded is not None:
                self._emails.move_to_end(email_id)
                return loaded
        with self.room.database.connect() as conn:
            row = conn.execute(
                select(EMAILS.c.template, EMAILS.c.options).where(EMAILS.c.id == email_id)
            ).one()
        loaded = LoadedEmail(Template.from_bytes(bytes(row.template)), dict(row.options or {}))
        with self._lock:
            self._emails[email_id] = loaded
            while len(self._emails) > 64:
                self._emails.popitem(last=False)
        return loaded

    def _outgoing(self, account: Account, copy: queue.ClaimedCopy) -> OutgoingCopy:
        loaded = self._email(copy.email_id)
        template, options = loaded.template, loaded.options
        tokens, base = self.tokens, self.base_url
        pixel = (
            f"{base}/t/o/{tokens.encode_open(copy.id)}.gif"
            if options.get("opens") and template.tracks_opens
            else None
        )
        clicks = (
            [f"{base}/t/c/{tokens.encode_click(copy.id, n)}" for n in range(len(template.links))]
            if options.get("clicks") and template.links
            else None
        )
        unsubscribe = None
        if template.needs_unsubscribe:
            bounce = self.room.codec.encode_bounce(delivery_id=copy.id)
            unsubscribe = Unsubscribe(
                mailto=f"mailto:{bounce}?subject=unsubscribe",
                https=f"{base}/t/u/{tokens.encode_unsubscribe(copy.id)}",
            )
        data = template.personalise(
            CopyValues(
                message_id=copy.message_id,
                reply_to=copy.reply_address,
                pixel_url=pixel,
                click_urls=clicks,
                unsubscribe=unsubscribe,
            )
        )
        key = self._dkim.get(account.id)
        if key is not None:
            # Signed per copy after the splice, so List-Unsubscribe is covered (docs/compose.md).
            data = sign_copy(data, key)
        mail_from = (
            self.room.codec.encode_bounce(delivery_id=copy.id)
            if account.envelope is Envelope.VERP
            else account.from_address
        )
        return OutgoingCopy(
            mail_from=mail_from,
            rcpt=copy.address,
            data=data,
            smtputf8=template.needs_smtputf8,
            tag=copy,
        )


def dkim_key(secrets: AccountSecrets) -> DkimKey | None:
    """The account's DKIM key, when it has one (``accounts add --dkim-selector ...``)."""
    if not secrets.dkim_private_key or not secrets.dkim:
        return None
    return DkimKey(secrets.dkim["domain"], secrets.dkim["selector"], secrets.dkim_private_key)


def _with_token(secrets: AccountSecrets, token: str) -> AccountSecrets:
    oauth = dict(secrets.oauth or {})
    oauth["access_token"] = token
    return dataclasses.replace(secrets, oauth=oauth)


def connection_settings(
    account: Account,
    secrets: AccountSecrets,
    *,
    timeouts: Timeouts | None = None,
    ca_file: str | None = None,
    tls_server_name: str | None = None,
) -> ConnectionSettings:
    """How to reach and log in to the account's SMTP server. ``ca_file`` trusts a private CA;
    ``tls_server_name`` is the name the server's certificate must carry when ``smtp_host`` is
    an address rather than that name."""
    secret = ""
    if account.smtp_auth is Auth.XOAUTH2:
        secret = str((secrets.oauth or {}).get("access_token") or "")
    elif account.smtp_auth is not Auth.NONE:
        secret = secrets.password or ""
    return ConnectionSettings(
        host=account.smtp_host,
        port=account.smtp_port,
        security=Security(account.smtp_security.value),
        auth=AuthMethod(account.smtp_auth.value),
        username=account.smtp_username or "",
        secret=secret,
        ca_file=ca_file,
        tls_server_name=tls_server_name,
        timeouts=timeouts or Timeouts(),
    )
