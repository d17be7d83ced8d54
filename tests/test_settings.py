"""Configuration: file, environment, clear errors, and the file `postroom init` writes."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from postroom.errors import ConfigError
from postroom.settings import load_settings, render_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "postroom.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"POSTROOM_CONFIG_DIR_UNUSED": "x"})
    assert settings.database_url == "sqlite:///postroom.db"
    assert settings.session_ttl == timedelta(days=30)


def test_init_output_loads_and_has_a_fresh_key(tmp_path: Path) -> None:
    secret = bytes(range(32))
    path = write(tmp_path, render_config(secret=secret, domain="reply.example.org"))
    settings = load_settings(path, environ={})
    assert settings.address_keys == {1: secret}
    assert settings.reply_domain == "reply.example.org"
    assert settings.error_mail.sender == "postroom@reply.example.org"
    settings.require_keys()


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///a.db"\n[bounces]\nthreshold = 2\n')
    key = base64.b64encode(b"k" * 32).decode()
    settings = load_settings(
        path,
        environ={
            "POSTROOM_DATABASE_URL": "sqlite:///b.db",
            "POSTROOM_BOUNCES_HARD_WEIGHT": "2.5",
            "POSTROOM_ADDRESSES_KEYS": f"3:{key}",
            "POSTROOM_ADDRESSES_SIGNING_KEY": "3",
        },
    )
    assert settings.database_url == "sqlite:///b.db"
    assert settings.bounces.threshold == 2
    assert settings.bounces.hard_weight == 2.5
    assert settings.address_keys == {3: b"k" * 32}
    assert settings.signing_key_id == 3


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        ('[database]\nurll = "x"\n', "database.urll", "known keys here: url"),
        ("[bounces]\nthreshold = -1\n", "bounces.threshold", "0 or more"),
        ('[bounces]\nthreshold = "many"\n', "bounces.threshold", "1.5"),
        ('[addresses]\ndomain = "not a domain"\n', "addresses.domain", "reply.example.org"),
        ('[addresses]\nkeys = { "1" = "c2hvcnQ=" }\n', "addresses.keys", "32 random bytes"),
        ('[error_mail]\ntransport = "pigeon"\n', "error_mail.transport", "smtp, outbox, none"),
        ('[inbound]\nreport_addresses = ["nobody"]\n', "inbound.report_addresses", "local@"),
        ("[inbound]\nreport_addresses = 3\n", "inbound.report_addresses", "bounces@"),
        ("[database\n", "postroom.toml", "fix the syntax"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(
    tmp_path: Path, text: str, key: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert key in str(caught.value)
    assert fix in str(caught.value)


def test_missing_keys_say_run_init(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    with pytest.raises(ConfigError, match="postroom init"):
        settings.require_keys()


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_clone_changes_a_copy(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    other = settings.clone(reply_prefix="r-")
    assert settings.reply_prefix == "reply+" and other.reply_prefix == "r-"


def test_report_addresses_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[inbound]\nreport_addresses = ["Bounces@App.example.com"]\n')
    assert load_settings(path, environ={}).report_addresses == ("bounces@app.example.com",)
    env = {"POSTROOM_INBOUND_REPORT_ADDRESSES": "a@x.example, b@y.example"}
    assert load_settings(path, environ=env).report_addresses == ("a@x.example", "b@y.example")
