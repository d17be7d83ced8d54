"""Perturbations that change nothing a bounce says must change nothing the classifier says.

Over the whole public corpus and the human replies: hosts and addresses renamed, header field
names in another case, header fields folded (RFC 5322 section 2.2.3), CRLF line ends. Every
variant must give the original's kind, recipients (address, action, status, reason,
hard/soft) and original Message-ID, with the renaming undone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from postroom.understand.bounces import Classification, classify_message

CORPORA = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
MESSAGES = sorted((CORPORA / "bounces").rglob("*.eml")) + sorted(
    (CORPORA / "replies").rglob("*.eml")
)

pytestmark = pytest.mark.skipif(not MESSAGES, reason="corpus not present")

# Same-length renamings, so that no line's wrapping changes with them.
RENAMES = ((b"example", b"xqzmple"), (b"kijitora", b"shimauma"), (b"neko", b"tama"))


def rename(data: bytes) -> bytes:
    for old, new in RENAMES:
        data = data.replace(old, new).replace(old.capitalize(), new.capitalize())
    return data


def unrename(text: str | None) -> str | None:
    if text is None:
        return None
    for old, new in RENAMES:
        text = text.replace(new.decode(), old.decode())
    return text


def _head(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The top header block, its separator and the rest (LF or CRLF input)."""
    m = re.search(rb"\r?\n\r?\n", data)
    if m is None:
        return data, b"", b""
    return data[: m.start()], m.group(0), data[m.end() :]


def upper_field_names(data: bytes) -> bytes:
    head, sep, rest = _head(data)
    head = re.sub(rb"(?m)^([A-Za-z][A-Za-z0-9-]*)(?=[ \t]*:)", lambda m: m.group(1).upper(), head)
    return head + sep + rest


def fold_fields(data: bytes) -> bytes:
    """Fold every long enough header field at a space after column 30 (RFC 5322 2.2.3)."""
    head, sep, rest = _head(data)
    eol = b"\r\n" if b"\r\n" in head else b"\n"
    lines = []
    for line in head.split(eol):
        cut = line.find(b" ", 30)
        if cut > 0 and not line[:1].isspace() and b":" in line[:cut]:
            line = line[:cut] + eol + b"\t" + line[cut + 1 :]
        lines.append(line)
    return eol.join(lines) + sep + rest


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def verdict(got: Classification, undo: bool = False) -> tuple[object, ...]:
    fix = unrename if undo else (lambda t: t)
    return (
        got.kind,
        tuple((fix(r.address), r.action, r.status, r.reason, r.hard) for r in got.recipients),
        fix(got.original_message_id),
    )


PERTURBATIONS: dict[str, Callable[[bytes], bytes]] = {
    "renamed": rename,
    "upper-case field names": upper_field_names,
    "folded fields": fold_fields,
    "CRLF": crlf,
}


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_every_corpus_message_survives(name: str) -> None:
    perturb = PERTURBATIONS[name]
    changed = []
    for path in MESSAGES:
        data = path.read_bytes()
        original = verdict(classify_message(data))
        variant = verdict(classify_message(perturb(data)), undo=name == "renamed")
        if variant != original:
            changed.append(f"{path.parent.name}/{path.name}: {original} -> {variant}")
    assert changed == [], "\n".join(changed)


def test_perturbations_combine() -> None:
    changed = []
    for path in MESSAGES:
        data = path.read_bytes()
        original = verdict(classify_message(data))
        variant = crlf(fold_fields(upper_field_names(rename(data))))
        if verdict(classify_message(variant), undo=True) != original:
            changed.append(path.name)
    assert changed == []
