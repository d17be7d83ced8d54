"""Example forum applications built on postroom's public API.

- :mod:`.board`: the smallest one, a handler that turns every reply into a post in a
  JSON-lines file (``postroom --app postroom.examples.forum:room receive ...``).
- :mod:`.app`: a whole forum: members, topics, subscriptions, one email per post, a daily
  digest whose items can be answered one by one, replies by email becoming posts, and bounces
  turning a member's mail off (``postroom demo`` runs it).
"""

from __future__ import annotations

from postroom.examples.forum.board import POSTS_ENV, Board, Post, board, build, room

__all__ = ["POSTS_ENV", "Board", "Post", "board", "build", "room"]
