"""Human or machine: the label of one open or click (pure; docs/tracking.md has the rules).

A hit is judged from what the request shows (method, address, User-Agent), when it came (the
time since the copy was delivered) and, for clicks, what else the copy saw just before (a
scanner follows every link at once). The verdict is a label with a reason code, never a bare
flag, and a line of text saying which rule decided; the raw details stay on the event.

The rules, first match wins:

1. ``scanner``: a HEAD request; a User-Agent or address on a scanner list (Microsoft
   Defender, Proofpoint, Mimecast, Barracuda); a click while ``burst_links`` distinct links of
   the same copy were clicked within ``burst_seconds``.
2. ``apple_privacy`` (machine): Apple's addresses. Mail Privacy Protection fetches every image
   when the message arrives on the device, whether or not anyone reads it.
3. ``gmail_proxy`` (a person): Gmail's image proxy fetches once, when the message is first
   displayed, so the open stands for a reader even though the address is Google's.
4. ``other_proxy`` (Yahoo's proxy): a person, except within ``window`` of the delivery, when
   it is a prefetch (machine).
5. ``scanner``: anything else within ``window`` of the delivery (nobody has read a copy a few
   seconds after it left), or a request with no User-Agent at all.
6. ``human``.
"""

from __future__ import annotations

import enum
import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from postroom.errors import ConfigError


class Label(enum.StrEnum):
    HUMAN = "human"
    APPLE_PRIVACY = "apple_privacy"
    GMAIL_PROXY = "gmail_proxy"
    OTHER_PROXY = "other_proxy"
    SCANNER = "scanner"


#: Labels a list rule may carry (``human`` is what is left when none matches).
LISTED = (Label.SCANNER, Label.APPLE_PRIVACY, Label.GMAIL_PROXY, Label.OTHER_PROXY)


@dataclass(frozen=True, slots=True)
class Verdict:
    label: Label
    machine: bool
    reason: str  # which rule decided, for people reading the event


