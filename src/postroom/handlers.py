"""Handlers that applications register on a :class:`~postroom.app.Postroom` object.

Each handler owns one module id, carried inside every reply address it issues. Module 0 is
``core``. Other ids are derived from the handler's name so they are stable across processes
and deploys without a shared table; pass ``module=`` to pin one explicitly.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from postroom.inbound.types import Reply

CORE = "core"
HandlerFunc = Callable[[Reply], object]
SenderCheck = Callable[[int, str], bool]


def module_id_for(name: str) -> int:
    """A stable id in 1..65535 for a handler name (0 for ``core``)."""
    if name == CORE:
        return 0
    return zlib.crc32(name.encode("utf-8")) % 65535 + 1


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """One registered handler and its session policy.

    ``uses`` is how many replies one address accepts (None: any number until it expires; a
    person often replies twice). ``check_sender(user_id, sender)`` returns False to refuse
    replies from an address that is not the session user's.
    """

    name: str
    module: int
    func: HandlerFunc
    uses: int | None = None
    ttl: timedelta | None = None
    check_sender: SenderCheck | None = None


class HandlerRegistry:
    """Handlers by name and by module id; one registry per Postroom object, never global."""

    def __init__(self) -> None:
        self._by_module: dict[int, HandlerSpec] = {}
        self._by_name: dict[str, HandlerSpec] = {}

    def add(self, spec: HandlerSpec) -> None:
        if not 0 <= spec.module <= 0xFFFF:
            raise ValueError(f"module id {spec.module} is outside 0..65535")
        if spec.name in self._by_name:
            raise ValueError(f"a handler named {spec.name!r} is registered already")
        clash = self._by_module.get(spec.module)
        if clash is not None:
            raise ValueError(
                f"handlers {clash.name!r} and {spec.name!r} share module id {spec.module}; "
                f"pass module=<another id> to one of them"
            )
        self._by_module[spec.module] = spec
        self._by_name[spec.name] = spec

    def by_module(self, module: int) -> HandlerSpec | None:
        return self._by_module.get(module)

    def by_name(self, name: str) -> HandlerSpec:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise KeyError(f"no handler named {name!r} (registered: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)
