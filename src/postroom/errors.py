"""The one exception tree of postroom.

Every error postroom raises on purpose derives from :class:`PostroomError`, so an application can
catch the whole family with one clause and the command line can map each branch to an exit code::

    PostroomError
    ├── ConfigError              bad or missing configuration (names the key and the fix)
    ├── AddressError             a reply or bounce address that postroom must not trust
    │   ├── NotOurAddress        no postroom prefix/domain: somebody else's mail
    │   ├── MalformedAddress     our prefix, but the payload does not decode
    │   ├── UnknownAddressFormat a format version no decoder is registered for
    │   ├── UnknownKey           signed with a key id this keyring does not hold
    │   └── ForgedAddress        the HMAC tag does not verify
    ├── StoreError               the database answered with an error
    │   └── StoreUnavailable     the database cannot be reached: retry later, lose nothing
    ├── InboundError             a received message cannot be handled
    │   ├── UnparseableMessage
    │   └── MessageInProgress    the same message is being handled right now: retry later
    ├── SecretError              an account secret cannot be decrypted with the configured keys
    ├── AccountError             no such account, or an account that cannot be used as asked
    ├── QueueError               the delivery queue refused a request (unknown email, ...)
    ├── OAuthError               no usable OAuth 2.0 access token for an XOAUTH2 login
    │   ├── OAuthRevoked         invalid_grant: the refresh token was revoked or expired
    │   ├── OAuthClientRejected  invalid_client, unauthorized_client: check client id/secret
    │   ├── OAuthRequestRejected invalid_request, invalid_scope, unsupported_grant_type
    │   ├── OAuthEndpointError   the token endpoint's answer is not RFC 6749 (wrong token_url)
    │   ├── OAuthUnavailable     network failure, timeout, 5xx: transient, retry later
    │   ├── OAuthCredentialsInvalid  stored credentials that cannot be used as they are
    │   └── XOAuth2LoginRefused  the SMTP server refused the XOAUTH2 login (names the fix)
    ├── ComposeError             an email that cannot be built (names the field and the fix)
    ├── TokenError               a tracking token (pixel, click, unsubscribe) not to be trusted
    │   ├── MalformedToken       not base64url of a record postroom writes
    │   ├── UnknownTokenKey      signed with a key id this keyring does not hold
    │   ├── ForgedToken          the HMAC tag does not verify
    │   ├── ExpiredToken         genuine, but past its expiry
    │   └── WrongTokenKind       genuine, but of another kind than the endpoint serves
    ├── OutboundError            talking to an SMTP server to send mail failed
    │   ├── ConnectFailed        the server cannot be reached (refused, unknown host, greeting 554)
    │   ├── TlsFailed            STARTTLS not offered, or the certificate or handshake failed
    │   ├── AuthFailed           the login was refused (carries the server's reply)
    │   ├── AuthUnavailable      the server does not offer the chosen AUTH mechanism
    │   ├── SmtpTimeout          no answer within the RFC 5321 4.5.3.2 limit of a phase
    │   ├── ProtocolError        the server broke the protocol (garbage, a reply nobody asked for)
    │   ├── ConnectionLost       the server closed the connection (EOF, or a 421 at any moment)
    │   ├── MalformedCopy        a copy that must not be put on the wire (CR/LF in an address...)
    │   ├── ExtensionMissing     the server lacks an extension a copy needs (SMTPUTF8, 8BITMIME)
    │   └── ClientStateError     postroom's own client asked for a command out of order (a bug)
    ├── MailboxError             an IMAP mailbox cannot be used as asked (names the fix)
    │   └── ImapFailed           the IMAP server could not be reached or refused a command
    ├── AccessError              an API token or operator user that cannot be made or used as asked
    ├── ApiError                 an HTTP API request refused (answered as RFC 9457 problem+json)
    │   ├── Unauthorized         401: no bearer token, or an unknown, revoked or expired one
    │   ├── Forbidden            403: the token lacks the scope the route needs
    │   ├── NotFound             404: no such email, message, session, suppression or account
    │   ├── Conflict             409: the request contradicts what is stored
    │   ├── PayloadTooLarge      413: a body larger than the route accepts
    │   └── InvalidRequest       400/415/422: a parameter or body field that cannot be used
    ├── WebhookError             a webhook that cannot be sent, received or answered as asked
    │   ├── WebhookVerificationError  a received webhook whose headers or signature do not verify
    │   └── WebhookFailed        an endpoint that did not take a POST (network, timeout, non-2xx)
    ├── CatcherError             the local mail catcher cannot act as asked (no such message, the
    │                            pixel or link cannot be fetched, a port taken): names the fix
    └── Reject                   raised by an application handler to refuse a reply politely

Messy input that can still be read is never an exception: parsers record defects on their result,
as CPython's ``email`` package does. What happens to a message that can be read (an expired
session, an unknown module, a message too large) is an outcome of the inbound pipeline
(:class:`postroom.inbound.types.Outcome`), not an exception.
"""

from __future__ import annotations


