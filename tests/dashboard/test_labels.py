"""Who opened or clicked: the label column when the store has one, else the label in the
event's data, else the machine flag."""

from __future__ import annotations

from types import SimpleNamespace

from postroom.store.dashboard import event_label
from postroom.web.dashboard.text import mail, visible


def test_labels_from_the_column_the_data_or_the_flag() -> None:
    assert event_label(SimpleNamespace(label="apple_privacy", data={}, machine=True)) == (
        "apple_privacy"
    )
    assert event_label(SimpleNamespace(label=None, data={"label": "human"}, machine=None)) == (
        "human"
    )
    assert event_label(SimpleNamespace(data={}, machine=True)) == "machine"
    assert event_label(SimpleNamespace(data={}, machine=False)) == "human"
    assert event_label(SimpleNamespace(data={}, machine=None)) is None


def test_mail_text_is_escaped_isolated_and_visible() -> None:
    assert str(mail("<b>\u202eab\r\n")) == "<bdi>&lt;b&gt;&lt;U+202E&gt;ab\u240d\u240a</bdi>"
    assert visible("x" * 10, 4) == "xxxx\u2026"
    assert visible("a\x00b\x7f") == "a\u2400b\u2421"
