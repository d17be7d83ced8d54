"""Running the real `postroom` command in a subprocess, with a config file of the test's own."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from postroom.settings import render_config


@dataclass
class Deployment:
    """A config file, an app, and the forum posts file, as an operator would set them up."""

    root: Path
    database_url: str

    def __post_init__(self) -> None:
        self.config = self.root / "postroom.toml"
        self.posts = self.root / "forum-posts.jsonl"
        text = render_config(
            secret=secrets.token_bytes(32),
            database_url=self.database_url,
            domain="reply.example.test",
        )
        text = text.replace(
            '# import = "myapp.mail:room"', 'import = "postroom.examples.forum:room"'
        )
        text = text.replace('outbox_dir = "outbox"', f'outbox_dir = "{self.root / "outbox"}"')
        self.config.write_text(text, encoding="utf-8")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "POSTROOM_CONFIG": str(self.config),
            "POSTROOM_FORUM_POSTS": str(self.posts),
        }

    def run(
        self,
        *args: str,
        stdin: bytes = b"",
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "postroom.cli", *args],
            input=stdin,
            capture_output=True,
            env={**self.env(), **(env or {})},
            timeout=timeout,
            cwd=self.root,
        )

    def send_queued(self) -> None:
        """Run `postroom worker --once`: the error emails the pipe queued reach the outbox."""
        result = self.run("worker", "--once")
        assert result.returncode == 0, result.stderr.decode()

    def posts_text(self) -> list[str]:
        import json

        if not self.posts.exists():
            return []
        return [json.loads(line)["text"] for line in self.posts.read_text().splitlines()]

    def new_address(self, user: int = 42, data: str = '{"title": "Meetup"}') -> str:
        result = self.run("session", "create", "forum", "--user", str(user), "--data", data)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode().strip()
