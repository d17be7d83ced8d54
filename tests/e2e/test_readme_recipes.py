"""Item 15: every Postfix recipe in the README, fed as written to a real Postfix.

Each recipe is the README's blocks marked ``(LMTP listener)`` or ``(pipe)``: the command that
starts postroom and the lines for main.cf and master.cf. Only what names this machine is
replaced (ports, paths, the pipe's user, the application); the reply domain is the README's
own. A reply must reach the handler; a forged address must be refused in Postfix's own RCPT
reply, with Postfix's queue left empty (no bounce to a forged sender is ever made).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.cli import Deployment
from support.mailservers import MailServers, free_ports, start_mail_servers
from support.messages import reply

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "reply.example.org"
APP = "postroom.examples.forum:room"


@dataclass
class Recipe:
    command: list[str] = field(default_factory=list)
    main_cf: list[str] = field(default_factory=list)
    master_cf: list[str] = field(default_factory=list)


def readme_recipes() -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        first, _, body = block.partition("\n")
        marked = re.fullmatch(r"# (?:Postfix (main\.cf|master\.cf) )?\((.+)\)", first.strip())
        if not marked:
            continue
        recipe = recipes.setdefault(marked.group(2), Recipe())
        lines = [line for line in body.splitlines() if line.strip()]
        if marked.group(1) == "main.cf":
            recipe.main_cf = lines
        elif marked.group(1) == "master.cf":
            recipe.master_cf = lines
        else:
            recipe.command = lines
    return recipes


def test_the_readme_has_both_recipes() -> None:
    recipes = readme_recipes()
    assert set(recipes) == {"LMTP listener", "pipe"}
    assert all(r.command and r.main_cf for r in recipes.values())
    assert recipes["pipe"].master_cf


def substitute(lines: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for line in lines:
        for old, new in values.items():
            line = line.replace(old, new)
        out.append(line)
    return out


def start_postroom(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The README's command line, with `postroom` as this interpreter's module."""
    argv = shlex.split(command)
    assert argv[0] == "postroom", command
    process = subprocess.Popen(
        [sys.executable, "-m", "postroom", *argv[1:]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    listening = command.count("--lmtp") + command.count("--smtp") + command.count("--policy")
    for _ in range(listening):
        line = process.stdout.readline().decode()
        assert "listening for" in line, line + process.stdout.read().decode()
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.communicate(timeout=10)


def deployment_for(root: Path) -> Deployment:
    deployment = Deployment(root, f"sqlite:///{root / 'postroom.db'}")
    text = deployment.config.read_text().replace("reply.example.test", DOMAIN)
    deployment.config.write_text(text)
    assert deployment.run("db", "upgrade").returncode == 0
    return deployment


def submit(servers: MailServers, raw: bytes, rcpt: str) -> None:
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=30) as client:
        client.sendmail("ada@example.net", [rcpt], raw)


def forged(address: str) -> str:
    local, _, domain = address.partition("@")
    return local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain


def wait_for(check: object, servers: MailServers, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} after {timeout} s; Postfix log:\n{servers.postfix_log()[-3000:]}")


def refused_at_rcpt(servers: MailServers, address: str) -> tuple[int, bytes]:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        submit(servers, reply(address, "spam"), address)
    [(code, text)] = refused.value.recipients.values()
    return code, text


def test_the_lmtp_listener_recipe(tmp_path: Path) -> None:
    recipe = readme_recipes()["LMTP listener"]
    deployment = deployment_for(tmp_path)
    lmtp, policy = free_ports(2)
    ports = {"127.0.0.1:2424": f"127.0.0.1:{lmtp}", "127.0.0.1:10040": f"127.0.0.1:{policy}"}
    [command] = substitute(recipe.command, {**ports, "myapp.mail:room": APP})
    listener = start_postroom(command, deployment.env())
    try:
        servers = start_mail_servers(tmp_path / "mail", main_cf=substitute(recipe.main_cf, ports))
        try:
            address = deployment.new_address(7, '{"title": "Recipe"}')
            submit(servers, reply(address, "Delivered by the recipe.\n"), address)
            wait_for(lambda: deployment.posts_text(), servers, "no post")
            assert deployment.posts_text() == ["Delivered by the recipe."]
            code, text = refused_at_rcpt(servers, forged(address))
            assert code == 550 and text.startswith(b"5.1.1")
            wait_for(lambda: servers.queued() == [], servers, "mail left in Postfix's queue")
        finally:
            servers.stop()
    finally:
        stop(listener)


@pytest.fixture
def pipe_home() -> Iterator[Path]:
    """A folder the pipe's unprivileged user can enter, and a Python environment it can run
    (the suite's own interpreter lives under /root), holding postroom's dependencies and
    reading postroom from this checkout."""
    home = Path(tempfile.mkdtemp(prefix="postroom-pipe-"))
    home.chmod(0o755)
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    venv = home / "venv"
    subprocess.run([uv, "venv", "-q", "--python", "/usr/bin/python3", str(venv)], check=True)
    requirements = subprocess.run(
        [uv, "export", "-q", "--frozen", "--no-default-groups", "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    (home / "requirements.txt").write_bytes(requirements)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
         "-r", str(home / "requirements.txt")],
        check=True,
        timeout=300,
    )  # fmt: skip
    [site] = list((venv / "lib").glob("python3*/site-packages"))
    (site / "postroom-checkout.pth").write_text(str(ROOT / "src") + "\n")
    script = venv / "bin" / "postroom"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nfrom postroom.cli import run\nrun()\n")
    script.chmod(0o755)
    subprocess.run(["chmod", "-R", "o+rX", str(home)], check=True)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_the_pipe_recipe(pipe_home: Path, tmp_path: Path) -> None:
    recipe = readme_recipes()["pipe"]
    site = pipe_home / "site"
    site.mkdir()
    deployment = deployment_for(site)
    address = deployment.new_address(8, '{"title": "Piped"}')
    nobody = pwd.getpwnam("nobody")
    for path in [site, *site.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    (policy,) = free_ports(1)
    values = {
        "127.0.0.1:10040": f"127.0.0.1:{policy}",
        "/srv/postroom/.venv/bin/postroom": str(pipe_home / "venv" / "bin" / "postroom"),
        "/srv/postroom/postroom.toml": str(deployment.config),
        "user=postroom": "user=nobody",
        "myapp.mail:room": APP,
    }
    [command] = substitute(recipe.command, values)
    service = start_postroom(command, deployment.env())
    try:
        main_cf = [
            *substitute(recipe.main_cf, values),
            # Where the example application writes its posts (not part of the recipe).
            f"export_environment = TZ LANG POSTROOM_FORUM_POSTS={deployment.posts}",
        ]
        servers = start_mail_servers(
            tmp_path / "mail", main_cf=main_cf, master_cf=substitute(recipe.master_cf, values)
        )
        try:
            submit(servers, reply(address, "Piped by the recipe.\n"), address)
            wait_for(lambda: deployment.posts_text(), servers, "no post")
            assert deployment.posts_text() == ["Piped by the recipe."]
            code, text = refused_at_rcpt(servers, forged(address))
            assert code == 550 and text.startswith(b"5.1.1")
            wait_for(lambda: servers.queued() == [], servers, "mail left in Postfix's queue")
        finally:
            servers.stop()
    finally:
        stop(service)
