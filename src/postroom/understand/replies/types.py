"""The typed result of reply extraction."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExtractedReply:
    """What a person wrote in a reply, apart from what they quoted.

    ``reply`` is the new text *including* a trailing signature; ``signature`` is that
    trailing signature on its own (or ``None``); ``quoted`` is everything else: quote
    headers, quoted text, forwarded blocks, list footers. ``html`` is the reply part as
    sanitised HTML when the input had HTML. ``source`` is the plain text the extractor
    worked on (HTML rendered to text), kept so that callers can tell *where* in the
    message the person wrote (digest targeting needs that); it is not part of the JSON.
    """

    reply: str
    signature: str | None
    quoted: str
    html: str | None = None
    source: str = field(default="", repr=False, compare=False)

    @property
    def text(self) -> str:
        """The reply without its signature, stripped."""
        if self.signature and self.reply.endswith(self.signature):
            return self.reply[: len(self.reply) - len(self.signature)].strip()
        return self.reply.strip()

    def to_json(self) -> dict[str, object]:
        """The ``postroom extract`` object (without ``path``)."""
        return {"reply": self.reply, "signature": self.signature, "quoted": self.quoted}
