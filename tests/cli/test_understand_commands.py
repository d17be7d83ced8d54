"""`postroom classify` and `postroom extract`: the JSON-lines contracts in DESIGN.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from postroom.cli import main

CORPORA = Path(
    os.environ.get("POSTROOM_CORPORA")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
)


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_classify_prints_one_object_per_path_in_order() -> None:
    paths = [
        str(CORPORA / "bounces/sisimai/lhost-postfix-01.eml"),
        str(CORPORA / "bounces/sisimai/arf-02.eml"),
        str(CORPORA / "replies/zapier/email_gmail/input.eml"),
    ]
    paths = [p for p in paths if Path(p).exists()]
    assert len(paths) >= 2, "corpus files moved"
    result = CliRunner().invoke(main, ["classify", *paths])
    assert result.exit_code == 0, result.output
    objects = lines(result.output)
    assert [o["path"] for o in objects] == paths
    for obj in objects:
        assert set(obj) >= {"path", "kind", "is_bounce", "recipients", "original_message_id"}
        assert obj["kind"] in {"bounce", "auto_reply", "complaint", "delivered", "normal"}
        for recipient in obj["recipients"]:  # type: ignore[attr-defined]
            assert set(recipient) >= {"address", "action", "status", "reason", "hard"}
    assert objects[0]["kind"] == "bounce" and objects[0]["is_bounce"] is True
    assert objects[1]["kind"] == "complaint"


def test_extract_reads_text_html_and_whole_messages(tmp_path: Path) -> None:
    text = tmp_path / "reply.txt"
    text.write_text("Sounds good!\n\nOn Mon, Bob <bob@example.org> wrote:\n> Lunch?\n")
    html = tmp_path / "reply.html"
    html.write_text(
        '<div dir="ltr">Sounds good!</div><div class="gmail_quote">On Mon, Bob wrote:'
        "<blockquote>Lunch?</blockquote></div>"
    )
    eml = tmp_path / "reply.eml"
    eml.write_bytes(
        b"From: Ada <ada@example.net>\r\nTo: bob@example.org\r\nSubject: Re: Lunch\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Sounds good!\r\n\r\n-- \r\nAda\r\n\r\n"
        b"On Mon, Bob <bob@example.org> wrote:\r\n> Lunch?\r\n"
    )
    result = CliRunner().invoke(main, ["extract", str(text), str(html), str(eml)])
    assert result.exit_code == 0, result.output
    objects = lines(result.output)
    assert [o["path"] for o in objects] == [str(text), str(html), str(eml)]
    for obj in objects:
        assert set(obj) == {"path", "reply", "signature", "quoted"}
        assert str(obj["reply"]).startswith("Sounds good!")
        assert "Lunch?" in str(obj["quoted"])
    assert objects[2]["reply"] == "Sounds good!\n\n-- \nAda"  # the reply keeps its signature
    assert objects[2]["signature"] == "-- \nAda"  # ... and reports it apart


def test_an_unreadable_path_is_reported_and_the_rest_answered(tmp_path: Path) -> None:
    body = tmp_path / "ok.txt"
    body.write_text("Hello\n")
    result = CliRunner().invoke(main, ["extract", str(tmp_path / "missing.txt"), str(body)])
    assert result.exit_code == 65
    missing, ok = lines(result.output)
    assert "error" in missing and ok["reply"] == "Hello"
