"""Settings: read once at the edge (``postroom.toml`` plus ``POSTROOM_*`` variables) into one
immutable object that the rest of postroom receives as an argument.

Every key lives in a TOML table; its environment variable is ``POSTROOM_<TABLE>_<KEY>`` in upper
case (``[database] url`` is ``POSTROOM_DATABASE_URL``). The environment wins over the file. A bad
value fails at start with a :class:`~postroom.errors.ConfigError` naming the key and the fix.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from postroom.errors import ConfigError

DEFAULT_CONFIG_FILE = "postroom.toml"
DEFAULT_DATABASE_URL = "sqlite:///postroom.db"
DEFAULT_OUTBOX = "outbox"
DEFAULT_SPOOL = "spool"


@dataclass(frozen=True, slots=True)
class BounceSettings:
    """How bounces count against a user before the user's address is suppressed."""

    hard_weight: float = 1.0
    soft_weight: float = 0.25
    threshold: float = 3.0
    quiet_period: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ErrorMailSettings:
    """Where the error emails postroom writes to senders go.

    ``transport`` is ``smtp`` (hand them to ``smtp_host:smtp_port``), ``outbox`` (write ``.eml``
    files to ``outbox_dir``, the local mail catcher) or ``none`` (record only).
    """

    sender: str = "postroom@localhost"
    transport: str = "outbox"
    outbox_dir: str = "outbox"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    throttle_count: int = 5
    throttle_window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SendingSettings:
    """How the durable queue delivers copies (defaults follow Postfix's queue manager).

    ``max_age``: a copy still not delivered after this long fails (``maximal_queue_lifetime``,
    5 days). Retries back off exponentially from ``min_backoff`` to ``max_backoff`` with jitter
    (``minimal_backoff_time`` 300 s, ``maximal_backoff_time`` 4000 s). ``lease``: how long a
    worker's claim on a copy lasts before another worker may take it over. ``batch``: copies
    claimed at once per connection. ``suppress_gone``: a permanent failure that says the
    address does not exist suppresses it (hard bounces, complaints and unsubscribes always do).
    """

    max_age: timedelta = timedelta(days=5)
    min_backoff: timedelta = timedelta(seconds=300)
    max_backoff: timedelta = timedelta(seconds=4000)
    lease: timedelta = timedelta(seconds=120)
    batch: int = 100
    suppress_gone: bool = True


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    """Where recipients reach ``postroom serve`` (the pixel, click and unsubscribe URLs of
    every copy start with ``base_url``), whether copies are tracked at all, and how hits are
    judged and recorded (docs/tracking.md).

    ``anonymous``: opens and clicks are counted per email without the copy, recipient, user,
    address or User-Agent. ``machine_window``: a hit this soon after the copy's delivery is a
    machine's (a scanner or a prefetch). ``machine_lists``: a TOML file replacing the built-in
    lists of proxies and scanners (empty: built-in). ``flush_interval``: how often the event
    sink writes (a crash loses at most this much). ``spool_dir``: where hits wait while the
    database is down. ``forwarded_for``: take the client address from the last
    X-Forwarded-For entry (only behind a proxy that sets it).
    """

    base_url: str = "http://localhost:8025"
    enabled: bool = True
    anonymous: bool = False
    machine_window: timedelta = timedelta(seconds=15)
    machine_lists: str = ""
    flush_interval: timedelta = timedelta(milliseconds=100)
    spool_dir: str = "spool"
    forwarded_for: bool = False


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How webhooks are delivered: ``timeout`` per POST; an endpoint failing without a
    success for ``disable_after`` is disabled (an event says so); the worker looks for new
    events every ``fanout_interval``."""

    timeout: timedelta = timedelta(seconds=10)
    disable_after: timedelta = timedelta(days=5)
    fanout_interval: timedelta = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class CatcherSettings:
    """The local mail catcher inside ``postroom serve``: an SMTP server on ``host:port`` that
    keeps every message sent to it for the dashboard's inboxes. ``enabled``: ``auto`` (on
    with the embedded SQLite database while no sending account other than the catcher's is
    set up: a fresh install sends somewhere visible), ``on`` or ``off``."""

    enabled: str = "auto"
    host: str = "127.0.0.1"
    port: int = 2525


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """The Mailbox part: Sent folder reconciliation and watched IMAP mailboxes.

    ``sent_cleanup``: ``delete`` removes the provider's copies of a sent email for good
    (\\Deleted and UID EXPUNGE of just those; on Gmail through its Trash), ``trash`` moves
    them to Trash, ``off`` leaves them (the clean copy is still appended).
    ``sent_wait``: how long a reconciliation waits for copies the provider files late.
    ``reconcile_delay``: how long after an email's last copy was sent it is reconciled.
    ``watch``: mailboxes ``postroom worker`` watches for replies and bounces, each
    ``ACCOUNT`` (its INBOX) or ``ACCOUNT:FOLDER``. ``poll_interval``: how often a mailbox
    without IDLE is polled (with IDLE, the longest wait between checks). ``processed_keyword``
    is set on each message handled (a keyword, never \\Seen: the sender's mail stays unread;
    empty for none); ``move_processed_to`` moves handled messages to that folder (for
    dedicated reply or bounce mailboxes; empty: they stay where they are).
    """

    sent_cleanup: str = "delete"
    sent_wait: timedelta = timedelta(seconds=10)
    reconcile_delay: timedelta = timedelta(seconds=5)
    watch: tuple[str, ...] = ()
    poll_interval: timedelta = timedelta(seconds=60)
    idle: bool = True
    processed_keyword: str = "$Postroom"
    move_processed_to: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything postroom reads from its configuration. Vary it with :meth:`clone`."""

    database_url: str = "sqlite:///postroom.db"
    app: str = ""
    reply_domain: str = "reply.localhost"
    reply_prefix: str = "reply+"
    bounce_prefix: str = "bounce+"
    address_keys: Mapping[int, bytes] = field(default_factory=dict)
    signing_key_id: int = 1
    session_ttl: timedelta = timedelta(days=30)
    session_prune_after: timedelta = timedelta(days=30)
    max_message_bytes: int = 25 * 1024 * 1024
    report_addresses: tuple[str, ...] = ()
    trusted_authserv_ids: tuple[str, ...] = ()
    bounces: BounceSettings = field(default_factory=BounceSettings)
    error_mail: ErrorMailSettings = field(default_factory=ErrorMailSettings)
    account_keys: Mapping[int, bytes] = field(default_factory=dict)
    account_key_id: int = 1
    sending: SendingSettings = field(default_factory=SendingSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    catcher: CatcherSettings = field(default_factory=CatcherSettings)
    source: str = "defaults"

    def clone(self, **changes: Any) -> Settings:
        """A copy with some fields changed (the settings object itself never changes)."""
        return dataclasses.replace(self, **changes)

    def require_keys(self) -> None:
        """Fail with a clear message when no address signing key is configured."""
        if self.signing_key_id not in self.address_keys:
            raise ConfigError(
                "addresses.keys",
                f"no signing key with id {self.signing_key_id} is configured ({self.source})",
                "run `postroom init` to write a postroom.toml with fresh secrets, or set "
                "POSTROOM_ADDRESSES_KEYS to '1:<base64 of 32 random bytes>'",
            )


# --- reading ---------------------------------------------------------------------------------

_Conv = Callable[[str, Any], Any]


def _as_str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"expected a non-empty string, got {value!r}", "quote the value")
    return value


