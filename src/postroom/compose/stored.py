"""The stored form of a :class:`~postroom.compose.template.Template`: one blob per email.

Layout (format 1)::

    b"PRT" | version (1 octet) | zlib( len(meta) (4 octets, big-endian) | meta | chunks )

``meta`` is UTF-8 JSON holding the email token, the link table, the two body programs, the
recipients and the layout, where each static chunk is named by its length; ``chunks`` are the
static byte chunks (the visible header block first, then the layout's, attachments already
base64-encoded) one after another. zlib (RFC 1950) keeps the blob small: HTML and JSON
compress several times over and base64 gets back most of its third.

A reader refuses what it does not know (another magic, a newer version) with a
:class:`~postroom.errors.ComposeError`; a new format gets a new version number and this module
keeps reading the old ones.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from postroom.compose.addressing import Address, Addressee, Role
from postroom.compose.links import Program, Slot, SlotKind
from postroom.compose.mime import BodySlot
from postroom.compose.template import Template
from postroom.errors import ComposeError

MAGIC = b"PRT"
VERSION = 1
_LENGTH = struct.Struct(">I")


def _program(program: Program) -> dict[str, Any]:
    return {
        "literals": list(program.literals),
        "slots": [[int(slot.kind), slot.link, slot.original] for slot in program.slots],
    }


def _read_program(data: dict[str, Any]) -> Program:
    return Program(
        tuple(data["literals"]),
        tuple(Slot(SlotKind(kind), link, original) for kind, link, original in data["slots"]),
    )


def _addressees(items: tuple[Addressee, ...]) -> list[list[Any]]:
    return [[a.role.value, a.address.local, a.address.domain, a.name, a.index] for a in items]


def _read_addressees(items: list[list[Any]]) -> tuple[Addressee, ...]:
    return tuple(
        Addressee(Role(role), Address(local, domain), name, index)
        for role, local, domain, name, index in items
    )


def dump(template: Template) -> bytes:
    """The stored bytes of ``template``."""
    chunks = [template.visible_headers]
    layout: list[int | str] = []
    for item in template.layout:
        if isinstance(item, bytes):
            layout.append(len(item))
            chunks.append(item)
        else:
            layout.append(item.name.lower())
    meta = {
        "email_token": template.email_token,
        "smtputf8": template.needs_smtputf8,
        "links": list(template.links),
        "visible": len(template.visible_headers),
        "layout": layout,
        "text": _program(template.text),
        "html": _program(template.html) if template.html is not None else None,
        "recipients": _addressees(template.recipients),
        "duplicates": _addressees(template.duplicates),
        "bulk": template.bulk,
        "opens": template.tracks_opens,
        "handler": template.replies_to_handler,
        "label": template.unsubscribe_label,
        "size": template.size_estimate,
    }
    encoded = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    body = b"".join([_LENGTH.pack(len(encoded)), encoded, *chunks])
    return MAGIC + bytes([VERSION]) + zlib.compress(body, 6)


def _broken(problem: str) -> ComposeError:
    return ComposeError(
        "template",
        problem,
        "load only bytes that Template.to_bytes wrote; rebuild the template "
        "from the email if they were lost",
    )


def load(data: bytes) -> Template:
    """The template stored in ``data``."""
    if data[:3] != MAGIC or len(data) < 4:
        raise _broken("these bytes are not a stored postroom template")
    if data[3] != VERSION:
        raise _broken(
            f"stored template format {data[3]} is not one this version reads (it reads {VERSION})"
        )
    try:
        body = zlib.decompress(data[4:])
        (size,) = _LENGTH.unpack_from(body)
        meta = json.loads(body[4 : 4 + size].decode("utf-8"))
        position = 4 + size
        visible = body[position : position + meta["visible"]]
        position += meta["visible"]
        layout: list[bytes | BodySlot] = []
        for item in meta["layout"]:
            if isinstance(item, int):
                layout.append(body[position : position + item])
                position += item
            else:
                layout.append(BodySlot[item.upper()])
        if position != len(body):
            raise ValueError("trailing bytes")
        return Template(
            email_token=meta["email_token"],
            needs_smtputf8=meta["smtputf8"],
            links=tuple(meta["links"]),
            visible_headers=visible,
            layout=tuple(layout),
            text=_read_program(meta["text"]),
            html=_read_program(meta["html"]) if meta["html"] is not None else None,
            recipients=_read_addressees(meta["recipients"]),
            duplicates=_read_addressees(meta["duplicates"]),
            bulk=meta["bulk"],
            tracks_opens=meta["opens"],
            replies_to_handler=meta["handler"],
            unsubscribe_label=meta["label"],
            size_estimate=meta["size"],
        )
    except (zlib.error, struct.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise _broken(f"the stored template is damaged ({exc})") from None
