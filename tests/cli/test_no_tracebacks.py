"""Item 9: no traceback ever reaches a command-line user. Every command, given bad input,
prints one clear line naming the problem (and the fix) and exits with a meaningful code.

The commands run in this process through ``postroom.cli.run``, the console script itself
(a subprocess each would cost seconds); two run as real subprocesses as well.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.cli import run
from support.cli import Deployment

DEEP = 1000


def nested_mime(to: str, depth: int = DEEP) -> bytes:
    head = f"From: Ada <ada@example.net>\r\nTo: {to}\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    closing = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + "Content-Type: text/plain\r\n\r\nhi\r\n" + closing).encode()


@pytest.fixture
def deployment(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    (tmp_path / "app").mkdir()
    deployment = Deployment(tmp_path / "app", sqlite_url)
    for name, value in deployment.env().items():
        if name.startswith("POSTROOM_"):
            monkeypatch.setenv(name, value)
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "crashing_app.py").write_text(
        "from postroom import Postroom\nroom = Postroom()\nraise RuntimeError('boom at import')\n"
    )
    (tmp_path / "apps" / "broken_app.py").write_text("room = (\n")
    monkeypatch.syspath_prepend(str(tmp_path / "apps"))
    assert invoke("db", "upgrade")[0] == 0
    return deployment


def invoke(*argv: str, stdin: bytes = b"") -> tuple[int, str]:
    """Run ``postroom ARGV`` in this process; returns the exit code and all output."""
    out, err = io.StringIO(), io.StringIO()
    real = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    sys.stdout, sys.stderr = out, err
    try:
        run(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = real
    return code, out.getvalue() + err.getvalue()


def assert_clear(code: int, output: str, expected: int, *says: str) -> None:
    assert "Traceback" not in output, output
    assert code == expected, (code, output)
    for text in says:
        assert text in output, output


@pytest.fixture
def port_in_use() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def address_of(deployment: Deployment) -> str:
    code, out = invoke("session", "create", "forum", "--user", "42")
    assert code == 0, out
    return out.strip()


def test_replay_force_and_extract_on_deeply_nested_mime(
    deployment: Deployment, tmp_path: Path
) -> None:
    address = address_of(deployment)
    code, out = invoke("inbound", "--recipient", address, stdin=nested_mime(address))
    assert_clear(code, out, 0)
    inbound_id = out.split("#")[1].split(")")[0]
    assert_clear(*invoke("replay", inbound_id, "--force"), 0, "outcome:")
    path = tmp_path / "deep.eml"
    path.write_bytes(nested_mime("x@example.net"))
    assert_clear(*invoke("extract", str(path)), 0, '"reply"')
    assert_clear(*invoke("classify", str(path)), 0, '"kind"')


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--user", "-1"], "--user"),
        (["--user", str(2**48)], "--user"),
        (["--user", str(10**30)], "--user"),
        (["--user", "1", "--data", "[" * 100_000 + "]" * 100_000], "--data"),
        (["--user", "1", "--uses", "0"], "--uses"),
    ],
)
def test_session_create_with_bad_values(deployment: Deployment, args: list[str], says: str) -> None:
    assert_clear(*invoke("session", "create", "forum", *args), 64, says)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--module", "0", "--user", "1", "--session-key", "00ff"], "--session-key"),
        (["--module", "0", "--user", "1", "--session-key", "zz" * 8], "--session-key"),
        (["--module", "70000", "--user", "1", "--session-key", "00" * 8], "--module"),
        (["--module", "0", "--user", "-1", "--session-key", "00" * 8], "--user"),
        (["--module", "0", "--user", str(2**48), "--session-key", "00" * 8], "--user"),
        (["--bounce", "-1"], "--bounce"),
        (["--bounce", str(2**64)], "--bounce"),
    ],
)
def test_address_encode_with_bad_values(deployment: Deployment, args: list[str], says: str) -> None:
    assert_clear(*invoke("address", "encode", *args), 64, says)


@pytest.mark.parametrize("days", ["nan", "inf", "-inf", "1e308", "-1"])
def test_prune_with_a_number_of_days_that_is_none(deployment: Deployment, days: str) -> None:
    assert_clear(*invoke("prune", "--older-than-days", days), 64, "--older-than-days")


def test_init_in_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "postroom.toml"
    assert_clear(*invoke("init", "--path", str(target)), 73, "does not exist")


def test_demo_somewhere_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_clear(*invoke("demo", "--dir", str(blocker / "demo")), 73, "--dir")


@pytest.mark.parametrize(
    ("listen", "code", "says"),
    [
        ("127.0.0.1:99999", 64, "not a TCP port"),
        ("127.0.0.1:abc", 64, "HOST:PORT"),
        ("192.0.2.1:2525", 69, "cannot listen"),  # TEST-NET-1: never an address of this host
        ("IN-USE", 69, "cannot listen"),
    ],
)
def test_receive_on_a_port_it_cannot_have(
    deployment: Deployment, port_in_use: int, listen: str, code: int, says: str
) -> None:
    listen = listen.replace("IN-USE", f"127.0.0.1:{port_in_use}")
    assert_clear(*invoke("receive", "--lmtp", listen), code, says)


COMMANDS = [
    ["inbound", "--recipient", "x@example.net"],
    ["receive", "--lmtp", "127.0.0.1:0"],
    ["replay", "1"],
    ["prune"],
    ["session", "create", "forum", "--user", "1"],
    ["address", "encode", "--bounce", "1"],
    ["address", "decode", "x@example.net"],
]


@pytest.mark.parametrize("app", ["crashing_app:room", "broken_app:room", "no_such_app:room"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_broken_or_crashing_app_for_every_command(
    deployment: Deployment, app: str, command: list[str]
) -> None:
    code, out = invoke("--app", app, *command, stdin=b"From: a@b.example\r\n\r\nhi\r\n")
    expected = 75 if command[0] == "inbound" else 78  # the pipe: the MTA keeps the mail
    assert_clear(code, out, expected, "app.import", app.partition(":")[0])


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"]])
def test_db_commands_on_a_file_that_is_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a SQLite database\n" * 200)
    monkeypatch.setenv("POSTROOM_DATABASE_URL", f"sqlite:///{garbage}")
    monkeypatch.delenv("POSTROOM_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert_clear(*invoke(*command), 70, "not a database")


def test_the_real_program_prints_no_traceback(deployment: Deployment) -> None:
    for args in (["prune", "--older-than-days", "nan"], ["--app", "no_such_app:room", "prune"]):
        result = subprocess.run(
            [sys.executable, "-m", "postroom", *args],
            capture_output=True,
            env=deployment.env(),
            timeout=60,
        )
        assert result.returncode in (64, 78) and b"Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["db", "current"], ["classify"], ["extract"]])
def test_commands_that_need_no_app_ignore_a_broken_one(
    deployment: Deployment, tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n")
    args = [*command, str(path)] if command[0] != "db" else command
    assert_clear(*invoke("--app", "crashing_app:room", *args), 0)