def _non_negative(key: str, value: Any, kind: type[int] | type[float], example: str) -> Any:
    try:
        result = kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(key, f"expected {what}, got {value!r}", f"write e.g. {example}") from None
    if result < 0:
        raise ConfigError(key, f"must not be negative, got {result}", "use 0 or more")
    return result


def _as_int(key: str, value: Any) -> int:
    return int(_non_negative(key, value, int, "25"))


def _as_float(key: str, value: Any) -> float:
    return float(_non_negative(key, value, float, "1.5"))


def _as_days(key: str, value: Any) -> timedelta:
    return timedelta(days=_as_float(key, value))


def _as_hours(key: str, value: Any) -> timedelta:
    return timedelta(hours=_as_float(key, value))


def _as_str_or_empty(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}", "quote the value")
    return value


def _as_transport(key: str, value: Any) -> str:
    text = _as_str(key, value)
    if text not in ("smtp", "outbox", "none"):
        raise ConfigError(key, f"unknown transport {text!r}", "use one of smtp, outbox, none")
    return text


def _as_catcher_mode(key: str, value: Any) -> str:
    text = _as_str(key, value).lower()
    if text not in ("auto", "on", "off"):
        raise ConfigError(key, f"unknown value {text!r}", "use one of auto, on, off")
    return text


