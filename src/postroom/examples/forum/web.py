"""The forum's own page, read-only: its topics and their posts, newest topic last, each post
with its author and how it arrived (``email`` for a reply by email, ``digest`` for an answer
to one digest item). ``postroom demo`` serves it at ``/forum`` beside the dashboard, so a
reply sent from the mail catcher can be seen turning into a post.

Jinja2 with autoescape: post texts are whatever people wrote in their replies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from postroom.examples.forum.app import Forum

_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forum</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 1rem auto; padding: 0 1rem; }
article { border-top: 1px solid #ccc; padding: .5rem 0; }
.meta { color: #555; font-size: .9rem; }
p { white-space: pre-wrap; overflow-wrap: anywhere; }
</style>
</head>
<body>
<h1>Forum</h1>
{% for topic, posts in topics %}
<section aria-labelledby="topic-{{ topic.id }}">
<h2 id="topic-{{ topic.id }}">{{ topic.title }}{% if topic.closed %} (closed){% endif %}</h2>
{% for post in posts %}
<article class="post">
<div class="meta">{{ names.get(post.member_id, "member #%d" % post.member_id) }},
{{ post.created_at.strftime("%Y-%m-%d %H:%M") }} UTC
{%- if post.via != "web" %}, by {{ post.via }}{% endif %}</div>
<p>{{ post.text }}</p>
</article>
{% else %}
<p>No posts yet.</p>
{% endfor %}
</section>
{% else %}
<p>No topics yet.</p>
{% endfor %}
</body>
</html>
"""
)


def forum_routes(forum: Forum) -> list[Route]:
    """``GET /forum``: the page above, for ``forum``."""

    def page(request: Request) -> HTMLResponse:  # sync: Starlette runs it in a thread
        store = forum.store
        names = {member.id: member.name for member in store.members()}
        topics = [(topic, store.posts(topic.id)) for topic in store.topics()]
        return HTMLResponse(_PAGE.render(topics=topics, names=names))

    return [Route("/forum", page, methods=["GET"])]