class PostroomError(Exception):
    """Base class of every error postroom raises on purpose."""


class ConfigError(PostroomError):
    """The configuration is invalid. The message names the key and how to fix it."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"config key {key!r}: {problem}. Fix: {fix}")


class AddressError(PostroomError):
    """A reply or bounce address that must not be trusted."""


class NotOurAddress(AddressError):
    """The address does not carry postroom's prefix and domain."""


class MalformedAddress(AddressError):
    """The address has our prefix but its payload does not decode."""


class UnknownAddressFormat(AddressError):
    """The payload names a format version that no registered decoder reads."""


class UnknownKey(AddressError):
    """The payload names a key id the keyring does not hold (retired or never issued)."""


class ForgedAddress(AddressError):
    """The HMAC tag does not verify: the address was altered or made up."""


class StoreError(PostroomError):
    """The database reported an error."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now. Callers should retry later; nothing is lost."""


class InboundError(PostroomError):
    """A received message cannot be handled."""


class UnparseableMessage(InboundError):
    """The bytes are not an email message at all (empty, or no header section)."""


class MessageInProgress(InboundError):
    """Another process is handling this very message (same Message-ID, same address) now.

    Receivers answer with a temporary failure, so the MTA retries: by then the first attempt
    has finished (the retry is a duplicate) or died (its claim lease ran out and the retry
    takes over). Either way the message is handled exactly once.
    """


class SecretError(PostroomError):
    """A stored account secret cannot be decrypted with ``[accounts] keys`` (the key that
    wrote it was removed): the message says which key to put back."""


class AccountError(PostroomError):
    """No account of that name, a duplicate name, or an account missing what a send needs."""


class QueueError(PostroomError):
    """A request to the durable queue that cannot be served (an unknown email id, ...)."""