def _as_port(key: str, value: Any) -> int:
    port = _as_int(key, value)
    if not 1 <= port <= 65535:
        raise ConfigError(key, f"port {port} is out of range", "use a port from 1 to 65535")
    return port


def _as_domain(key: str, value: Any) -> str:
    text = _as_str(key, value).strip().lower().lstrip("@")
    if "@" in text or " " in text or "." not in text:
        raise ConfigError(key, f"{value!r} is not a mail domain", "write e.g. reply.example.org")
    return text


def _as_addresses(key: str, value: Any) -> tuple[str, ...]:
    """A TOML array of mail addresses, or a comma-separated string (from the environment)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(
            key, f"expected a list of addresses, got {value!r}", 'write ["bounces@example.org"]'
        )
    out = tuple(i.strip().lower() for i in items if i.strip())
    for address in out:
        local, at, domain = address.rpartition("@")
        if not at or not local or "." not in domain or " " in address:
            raise ConfigError(key, f"{address!r} is not a mail address", "write local@domain")
    return out


def _as_seconds(key: str, value: Any) -> timedelta:
    return timedelta(seconds=_as_float(key, value))


def _as_millis(key: str, value: Any) -> timedelta:
    return timedelta(milliseconds=_as_float(key, value))


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(key, f"expected true or false, got {value!r}", "write true or false")


def _as_base_url(key: str, value: Any) -> str:
    text = _as_str(key, value).strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or any(c in text for c in " \r\n"):
        raise ConfigError(
            key, f"{value!r} is not an http(s) URL", "write e.g. https://mail.example.org"
        )
    return text


def _as_names(key: str, value: Any) -> tuple[str, ...]:
    """A TOML array of host names, or a comma-separated string (from the environment)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(
            key, f"expected a list of names, got {value!r}", 'write ["mx.example.org"]'
        )
    out = tuple(i.strip().lower() for i in items if i.strip())
    for name in out:
        if " " in name or ";" in name:
            raise ConfigError(key, f"{name!r} is not an authserv-id", "write the MTA's host name")
    return out


def _as_cleanup(key: str, value: Any) -> str:
    text = _as_str(key, value).strip().lower()
    if text not in ("delete", "trash", "off"):
        raise ConfigError(key, f"{value!r} is no cleanup mode", 'use "delete", "trash" or "off"')
    return text


def _as_watch(key: str, value: Any) -> tuple[str, ...]:
    raw = value.split(",") if isinstance(value, str) else value
    if not isinstance(raw, list | tuple) or not all(isinstance(i, str) for i in raw):
        raise ConfigError(key, f"expected a list of mailboxes, got {value!r}", 'write ["support"]')
    items = tuple(i.strip() for i in raw if i.strip())
    for item in items:
        account, _, folder = item.partition(":")
        if not account or (":" in item and not folder):
            raise ConfigError(
                key, f"{item!r} names no mailbox", 'give "ACCOUNT" or "ACCOUNT:FOLDER"'
            )
    return items


def _as_keyword(key: str, value: Any) -> str:
    text = _as_str_or_empty(key, value).strip()
    # RFC 3501 section 9: flag-keyword is an atom (no space, parentheses, quotes, \\ ...).
    if text and (text.startswith("\\") or any(c in text for c in ' ()"{%*]\\')):
        raise ConfigError(key, f"{value!r} is no IMAP keyword", 'use an atom such as "$Postroom"')
    return text


