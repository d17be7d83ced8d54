"""Setting an account up: ``postroom accounts test`` learns the IMAP folders by role and the
server's capabilities on real Dovecot and keeps them on the account; folder roles from
attributes, XLIST and names (localised ones too); search criteria within the command-length
limit."""

from __future__ import annotations

import pytest

from postroom.accounts.service import check_account
from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.folders import KNOWN_NAMES, ListedFolder, Role, find_roles
from postroom.mailbox.search import MAX_COMMAND, chunked, email_keys, or_chain, quote
from postroom.mailbox.session import parse_appenduid, parse_copyuid, parse_uid_set
from support.mailboxes import Stack


@pytest.mark.mailservers
def test_accounts_test_learns_the_mailbox(stack: Stack) -> None:
    account = stack.add_account()
    check = check_account(stack.room, account, timeout=10)
    assert check.ok, check.lines
    text = "\n".join(check.lines)
    assert "IMAP offers: MOVE UIDPLUS IDLE CONDSTORE SPECIAL-USE" in text
    assert "sent: 'Sent' (special-use)" in text and "trash: 'Trash' (special-use)" in text
    facts = stack.account().state["mailbox"]
    assert facts["roles"]["folders"]["sent"] == "Sent"
    assert set(facts["uidvalidity"]) == {"Sent", "Trash"}


@pytest.mark.mailservers
def test_accounts_test_names_an_imap_failure(stack: Stack) -> None:
    account = stack.add_account(imap_port=1)  # nothing listens there
    check = check_account(stack.room, account, timeout=5)
    assert not check.ok
    assert any(line.startswith("IMAP FAILED: cannot reach the IMAP server") for line in check.lines)


@pytest.mark.parametrize("known", KNOWN_NAMES, ids=lambda k: k.name)
def test_every_known_name_is_found_without_attributes(known: object) -> None:
    assert hasattr(known, "name")
    name, role = known.name, known.role  # type: ignore[attr-defined]
    roles = find_roles(
        [
            ListedFolder(("\\HasNoChildren",), "/", "INBOX"),
            ListedFolder(("\\HasNoChildren",), ".", f"INBOX.{name.upper()}"),
        ]
    )
    assert roles.get(role) == f"INBOX.{name.upper()}"
    assert roles.found_by[role].startswith("name (")


def test_an_attribute_wins_over_a_name() -> None:
    roles = find_roles(
        [
            ListedFolder(("\\HasNoChildren",), "/", "Sent"),
            ListedFolder(("\\HasNoChildren", "\\Sent"), "/", "Gesendete Objekte"),
            ListedFolder(("\\Noselect", "\\Trash"), "/", "Not selectable"),
            ListedFolder((), "/", "Papierkorb"),
        ]
    )
    assert roles.sent == "Gesendete Objekte" and roles.found_by[Role.SENT] == "special-use"
    assert roles.trash is None  # a \Noselect folder is no Trash, and Papierkorb is not listed


def test_search_chains_stay_within_the_command_length() -> None:
    ids = [f"{'x' * 24}{n}@example.test" for n in range(500)]
    chains = chunked(email_keys(ids, "TOKEN"))
    assert len(chains) > 1
    assert all(len(c) + len(b"A0001 UID SEARCH ") <= MAX_COMMAND for c in chains)
    assert sum(c.count(b"HEADER ") for c in chains) == 501
    for chain in chains:
        assert chain.count(b"OR ") == chain.count(b"HEADER ") - 1
    assert or_chain([b"A", b"B", b"C"]) == b"OR OR A B C"
    assert quote('a"b\\c') == b'"a\\"b\\\\c"'
    with pytest.raises(ValueError):
        quote("a\r\nb")


def test_response_codes() -> None:
    assert parse_uid_set("1:3,7,9:8") == (1, 2, 3, 7, 9, 8)
    moved = parse_copyuid("[COPYUID 8 1737 4366] (Success)")
    assert moved is not None and moved.mapping() == {1737: 4366}
    assert parse_appenduid("[APPENDUID 23 50] (Success)") == parse_appenduid("APPENDUID 23 50")
    caps = ImapCapabilities.parse([b"IMAP4rev1 MOVE uidplus", "APPENDLIMIT=100"])
    assert caps.move and caps.uidplus and not caps.gmail and caps.append_limit == 100
