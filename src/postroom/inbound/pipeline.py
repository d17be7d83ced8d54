"""The inbound pipeline for one received message.

parse -> find our address -> verify (stateless HMAC first) -> claim (dedupe) -> classify ->
bounce/complaint/auto-reply bookkeeping, or: load session -> extract -> dispatch -> record.
Every branch ends in one :class:`~postroom.inbound.types.Outcome` stored with the raw message.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from postroom.addresses import AddressCodec, BounceToken, ReplyToken
from postroom.errors import (
    AddressError,
    MessageInProgress,
    Reject,
    StoreUnavailable,
    UnparseableMessage,
    WebhookFailed,
)
from postroom.handlers import HandlerRegistry, HandlerSpec
from postroom.inbound.content import attachments_of, is_empty_reply
from postroom.inbound.context import (
    MessageContext,
    failed_row_values,
    head_only,
    row_values,
    size_context,
)
from postroom.inbound.digests import choose_item, digest_of
from postroom.inbound.effects import Effects, SentCopy, SessionView
from postroom.inbound.notices import NoticeKind, build_notice, may_answer
from postroom.inbound.parse import ParsedMessage, parse_message
from postroom.inbound.recipients import candidate_addresses
from postroom.inbound.types import Envelope, InboundResult, Outcome, Reply
from postroom.settings import Settings
from postroom.store.inbound import dedupe_key
from postroom.understand.bounces import MessageKind, classify_message
from postroom.understand.digest import strip_reference
from postroom.understand.replies import extract_message

if TYPE_CHECKING:
    from postroom.inbound.reports import ReportPlan

# Reports (inbound.reports, inbound.owners) and forged addresses (inbound.authresults) import
# their modules when they meet one: the MTA pipe starts a process per message, and most are
# replies.

# What a message to no address of ours may be and still count: see ``_unaddressed``.
_REPORTS = (MessageKind.BOUNCE, MessageKind.COMPLAINT, MessageKind.READ_RECEIPT)


class InboundPipeline:
    """Decides what to do with a message; performs it through an :class:`Effects` object."""

    def __init__(
        self,
        *,
        settings: Settings,
        codec: AddressCodec,
        handlers: HandlerRegistry,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.handlers = handlers
        self.clock = clock

    # -- entry point -----------------------------------------------------------------------

    def process(
        self,
        raw: bytes,
        envelope: Envelope,
        effects: Effects,
        *,
        replay_id: int | None = None,
        size: int | None = None,
    ) -> InboundResult:
        """Handle one message. Raises UnparseableMessage (no header section), and
        StoreUnavailable (the database is down) or MessageInProgress (another process is
        handling it now): for those two the caller must make the sender retry.

        Anything else that goes wrong is no reason to retry (the same bytes would fail the
        same way forever): the message is kept as ``failed`` for ``postroom replay``.

        ``size`` is the full size when ``raw`` is only the beginning of a larger message."""
        try:
            return self._process(raw, envelope, effects, replay_id, size)
        except (StoreUnavailable, MessageInProgress, UnparseableMessage):
            raise
        except Exception as exc:
            return self._failed(raw, envelope, effects, replay_id, exc)

    def _failed(
        self,
        raw: bytes,
        envelope: Envelope,
        effects: Effects,
        replay_id: int | None,
        exc: Exception,
    ) -> InboundResult:
        """Keep a message whose handling raised as ``failed``, under its claim when it has
        one, else under a claim of its own (content hash), so a retry finds it handled."""
        detail = "".join(traceback.format_exception_only(exc)).strip()
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        if where:
            detail += f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})"
        effects.steps.append(f"failed: {detail}")
        inbound_id = replay_id if replay_id is not None else effects.claimed
        if inbound_id is not None:
            effects.finish(inbound_id, status="failed", outcome=str(Outcome.FAILED), error=detail)
            return InboundResult(
                Outcome.FAILED, inbound_id, detail=detail, steps=tuple(effects.steps)
            )
        address = envelope.recipients[0] if envelope.recipients else ""
        values = failed_row_values(raw, envelope, address, detail)
        inbound_id, claimed, previous = effects.claim(dedupe_key(None, raw, address), values)
        if not claimed and previous == "processing":
            raise MessageInProgress(f"message to {address} is being handled; retry later")
        return InboundResult(
            Outcome.FAILED, inbound_id, address or None, detail=detail, steps=tuple(effects.steps)
        )

    def _process(
        self,
        raw: bytes,
        envelope: Envelope,
        effects: Effects,
        replay_id: int | None,
        size: int | None,
    ) -> InboundResult:
        steps = effects.steps
        size = max(size or 0, len(raw))
        too_large = size > self.settings.max_message_bytes
        parsed = parse_message(head_only(raw) if too_large else raw)
        candidates = candidate_addresses(parsed, envelope.recipients, self.codec.is_ours)
        verified = self._verify(candidates)
        if verified is None:
            steps.append("no address of ours among the recipients")
            if too_large:
                return InboundResult(Outcome.NOT_OURS, steps=tuple(steps))
            return self._unaddressed(raw, parsed, envelope, effects, replay_id, size)
        token, address, address_error = verified
        steps.append(f"address {address}: " + ("verified" if token else f"{address_error}"))
        classification = classify_message(parsed.readable)
        kind = str(classification.kind)
        steps.append(f"classified as {kind}")

        values = row_values(raw, parsed, envelope, address, kind, size, too_large)
        if isinstance(token, ReplyToken):
            values.update(module=token.module, user_id=token.user)
        if token is not None and not too_large and classification.kind is not MessageKind.NORMAL:
            # Bounces, complaints, auto-replies: recorded, never dispatched.
            from postroom.inbound.reports import plan_report

            return self._record_report(
                raw,
                parsed,
                envelope,
                effects,
                values,
                plan_report(classification),
                replay_id,
                token,
            )
        claimed = self._claim(raw, parsed, envelope, effects, values, replay_id, token)
        if isinstance(claimed, InboundResult):
            return claimed
        ctx = claimed
        if too_large:
            return self._refuse(
                ctx,
                Outcome.TOO_LARGE,
                NoticeKind.TOO_LARGE,
                size_context(size, self.settings.max_message_bytes),
            )
        if token is None:
            return self._refuse(
                ctx,
                Outcome.INVALID_ADDRESS,
                NoticeKind.INVALID_ADDRESS,
                {"address": address},
                error=str(address_error),
                unverified=True,
            )
        if isinstance(token, BounceToken):
            # A person wrote to a return-path address: it never takes replies.
            return self._refuse(
                ctx,
                Outcome.INVALID_ADDRESS,
                NoticeKind.INVALID_ADDRESS,
                {"address": address},
                error="human mail to a bounce address",
            )
        return self._reply(ctx, token)

    def _unaddressed(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        envelope: Envelope,
        effects: Effects,
        replay_id: int | None,
        size: int,
    ) -> InboundResult:
        """A message to no address of ours is still ours when it is a bounce or complaint
        that quotes the Message-ID of a copy we know (see ``Postroom.remember_sent``)."""
        steps = effects.steps
        classification = classify_message(parsed.readable)
        quoted = classification.original_message_id
        if classification.kind not in _REPORTS or not quoted:
            return InboundResult(Outcome.NOT_OURS, steps=tuple(steps))
        kind = str(classification.kind)
        copy = effects.find_copy(message_id=quoted)
        if copy is None:
            steps.append(f"a {kind} quoting <{quoted}>, which is no copy of ours")
            return InboundResult(Outcome.NOT_OURS, kind=kind, steps=tuple(steps))
        steps.append(f"a {kind} quoting <{quoted}>, our copy to user {copy.user_id}")
        address = envelope.recipients[0] if envelope.recipients else f"<{copy.message_id}>"
        values = row_values(raw, parsed, envelope, address, kind, size, False)
        values.update(module=copy.module, user_id=copy.user_id)
        from postroom.inbound.reports import plan_report

        plan = plan_report(classification)
        return self._record_report(
            raw, parsed, envelope, effects, values, plan, replay_id, None, owner=copy
        )

    # -- steps -----------------------------------------------------------------------------

    def _record_report(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        envelope: Envelope,
        effects: Effects,
        values: dict[str, Any],
        plan: ReportPlan,
        replay_id: int | None,
        token: ReplyToken | BounceToken | None,
        *,
        owner: SentCopy | None = None,
    ) -> InboundResult:
        """Claim a report and do its bookkeeping in one transaction: no handler runs, so it is
        stored with its final outcome at once, and never counted twice."""
        final = {**values, "status": "done", "outcome": str(plan.outcome)}
        with effects.unit():
            claimed = self._claim(raw, parsed, envelope, effects, final, replay_id, token)
            if isinstance(claimed, InboundResult):
                return claimed
            claimed.owner = owner
            return self._bookkeep(claimed, plan, stored=replay_id is None and claimed.fresh)

    def _claim(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        envelope: Envelope,
        effects: Effects,
        values: dict[str, Any],
        replay_id: int | None,
        token: ReplyToken | BounceToken | None,
    ) -> MessageContext | InboundResult:
        """Record the message under its dedupe key; a duplicate ends here."""
        address, kind = values["address"], values["kind"]
        if replay_id is not None:
            effects.steps.append(f"replaying inbound message {replay_id}")
            return MessageContext(parsed, envelope, effects, replay_id, address, kind, token)
        key = dedupe_key(parsed.message_id, raw, address)
        inbound_id, claimed, previous = effects.claim(key, values)
        if claimed:
            ctx = MessageContext(parsed, envelope, effects, inbound_id, address, kind, token)
            ctx.fresh = previous == "new"
            return ctx
        if previous == "processing":
            raise MessageInProgress(
                f"message {parsed.message_id or '(no Message-ID)'} to {address} is being "
                f"handled as #{inbound_id}; retry later"
            )
        effects.steps.append(f"already received as #{inbound_id} ({previous}): not dispatched")
        return InboundResult(
            Outcome.DUPLICATE, inbound_id, address, kind, steps=tuple(effects.steps)
        )

    def _verify(
        self, candidates: Iterator[str]
    ) -> tuple[ReplyToken | BounceToken | None, str, AddressError | None] | None:
        """The first candidate that verifies; else the first one of ours and why it failed;
        None when no address of ours is there at all."""
        first: tuple[str, AddressError] | None = None
        for candidate in candidates:
            try:
                return self.codec.decode(candidate), candidate, None
            except AddressError as exc:
                first = first or (candidate, exc)
        return None if first is None else (None, first[0], first[1])

    def _bookkeep(self, ctx: MessageContext, plan: ReportPlan, *, stored: bool) -> InboundResult:
        """Record a bounce, complaint, auto-reply or delivery report; never dispatch it.

        A report counts (bounce score, suppression) only when it names the address postroom
        sent the copy to (:mod:`postroom.inbound.owners`). ``stored``: the claim already
        wrote the final outcome (no update needed).
        """
        from postroom.inbound.owners import Owner, names, owner_of

        token, effects = ctx.token, ctx.effects
        owner = owner_of(token, effects, ctx.owner)
        quoted = plan.data.get("original_message_id")
        if owner is None and plan.event == "opened" and quoted:
            # A read receipt names the copy that was opened (RFC 8098 Original-Message-ID).
            copy = effects.find_copy(message_id=quoted)
            if copy is not None:
                owner = Owner(copy.user_id, copy.module, copy.recipient)
        user_id = owner.user_id if owner is not None else None
        module = owner.module if owner is not None else None
        ours = owner.address if owner is not None else None
        counts = ours is not None and names(plan.data.get("recipients") or (), ours)
        if (plan.suppress or plan.count_bounce) and user_id is not None and not counts:
            effects.steps.append(
                f"the report names {', '.join(plan.data.get('recipients') or ()) or 'nobody'}"
                + (f", not {ours}" if ours else f"; no address of user {user_id} is recorded")
                + ": it counts against nobody"
            )
        if plan.event is not None:
            effects.event(
                plan.event,
                user_id=user_id,
                delivery_id=token.delivery_id if isinstance(token, BounceToken) else None,
                module=module,
                inbound_id=ctx.inbound_id,
                recipient=ours if counts else plan.recipient,
                data={**plan.data, "counted": counts}
                if plan.count_bounce or plan.suppress
                else plan.data,
            )
        if user_id is not None and counts and plan.suppress:
            effects.suppress(user_id=user_id, address=ours, reason="complaint")
        if user_id is not None and counts and plan.count_bounce:
            tally = effects.count_bounce(
                user_id=user_id, hard=plan.hard, address=ours, details=plan.data
            )
            effects.steps.append(
                f"bounce score of user {user_id} now {tally.score:g}"
                + (
                    " (suppressed now)"
                    if tally.newly_suppressed
                    else " (suppressed already)"
                    if tally.crossed
                    else ""
                )
            )
        return self._done(ctx, plan.outcome, detail=plan.detail, write=not stored)

    def _reply(self, ctx: MessageContext, token: ReplyToken) -> InboundResult:
        session = ctx.effects.find_session(token.session_key)
        now = self.clock()
        if session is None or session.expires_at <= now:
            ctx.effects.steps.append("session " + ("not found" if session is None else "expired"))
            return self._refuse(
                ctx,
                Outcome.SESSION_EXPIRED,
                NoticeKind.EXPIRED_SESSION,
                {
                    "reason": "expired",
                    "uses": 0,
                    "ttl_days": int(self.settings.session_ttl.total_seconds() // 86400),
                },
            )
        if session.module != token.module or session.user_id != token.user:
            # The tag verified, so this is a key collision or tampering with the store.
            return self._refuse(
                ctx,
                Outcome.INVALID_ADDRESS,
                NoticeKind.INVALID_ADDRESS,
                {"address": ctx.address},
                error="session does not match address",
            )
        spec = self.handlers.by_module(token.module) or ctx.effects.url_handler(token.module)
        if spec is None:
            ctx.effects.steps.append(f"no handler for module {token.module}")
            return self._refuse(ctx, Outcome.UNKNOWN_MODULE, NoticeKind.UNKNOWN_MODULE, {})
        sender = ctx.parsed.sender or ""
        if spec.check_sender is not None and not spec.check_sender(token.user, sender):
            return self._refuse(
                ctx,
                Outcome.WRONG_SENDER,
                NoticeKind.WRONG_SENDER,
                {"sender": sender or "an unknown sender"},
            )
        extracted = extract_message(ctx.parsed.message)
        attachments = attachments_of(ctx.parsed.message)
        if is_empty_reply(extracted) and not attachments:
            return self._refuse(
                ctx,
                Outcome.EMPTY_REPLY,
                NoticeKind.EMPTY_REPLY,
                {"has_signature": bool(extracted.signature)},
            )
        session_data, digest_item, text = session.data, None, extracted.text
        digest = digest_of(session.data)
        if digest is not None:
            choice = choose_item(digest, extracted, ctx.parsed.subject)
            if choice.target is None:
                listing = [
                    {
                        "number": item["number"],
                        "title": item.get("title", ""),
                        "address": item.get("address", ctx.address),
                    }
                    for item in choice.items
                ]
                return self._refuse(
                    ctx, Outcome.DIGEST_AMBIGUOUS, NoticeKind.DIGEST_AMBIGUOUS, {"items": listing}
                )
            digest_item = choice.target.number
            session_data = choice.data_of(digest_item)
            if choice.target.how == "reference":
                text = strip_reference(text)
            ctx.effects.steps.append(f"digest item #{digest_item} (by {choice.target.how})")
        if not ctx.effects.take_use(session.id):
            return self._refuse(
                ctx,
                Outcome.SESSION_EXPIRED,
                NoticeKind.EXPIRED_SESSION,
                {"reason": "used_up", "uses": session.use_count, "ttl_days": 0},
            )
        reply = Reply(
            module=spec.name,
            user_id=token.user,
            session_data=session_data,
            text=text,
            signature=extracted.signature,
            quoted=extracted.quoted,
            html=extracted.html,
            attachments=attachments,
            sender=ctx.parsed.sender,
            subject=ctx.parsed.subject,
            message_id=ctx.parsed.message_id,
            address=ctx.address,
            message=ctx.parsed.message,
            inbound_id=ctx.inbound_id,
            digest_item=digest_item,
        )
        return self._dispatch(ctx, spec, session, reply)

    def _dispatch(
        self, ctx: MessageContext, spec: HandlerSpec, session: SessionView, reply: Reply
    ) -> InboundResult:
        try:
            ctx.effects.dispatch(spec, reply)
        except Reject as exc:
            ctx.effects.give_back_use(session.id)
            return self._refuse(
                ctx,
                Outcome.REJECTED,
                NoticeKind.REJECTED,
                {"explanation": exc.explanation},
                error=f"{exc.code}: {exc}",
            )
        except StoreUnavailable:
            ctx.effects.give_back_use(session.id)
            raise
        except WebhookFailed as exc:
            # The module's URL did not take it: no error email (a retry may well succeed),
            # the message is kept as failed and replayed from the queue.
            ctx.effects.give_back_use(session.id)
            ctx.effects.steps.append(f"handler {spec.name!r} (a URL) failed: {exc}")
            ctx.effects.retry_dispatch(ctx.inbound_id, str(exc))
            return self._done(ctx, Outcome.FAILED, error=f"webhook: {exc}")
        except Exception as exc:  # a handler bug must not lose the message: keep it for replay
            ctx.effects.give_back_use(session.id)
            detail = "".join(traceback.format_exception(exc)[-3:])
            ctx.effects.steps.append(f"handler {spec.name!r} failed: {exc!r}")
            return self._refuse(
                ctx,
                Outcome.FAILED,
                NoticeKind.UNEXPECTED_FAILURE,
                {"reference": f"#{ctx.inbound_id}"},
                error=detail,
            )
        ctx.effects.event(
            "replied",
            user_id=reply.user_id,
            module=ctx.token.module if isinstance(ctx.token, ReplyToken) else None,
            inbound_id=ctx.inbound_id,
            recipient=reply.sender,
            data={"session_id": session.id, "chars": len(reply.text)},
        )
        return self._done(ctx, Outcome.DISPATCHED, session_id=session.id, module_name=spec.name)

    # -- endings ---------------------------------------------------------------------------

    def _refuse(
        self,
        ctx: MessageContext,
        outcome: Outcome,
        notice: NoticeKind,
        context: dict[str, Any],
        *,
        error: str | None = None,
        unverified: bool = False,
    ) -> InboundResult:
        """End with ``outcome`` and tell the sender, when that may be done.

        ``unverified``: the address does not verify, so anyone may have made it up and the
        sender may be forged too: answered only when the receiving MTA authenticated the
        sender's domain (:mod:`postroom.inbound.authresults`), else that is backscatter."""
        to = may_answer(ctx.parsed, ctx.envelope.sender, ctx.kind)
        trusted = self.settings.trusted_authserv_ids
        if to is not None and unverified and not _authenticated(ctx.parsed, to, trusted):
            ctx.effects.steps.append(
                f"not answered: the address does not verify and {to} is not authenticated "
                "(no trusted Authentication-Results with DMARC or aligned SPF passing)"
            )
            to = None
        status = None
        if to is None:
            ctx.effects.steps.append(f"no error email ({notice}): the sender must not be answered")
        else:
            message = build_notice(
                notice,
                to=to,
                sender=self.settings.error_mail.sender,
                original=ctx.parsed,
                now=self.clock(),
                context=context,
            )
            status = ctx.effects.notify(notice.value, message, ctx.inbound_id)
            ctx.effects.steps.append(f"error email {notice} to {to}: {status}")
        if ctx.inbound_id is not None and outcome is Outcome.INVALID_ADDRESS:
            ctx.effects.event(
                "inbound_rejected",
                inbound_id=ctx.inbound_id,
                recipient=ctx.address,
                data={"reason": error or str(outcome)},
            )
        return self._done(
            ctx, outcome, error=error, notice=f"{notice}:{status}" if status else None
        )

    def _done(
        self,
        ctx: MessageContext,
        outcome: Outcome,
        *,
        error: str | None = None,
        detail: str = "",
        notice: str | None = None,
        session_id: int | None = None,
        module_name: str | None = None,
        write: bool = True,
    ) -> InboundResult:
        status = "failed" if outcome is Outcome.FAILED else "done"
        values: dict[str, Any] = {"status": status, "outcome": str(outcome), "error": error}
        if session_id is not None:
            values["session_id"] = session_id
        ctx.effects.finish(ctx.inbound_id if write else None, **values)
        result = self._result(
            outcome,
            ctx.inbound_id,
            ctx.address,
            ctx.kind,
            ctx.token,
            ctx.effects.steps,
            detail=detail or (error or ""),
            notice=notice,
            owner=ctx.owner,
        )
        if module_name is not None:
            return dataclasses.replace(result, module=module_name)
        return result

    def _result(
        self,
        outcome: Outcome,
        inbound_id: int | None,
        address: str,
        kind: str,
        token: ReplyToken | BounceToken | None,
        steps: list[str],
        *,
        detail: str = "",
        notice: str | None = None,
        owner: SentCopy | None = None,
    ) -> InboundResult:
        module_id, user = (
            (token.module, token.user)
            if isinstance(token, ReplyToken)
            else (owner.module, owner.user_id)
            if owner is not None
            else (None, None)
        )
        module = None
        if module_id is not None:
            spec = self.handlers.by_module(module_id)
            module = spec.name if spec else str(module_id)
        return InboundResult(
            outcome, inbound_id, address, kind, module, user, notice, detail, tuple(steps)
        )


def _authenticated(parsed: ParsedMessage, to: str, trusted: tuple[str, ...]) -> bool:
    from postroom.inbound.authresults import authenticated_sender

    return authenticated_sender(parsed, to, trusted)