def _as_keys(key: str, value: Any) -> dict[int, bytes]:
    """Keys come as a TOML table ``{"1" = "<base64>"}`` or as ``"1:<b64>,2:<b64>"`` from env."""
    items: list[tuple[str, str]]
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, str):
        items = []
        for part in value.split(","):
            kid, sep, secret = part.strip().partition(":")
            if not sep:
                raise ConfigError(key, "expected 'id:base64' pairs", "write e.g. '1:AbC...='")
            items.append((kid, secret))
    else:
        raise ConfigError(key, f"expected a table of key id to secret, got {value!r}", "see init")
    keys: dict[int, bytes] = {}
    for kid, secret in items:
        if not kid.isdigit() or not 0 <= int(kid) <= 15:
            raise ConfigError(key, f"key id {kid!r} is not 0..15", "number keys 0 to 15")
        try:
            raw = base64.b64decode(str(secret), validate=True)
        except (ValueError, TypeError):
            raise ConfigError(
                key, f"key {kid} is not base64", "paste the value init wrote"
            ) from None
        if len(raw) < 32:
            raise ConfigError(key, f"key {kid} has {len(raw)} bytes", "use 32 random bytes")
        keys[int(kid)] = raw
    return keys


# (table, key) -> (attribute path, converter)
_SCHEMA: dict[tuple[str, str], tuple[str, _Conv]] = {
    ("database", "url"): ("database_url", _as_str),
    ("app", "import"): ("app", _as_str_or_empty),
    ("addresses", "domain"): ("reply_domain", _as_domain),
    ("addresses", "reply_prefix"): ("reply_prefix", _as_str),
    ("addresses", "bounce_prefix"): ("bounce_prefix", _as_str),
    ("addresses", "keys"): ("address_keys", _as_keys),
    ("addresses", "signing_key"): ("signing_key_id", _as_int),
    ("sessions", "ttl_days"): ("session_ttl", _as_days),
    ("sessions", "prune_after_days"): ("session_prune_after", _as_days),
    ("inbound", "max_message_bytes"): ("max_message_bytes", _as_int),
    ("inbound", "report_addresses"): ("report_addresses", _as_addresses),
    ("inbound", "trusted_authserv_ids"): ("trusted_authserv_ids", _as_names),
    ("bounces", "hard_weight"): ("bounces.hard_weight", _as_float),
    ("bounces", "soft_weight"): ("bounces.soft_weight", _as_float),
    ("bounces", "threshold"): ("bounces.threshold", _as_float),
    ("bounces", "quiet_period_days"): ("bounces.quiet_period", _as_days),
    ("error_mail", "sender"): ("error_mail.sender", _as_str),
    ("error_mail", "transport"): ("error_mail.transport", _as_transport),
    ("error_mail", "outbox_dir"): ("error_mail.outbox_dir", _as_str),
    ("error_mail", "smtp_host"): ("error_mail.smtp_host", _as_str),
    ("error_mail", "smtp_port"): ("error_mail.smtp_port", _as_int),
    ("error_mail", "smtp_username"): ("error_mail.smtp_username", _as_str_or_empty),
    ("error_mail", "smtp_password"): ("error_mail.smtp_password", _as_str_or_empty),
    ("error_mail", "throttle_count"): ("error_mail.throttle_count", _as_int),
    ("error_mail", "throttle_window_hours"): ("error_mail.throttle_window", _as_hours),
    ("accounts", "keys"): ("account_keys", _as_keys),
    ("accounts", "encryption_key"): ("account_key_id", _as_int),
    ("sending", "max_age_days"): ("sending.max_age", _as_days),
    ("sending", "min_backoff_seconds"): ("sending.min_backoff", _as_seconds),
    ("sending", "max_backoff_seconds"): ("sending.max_backoff", _as_seconds),
    ("sending", "lease_seconds"): ("sending.lease", _as_seconds),
    ("sending", "batch"): ("sending.batch", _as_int),
    ("sending", "suppress_gone"): ("sending.suppress_gone", _as_bool),
    ("tracking", "base_url"): ("tracking.base_url", _as_base_url),
    ("tracking", "enabled"): ("tracking.enabled", _as_bool),
    ("mailbox", "sent_cleanup"): ("mailbox.sent_cleanup", _as_cleanup),
    ("mailbox", "sent_wait_seconds"): ("mailbox.sent_wait", _as_seconds),
    ("mailbox", "reconcile_delay_seconds"): ("mailbox.reconcile_delay", _as_seconds),
    ("mailbox", "watch"): ("mailbox.watch", _as_watch),
    ("mailbox", "poll_seconds"): ("mailbox.poll_interval", _as_seconds),
    ("mailbox", "idle"): ("mailbox.idle", _as_bool),
    ("mailbox", "processed_keyword"): ("mailbox.processed_keyword", _as_keyword),
    ("mailbox", "move_processed_to"): ("mailbox.move_processed_to", _as_str_or_empty),
    ("tracking", "anonymous"): ("tracking.anonymous", _as_bool),
    ("tracking", "machine_window_seconds"): ("tracking.machine_window", _as_seconds),
    ("tracking", "machine_lists"): ("tracking.machine_lists", _as_str_or_empty),
    ("tracking", "flush_interval_ms"): ("tracking.flush_interval", _as_millis),
    ("tracking", "spool_dir"): ("tracking.spool_dir", _as_str),
    ("tracking", "forwarded_for"): ("tracking.forwarded_for", _as_bool),
    ("webhooks", "timeout_seconds"): ("webhooks.timeout", _as_seconds),
    ("webhooks", "disable_after_days"): ("webhooks.disable_after", _as_days),
    ("webhooks", "fanout_interval_seconds"): ("webhooks.fanout_interval", _as_seconds),
    ("catcher", "enabled"): ("catcher.enabled", _as_catcher_mode),
    ("catcher", "host"): ("catcher.host", _as_str),
    ("catcher", "port"): ("catcher.port", _as_port),
}


