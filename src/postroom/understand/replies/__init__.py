"""Reply understanding: the new text a person wrote, apart from quotes and signature.

Pure functions, bytes or strings in, :class:`ExtractedReply` out; see docs/replies.md for the
policies (interleaved replies, which MIME part is used, the empty-reply fallback).
"""

from postroom.understand.replies.html import extract_html
from postroom.understand.replies.message import extract_bytes, extract_message
from postroom.understand.replies.text import extract_text
from postroom.understand.replies.types import ExtractedReply

__all__ = ["ExtractedReply", "extract_bytes", "extract_html", "extract_message", "extract_text"]