@dataclass(frozen=True, slots=True)
class Rule:
    label: Label
    name: str
    source: str
    agent: str | None = None  # lower-cased substring of the User-Agent
    first: int = 0  # the address range as integers (network rules)
    last: int = -1
    version: int = 0  # 4 or 6 for network rules

    def describe(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class MachineLists:
    """The lists the rules consult (default: ``machines.toml`` beside this module)."""

    rules: tuple[Rule, ...]
    origin: str = "built-in"
    _agents: tuple[Rule, ...] = field(default=(), repr=False)
    _networks: tuple[Rule, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, rules: Iterable[Rule], origin: str = "built-in") -> MachineLists:
        ordered = sorted(rules, key=lambda rule: LISTED.index(rule.label))
        return cls(
            tuple(ordered),
            origin,
            tuple(r for r in ordered if r.agent is not None),
            tuple(r for r in ordered if r.version),
        )

    def by_agent(self, agent: str) -> Rule | None:
        lowered = agent.lower()
        for rule in self._agents:
            assert rule.agent is not None
            if rule.agent in lowered:
                return rule
        return None

    def by_address(self, ip: str) -> Rule | None:
        try:
            parsed = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        value, version = int(parsed), parsed.version
        for rule in self._networks:
            if rule.version == version and rule.first <= value <= rule.last:
                return rule
        return None


def _rule(entry: Mapping[str, Any], where: str) -> Rule:
    try:
        label = Label(str(entry.get("label")))
    except ValueError:
        label = Label.HUMAN
    if label not in LISTED:
        names = ", ".join(LISTED)
        raise ConfigError(where, f"label {entry.get('label')!r} is not one of {names}", "fix it")
    name, source = entry.get("name"), entry.get("source")
    if not isinstance(name, str) or not name or not isinstance(source, str) or not source:
        raise ConfigError(
            where, "every rule needs a name and a source", "say who publishes the entry"
        )
    agent, network = entry.get("agent"), entry.get("network")
    if (agent is None) == (network is None):
        raise ConfigError(where, "a rule has either agent or network", "give exactly one")
    if agent is not None:
        if not isinstance(agent, str) or not agent.strip():
            raise ConfigError(where, "agent must be a non-empty string", "quote it")
        return Rule(label, name, source, agent=agent.strip().lower())
    try:
        net = ipaddress.ip_network(str(network), strict=False)
    except ValueError:
        raise ConfigError(
            where, f"{network!r} is not an address range", "write 17.0.0.0/8"
        ) from None
    return Rule(
        label,
        name,
        source,
        first=int(net.network_address),
        last=int(net.broadcast_address),
        version=net.version,
    )


def parse_lists(text: str, origin: str) -> MachineLists:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(origin, f"not valid TOML ({exc})", "fix the syntax") from None
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise ConfigError(origin, "expected [[rule]] tables", "see the built-in machines.toml")
    return MachineLists.of(
        (_rule(entry, f"{origin} rule {n}") for n, entry in enumerate(entries, 1)), origin
    )


def load_lists(path: str | None = None) -> MachineLists:
    """The built-in lists, or the operator's file (``[tracking] machine_lists``)."""
    if not path:
        text = resources.files("postroom.tracking").joinpath("machines.toml").read_text("utf-8")
        return parse_lists(text, "built-in")
    try:
        return parse_lists(Path(path).read_text(encoding="utf-8"), path)
    except OSError as exc:
        raise ConfigError(
            "tracking.machine_lists", f"cannot read {path} ({exc})", "point it at a TOML file"
        ) from None


@dataclass(frozen=True, slots=True)
class Judge:
    """The rules with their lists and the operator's window."""

    lists: MachineLists
    window: timedelta = timedelta(seconds=15)
    burst_links: int = 3
    burst_seconds: float = 2.0

    def judge(
        self,
        *,
        click: bool,
        method: str,
        ip: str,
        agent: str,
        since_delivery: float | None,
        links_in_burst: int = 1,
    ) -> Verdict:
        """``since_delivery``: seconds from the copy's delivery to the hit (None: unknown);
        ``links_in_burst``: distinct links of this copy clicked within ``burst_seconds``
        up to this one (itself included)."""
        if method == "HEAD":
            return Verdict(Label.SCANNER, True, "HEAD request (a link checker, not a browser)")
        by_agent = self.lists.by_agent(agent) if agent else None
        by_address = self.lists.by_address(ip)
        for rule in (by_agent, by_address):
            if rule is not None and rule.label is Label.SCANNER:
                how = "User-Agent" if rule is by_agent else "address"
                return Verdict(Label.SCANNER, True, f"{how} of {rule.name}")
        if click and links_in_burst >= self.burst_links:
            return Verdict(
                Label.SCANNER,
                True,
                f"{links_in_burst} links of the copy clicked within {self.burst_seconds:g} s",
            )
        early = since_delivery is not None and since_delivery < self.window.total_seconds()
        for rule in (by_agent, by_address):
            if rule is None:
                continue
            if rule.label is Label.APPLE_PRIVACY:
                return Verdict(Label.APPLE_PRIVACY, True, f"address of {rule.name}")
            if rule.label is Label.GMAIL_PROXY:
                return Verdict(Label.GMAIL_PROXY, False, f"{rule.name}: fetched at display")
            if rule.label is Label.OTHER_PROXY:
                if early:
                    return Verdict(
                        Label.OTHER_PROXY,
                        True,
                        f"{rule.name}, {since_delivery:.1f} s after delivery (a prefetch)",
                    )
                return Verdict(Label.OTHER_PROXY, False, f"{rule.name}: fetched at display")
        if early:
            return Verdict(
                Label.SCANNER, True, f"{since_delivery:.1f} s after delivery (within the window)"
            )
        if not agent.strip():
            return Verdict(Label.SCANNER, True, "no User-Agent")
        return Verdict(Label.HUMAN, False, "a mail client or browser")