def _env_name(table: str, key: str) -> str:
    return f"POSTROOM_{table}_{key}".upper()


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (when there is one) and the environment into :class:`Settings`.

    ``path`` defaults to ``$POSTROOM_CONFIG`` or ``./postroom.toml``; a path given explicitly must
    exist. Unknown keys in the file are errors, so a typo never silently falls back to a default.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "POSTROOM_CONFIG" in env
    config_path = Path(
        path if path is not None else env.get("POSTROOM_CONFIG", DEFAULT_CONFIG_FILE)
    )
    data: dict[str, Any] = {}
    source = "defaults"
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                str(config_path), f"not valid TOML ({exc})", "fix the syntax"
            ) from None
        source = str(config_path)
    elif explicit:
        raise ConfigError(
            "POSTROOM_CONFIG", f"{config_path} does not exist", "run `postroom init` to write one"
        )

    values: dict[str, Any] = {}
    # Relative paths in the file (and the defaults it leaves in place) are relative to the
    # file's folder, so postroom finds the same database from any working directory (an MTA
    # runs the pipe from its own); those from the environment to the working directory.
    for table, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(table, "expected a [table]", f"write [{table}] on its own line")
        for key, raw in body.items():
            spec = _SCHEMA.get((table, key))
            if spec is None:
                known = ", ".join(sorted(k for t, k in _SCHEMA if t == table)) or "none"
                raise ConfigError(f"{table}.{key}", "unknown key", f"known keys here: {known}")
            values[spec[0]] = spec[1](f"{table}.{key}", raw)
    if source != "defaults":
        base = config_path.absolute().parent
        values.setdefault("database_url", DEFAULT_DATABASE_URL)
        values.setdefault("error_mail.outbox_dir", DEFAULT_OUTBOX)
        values.setdefault("tracking.spool_dir", DEFAULT_SPOOL)
        values.setdefault("tracking.machine_lists", "")
        for attr, resolve in _PATHS.items():
            values[attr] = resolve(values[attr], base)
    for (table, key), (attr, conv) in _SCHEMA.items():
        name = _env_name(table, key)
        if name in env:
            values[attr] = conv(name, env[name])
            source = f"{source} + environment" if "environment" not in source else source
    return _build(values, source)