class OAuthError(PostroomError):
    """No usable OAuth 2.0 access token (RFC 6749): the message names the problem and the fix.

    ``code`` is the RFC 6749 section 5.2 error code when the token endpoint gave one,
    ``transient`` says whether trying again later may succeed (network failures, 5xx).
    """

    transient = False

    def __init__(self, problem: str, fix: str, *, code: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.code = code
        super().__init__(f"{problem}: {fix}")


class OAuthRevoked(OAuthError):
    """invalid_grant: the refresh token was revoked, has expired or was issued to another client.

    Nothing but a new authorisation by the account's owner helps.
    """


class OAuthClientRejected(OAuthError):
    """invalid_client or unauthorized_client: the client id or secret is wrong or not allowed."""


class OAuthRequestRejected(OAuthError):
    """invalid_request, invalid_scope, unsupported_grant_type or an error code RFC 6749 lacks."""


class OAuthEndpointError(OAuthError):
    """The token endpoint answered outside RFC 6749 (not JSON, no access_token, a redirect, a
    certificate that does not verify): ``token_url`` most likely names the wrong endpoint."""


class OAuthUnavailable(OAuthError):
    """The token endpoint cannot be reached or failed (timeout, 5xx, 429): retry later."""

    transient = True


class OAuthCredentialsInvalid(OAuthError):
    """Stored OAuth credentials that cannot be used: unreadable, or an insecure token URL."""


class XOAuth2LoginRefused(OAuthError):
    """The SMTP server refused an XOAUTH2 login even after a refresh; the message names the fix.

    ``reply`` is the server's answer as received (code and text).
    """

    def __init__(self, problem: str, fix: str, *, reply: str, transient: bool = False) -> None:
        self.reply = reply
        self.transient = transient
        super().__init__(problem, fix)


class ComposeError(PostroomError):
    """An email cannot be built as given. Raised before anything is built or queued.

    ``field`` names the offending input the way the caller wrote it (``to[2]``, ``cc[0]``,
    ``from``, ``subject``, ``headers['X-Tag']``, ``attachments[1].filename``), ``problem`` says
    what is wrong and ``fix`` how to put it right.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")


class TokenError(PostroomError):
    """A tracking token that must not be trusted. Endpoints answer it like an unknown URL."""


class MalformedToken(TokenError):
    """The token is not canonical base64url of a record of a known version and size."""


class UnknownTokenKey(TokenError):
    """The token names a key id the keyring does not hold (retired or never issued)."""


class ForgedToken(TokenError):
    """The HMAC tag does not verify: the token was altered or made up."""


class ExpiredToken(TokenError):
    """The token is genuine but its expiry has passed."""


class WrongTokenKind(TokenError):
    """The token is genuine but of another kind (a click token at the pixel endpoint)."""


class OutboundError(PostroomError):
    """Sending through an SMTP server failed. ``str(error)`` names the problem and the fix."""


class ConnectFailed(OutboundError):
    """The server cannot be reached, or it refused the session in its greeting."""


class TlsFailed(OutboundError):
    """TLS could not be set up: STARTTLS missing (never a silent downgrade), a bad certificate,
    or a failed handshake."""


class AuthFailed(OutboundError):
    """The server refused the login (RFC 4954 section 6: 535, 534, 454...).

    ``reply`` is the server's answer (a :class:`postroom.outbound.types.Reply`); ``details`` is
    the decoded error challenge an XOAUTH2 server sent before its 535, if any. An OAuth caller
    refreshes its token and retries once.
    """

    def __init__(self, message: str, reply: object, details: str | None = None) -> None:
        self.reply = reply
        self.details = details
        super().__init__(message)


class AuthUnavailable(OutboundError):
    """The server does not offer the AUTH mechanism the account is set up for."""


class SmtpTimeout(OutboundError):
    """The server did not answer within the time RFC 5321 section 4.5.3.2 allows the phase."""

    def __init__(self, message: str, phase: str) -> None:
        self.phase = phase
        super().__init__(message)


class ProtocolError(OutboundError):
    """The server sent something that is not SMTP, or a reply nobody asked for."""


class ConnectionLost(OutboundError):
    """The server closed the connection: end of file, a reset, or a 421 reply (RFC 5321
    section 3.8: the server is shutting the transmission channel)."""


class MalformedCopy(OutboundError):
    """A copy postroom refuses to put on the wire: a CR, LF or NUL in an envelope address (which
    would inject commands), an empty recipient, 8-bit data not declared as such."""


class ExtensionMissing(OutboundError):
    """The server does not offer an extension a copy needs: SMTPUTF8 (RFC 6531) for non-ASCII
    addresses or headers, 8BITMIME (RFC 6152) for 8-bit content. Nothing was sent."""


class ClientStateError(OutboundError):
    """postroom's SMTP client was asked for a command its state does not allow: a bug."""


class MailboxError(PostroomError):
    """An IMAP mailbox that cannot be used as asked: no Sent folder, an extension the server
    lacks, an account without IMAP settings. ``problem`` and ``fix`` are kept apart."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}: {fix}")


class ImapFailed(MailboxError):
    """The IMAP server could not be reached, refused the login or a command, or the
    connection broke. ``transient`` says whether trying again later may succeed."""

    def __init__(self, problem: str, fix: str, *, transient: bool = True) -> None:
        self.transient = transient
        super().__init__(problem, fix)


class AccessError(PostroomError):
    """An API token or operator user that cannot be created, found or used as asked (a
    duplicate name, a password too short, a token that does not exist): the message names
    the fix."""


class ApiError(PostroomError):
    """An HTTP API request that is refused; the API answers it as ``application/problem+json``
    (RFC 9457). ``problem`` names the problem type (``/api/problems/<problem>``), ``detail``
    says what was wrong and how to fix it, ``field`` the offending input when there is one
    (``to[2]``, ``limit``), ``errors`` every offending input of a validation failure."""

    status = 400
    problem = "invalid-request"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: tuple[dict[str, str], ...] = (),
        problem: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail
        self.field = field
        self.errors = errors
        self.headers = headers or {}
        if problem is not None:
            self.problem = problem
        if status is not None:
            self.status = status
        super().__init__(detail)


class Unauthorized(ApiError):
    """401: the request carries no bearer token, or one postroom does not accept."""

    status = 401
    problem = "unauthorized"


class Forbidden(ApiError):
    """403: the token is genuine but lacks the scope the route needs."""

    status = 403
    problem = "forbidden"


class NotFound(ApiError):
    """404: no such email, inbound message, session, suppression or account."""

    status = 404
    problem = "not-found"


class Conflict(ApiError):
    """409: the request contradicts what is stored (a name taken, a message handled)."""

    status = 409
    problem = "conflict"


class PayloadTooLarge(ApiError):
    """413: the body is larger than the route accepts."""

    status = 413
    problem = "payload-too-large"


class InvalidRequest(ApiError):
    """400 or 422: a parameter or a body field that cannot be used as given."""

    status = 422
    problem = "invalid-field"


class WebhookError(PostroomError):
    """A webhook that cannot be sent, received or answered as asked."""


class WebhookVerificationError(WebhookError):
    """A received webhook that must not be trusted: a header missing, a timestamp outside
    the tolerance (a replay), or no signature that matches the body."""


class WebhookFailed(WebhookError):
    """An endpoint did not take a POST: it could not be reached, timed out, or answered
    other than 2xx. ``status`` is the HTTP status when there was one, ``retry_after`` the
    seconds its Retry-After asked for; the POST is retried from the queue."""

    def __init__(
        self, problem: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(problem)


class CatcherError(PostroomError):
    """The local mail catcher cannot do what was asked: start on a port that is taken, act on a
    message it does not hold, fetch a pixel or link URL that does not answer. The message says
    what failed and what to do (the dashboard shows it as it is)."""


class Reject(PostroomError):
    """Raised by a handler to refuse a reply; the sender gets an error email with the explanation.

    ``code`` is a short machine-readable reason (``"closed_topic"``), ``explanation`` is the
    human sentence put into the error email.
    """

    def __init__(self, code: str, explanation: str) -> None:
        self.code = code
        self.explanation = explanation
        super().__init__(f"{code}: {explanation}")
