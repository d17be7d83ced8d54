"""The smallest forum-like example: every reply to a topic notification becomes a post.

Posts are appended to a JSON-lines file (``$POSTROOM_FORUM_POSTS``, default
``forum-posts.jsonl``) so another process, a test or the demo, can read what arrived.

    postroom --app postroom.examples.forum:room receive --lmtp 127.0.0.1:2424
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from postroom.app import Postroom
from postroom.errors import Reject
from postroom.inbound.types import Reply

POSTS_ENV = "POSTROOM_FORUM_POSTS"


@dataclass(frozen=True, slots=True)
class Post:
    topic: str
    user_id: int
    text: str
    sender: str | None
    attachments: list[str]
    inbound_id: int | None


class Board:
    """The forum's posts, one JSON object per line (appends are atomic per line).

    Without an explicit path it follows ``$POSTROOM_FORUM_POSTS`` at each use, so one long-lived
    process can serve deployments configured one after another.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path or Path(os.environ.get(POSTS_ENV, "forum-posts.jsonl"))

    def add(self, post: Post) -> None:
        line = json.dumps(asdict(post), ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def posts(self) -> list[Post]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [Post(**json.loads(line)) for line in lines if line.strip()]


def build(posts_path: Path | None = None) -> tuple[Postroom, Board]:
    """A Postroom object with the forum handler, writing to ``posts_path``."""
    room = Postroom()
    board = Board(posts_path)

    @room.handler("forum")
    def post_reply(reply: Reply) -> None:
        topic: dict[str, Any] = reply.session_data or {}
        title = str(topic.get("title", "a topic"))
        if topic.get("closed"):
            raise Reject("closed_topic", f'The topic "{title}" is closed to new replies.')
        board.add(
            Post(
                topic=title,
                user_id=reply.user_id,
                text=reply.text,
                sender=reply.sender,
                attachments=[a.filename or a.content_type for a in reply.attachments],
                inbound_id=reply.inbound_id,
            )
        )

    return room, board


room, board = build()