def resolve_sqlite_url(url: str, base: Path) -> str:
    """A ``sqlite:///relative/file.db`` URL made absolute against ``base``; other URLs (and
    in-memory databases) as they are."""
    scheme, sep, rest = url.partition(":///")
    if not sep or not scheme.startswith("sqlite"):
        return url
    path, query, params = rest.partition("?")
    if not path or path == ":memory:" or path.startswith("/"):
        return url
    return f"{scheme}:///{base / path}{query}{params}"


def _resolve_path(value: str, base: Path) -> str:
    return str(base / value) if value and not Path(value).is_absolute() else value


_PATHS: dict[str, Callable[[str, Path], str]] = {
    "database_url": resolve_sqlite_url,
    "error_mail.outbox_dir": _resolve_path,
    "tracking.spool_dir": _resolve_path,
    "tracking.machine_lists": _resolve_path,
}


def _build(values: Mapping[str, Any], source: str) -> Settings:
    top: dict[str, Any] = {"source": source}
    nested: dict[str, dict[str, Any]] = {
        "bounces": {},
        "error_mail": {},
        "sending": {},
        "tracking": {},
        "mailbox": {},
        "webhooks": {},
        "catcher": {},
    }
    for attr, value in values.items():
        head, _, tail = attr.partition(".")
        if tail:
            nested[head][tail] = value
        else:
            top[attr] = value
    settings = Settings(
        bounces=BounceSettings(**nested["bounces"]),
        error_mail=ErrorMailSettings(**nested["error_mail"]),
        sending=SendingSettings(**nested["sending"]),
        tracking=TrackingSettings(**nested["tracking"]),
        mailbox=MailboxSettings(**nested["mailbox"]),
        webhooks=WebhookSettings(**nested["webhooks"]),
        catcher=CatcherSettings(**nested["catcher"]),
        **top,
    )
    if settings.sending.batch < 1:
        raise ConfigError("sending.batch", "must be at least 1", "use e.g. 50")
    if settings.sending.lease < timedelta(seconds=5):
        raise ConfigError("sending.lease_seconds", "is below 5 seconds", "use e.g. 120")
    if settings.bounces.threshold <= 0:
        raise ConfigError("bounces.threshold", "must be above 0", "use e.g. 3")
    if not 1 <= settings.tracking.flush_interval.total_seconds() * 1000 <= 10_000:
        raise ConfigError(
            "tracking.flush_interval_ms", "must be 1 to 10000", "use 100 (a crash loses that much)"
        )
    if settings.max_message_bytes < 1024:
        raise ConfigError("inbound.max_message_bytes", "is below 1 KiB", "use e.g. 26214400")
    return settings


def render_config(
    *,
    secret: bytes,
    database_url: str = "sqlite:///postroom.db",
    domain: str = "reply.localhost",
    account_secret: bytes | None = None,
) -> str:
    """The commented ``postroom.toml`` that ``postroom init`` writes."""
    key = base64.b64encode(secret).decode("ascii")
    # A separate key for account secrets: one leaked key must not give away the other's use.
    account_key = base64.b64encode(account_secret or os.urandom(32)).decode("ascii")
    return f"""\
# postroom configuration. Every key can also be set in the environment as
# POSTROOM_<TABLE>_<KEY>, e.g. POSTROOM_DATABASE_URL; the environment wins.

[database]
# A SQLite file (a relative path is relative to this file's folder); for PostgreSQL:
# url = "postgresql+psycopg://user:password@127.0.0.1:5432/postroom"
url = "{database_url}"

[app]
# Where your handlers live, as "package.module:attribute" naming a postroom.Postroom object.
# import = "myapp.mail:room"

[addresses]
# Reply addresses look like reply+<payload>@<domain>; point this domain's MX at postroom.
domain = "{domain}"
reply_prefix = "reply+"
bounce_prefix = "bounce+"
# Keys that sign reply addresses. To rotate: add a new id, make it signing_key, and keep
# the old one here until its addresses have aged out of inboxes.
signing_key = 1
keys = {{ "1" = "{key}" }}

[sessions]
# How long a reply address stays valid, and when `postroom prune` removes expired sessions.
ttl_days = 30
prune_after_days = 30

[inbound]
max_message_bytes = 26214400
# Mailboxes of the application's own (its envelope sender, a feedback-loop address) that the
# LMTP/SMTP listener also accepts: their bounces and complaints count when they quote the
# Message-ID of a copy recorded with Postroom.remember_sent(); other mail to them is dropped.
report_addresses = []
# The authserv-ids (RFC 8601) of the MTAs that receive mail for postroom, whose
# Authentication-Results fields are believed. Mail to an address that does not verify is
# answered only when one of them says the sender's domain passed DMARC or aligned SPF;
# otherwise it is recorded and refused, never answered (no backscatter).
trusted_authserv_ids = []

[bounces]
# A hard bounce adds hard_weight, a soft one soft_weight; reaching threshold suppresses the
# user's address. The score starts again after quiet_period_days without bounces.
hard_weight = 1.0
soft_weight = 0.25
threshold = 3.0
quiet_period_days = 30

[error_mail]
# Emails postroom writes to senders when a reply cannot be handled.
sender = "postroom@{domain}"
# smtp | outbox (write .eml files to outbox_dir, relative to this file's folder) | none
transport = "outbox"
outbox_dir = "outbox"
smtp_host = "127.0.0.1"
smtp_port = 25
smtp_username = ""
smtp_password = ""
# At most throttle_count error emails per sender per throttle_window_hours.
throttle_count = 5
throttle_window_hours = 1

[accounts]
# Keys that encrypt account passwords and OAuth tokens at rest. To rotate: add a new id,
# make it encryption_key, run `postroom accounts rotate-keys`, then drop the old one.
encryption_key = 1
keys = {{ "1" = "{account_key}" }}

[sending]
# A copy not delivered after max_age_days fails; retries back off from min_backoff_seconds
# to max_backoff_seconds (Postfix's defaults). A permanent failure saying the address does
# not exist suppresses it when suppress_gone is true.
max_age_days = 5
min_backoff_seconds = 300
max_backoff_seconds = 4000
lease_seconds = 120
batch = 100
suppress_gone = true

[tracking]
# Where recipients reach `postroom serve`: every copy's pixel, click and unsubscribe URLs
# start with this. Set enabled = false to track nothing anywhere.
base_url = "http://localhost:8025"
enabled = true
# Count opens and clicks per email only, tied to no copy, recipient or address.
anonymous = false
# A hit this many seconds after its copy was delivered is a machine's (a scanner, a prefetch).
machine_window_seconds = 15
# A TOML file of proxies and scanners replacing the built-in lists ("" = built-in).
machine_lists = ""
# The event sink writes at least this often; a crash loses at most this much.
flush_interval_ms = 100
# Where hits wait while the database is down (replayed once when it is back).
spool_dir = "spool"
# Behind a reverse proxy that sets X-Forwarded-For, take the client address from it.
forwarded_for = false

[mailbox]
# Sent folder reconciliation for accounts with IMAP settings: the copies the provider filed
# are removed ("delete"; "trash" moves them to Trash; "off" leaves them) and one clean copy
# is appended. watch lists mailboxes `postroom worker` watches for replies and bounces:
# "ACCOUNT" (its INBOX) or "ACCOUNT:FOLDER".
sent_cleanup = "delete"
sent_wait_seconds = 10
reconcile_delay_seconds = 5
watch = []
poll_seconds = 60
idle = true
processed_keyword = "$Postroom"
move_processed_to = ""

[webhooks]
timeout_seconds = 10
# An endpoint failing for this long without one success is disabled (an event says so).
disable_after_days = 5
fanout_interval_seconds = 1

[catcher]
# The local mail catcher inside `postroom serve` (SMTP, loopback): "auto" runs it with the
# embedded SQLite database while no sending account but the catcher's is set up.
enabled = "auto"
host = "127.0.0.1"
port = 2525
"""
