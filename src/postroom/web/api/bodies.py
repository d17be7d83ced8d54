"""How routes read their bodies: JSON validated against a model, an email as JSON or as
``multipart/form-data`` with files, or one raw message (RFC 5322) for the inbound route."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from postroom.errors import InvalidRequest, PayloadTooLarge
from postroom.web.api.routing import validation_problem

if TYPE_CHECKING:
    from postroom.app import Postroom

Ref = Callable[[type[BaseModel]], dict[str, Any]]


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _unsupported(got: str, wanted: str) -> InvalidRequest:
    return InvalidRequest(
        f"the body's Content-Type is {got or 'missing'}; this route reads {wanted}",
        problem="unsupported-media-type",
        status=415,
    )


def _is_json(kind: str) -> bool:
    return kind == "application/json" or kind.endswith("+json")


def parse_json(model: type[BaseModel], raw: bytes) -> BaseModel:
    """``raw`` as ``model``, strictly (no "42" for 42, no "true" for true)."""
    if not raw.strip():
        raise InvalidRequest(
            "the body is empty; send one JSON object", problem="invalid-request", status=400
        )
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_problem(exc, "body") from None


@dataclass(frozen=True)
class JsonBody:
    """A JSON object validated against ``model``."""

    model: type[BaseModel]
    max_bytes: int | None = 1 << 20
    required: bool = True

    async def read(self, request: Request, room: Postroom) -> BaseModel:
        kind = media_type(request)
        raw = await request.body()
        if not raw.strip() and not self.required:
            return self.model()
        if not _is_json(kind):
            raise _unsupported(kind, "application/json")
        return parse_json(self.model, raw)

    def openapi(self, ref: Ref) -> dict[str, Any]:
        return {
            "required": self.required,
            "content": {"application/json": {"schema": ref(self.model)}},
        }


@dataclass(frozen=True)
class FormFile:
    """A file part of a multipart body."""

    field: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class EmailForm:
    """An email as multipart/form-data: its JSON in the ``email`` part, files beside it."""

    email: BaseModel
    files: tuple[FormFile, ...]


@dataclass(frozen=True)
class EmailBody:
    """``application/json`` (attachments base64 in the JSON), or ``multipart/form-data``: a
    part ``email`` holding the same JSON and file parts ``attachments`` (each an
    attachment: its filename and Content-Type as the part says) and ``inline:<cid>`` (each
    an inline part the HTML names as ``cid:<cid>``, RFC 2392)."""

    model: type[BaseModel]
    max_bytes: int | None = 48 << 20

    async def read(self, request: Request, room: Postroom) -> BaseModel | EmailForm:
        kind = media_type(request)
        if _is_json(kind):
            return parse_json(self.model, await request.body())
        if kind != "multipart/form-data":
            raise _unsupported(kind, "application/json or multipart/form-data")
        limit = self.max_bytes or 48 << 20
        async with request.form(max_files=1000, max_fields=1000, max_part_size=limit) as form:
            parts = form.multi_items()
            texts = [value for key, value in parts if key == "email"]
            if len(texts) != 1 or not isinstance(texts[0], str):
                raise InvalidRequest(
                    "a multipart email needs exactly one text part named 'email' holding the "
                    "email's JSON (files go in parts named 'attachments' or 'inline:<cid>')",
                    field="email",
                )
            files = []
            for key, value in parts:
                if key == "email":
                    continue
                if not isinstance(value, UploadFile) or not (
                    key == "attachments" or key.startswith("inline:")
                ):
                    raise InvalidRequest(
                        f"unexpected part {key!r}: parts are 'email' (the JSON), "
                        "'attachments' (files) and 'inline:<cid>' (files the HTML shows)",
                        field=key,
                    )
                files.append(
                    FormFile(
                        field=key,
                        filename=value.filename or "attachment",
                        content_type=value.content_type or "application/octet-stream",
                        content=await value.read(),
                    )
                )
        return EmailForm(parse_json(self.model, texts[0].encode("utf-8")), tuple(files))

    def openapi(self, ref: Ref) -> dict[str, Any]:
        return {
            "required": True,
            "content": {
                "application/json": {"schema": ref(self.model)},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["email"],
                        "properties": {
                            "email": {
                                "type": "string",
                                "description": "The email's JSON, as for application/json.",
                            },
                            "attachments": {
                                "type": "array",
                                "items": {
                                    "type": "string",
                                    "contentMediaType": "application/octet-stream",
                                },
                                "description": "Files to attach (the part's filename and "
                                "Content-Type are kept).",
                            },
                        },
                        "additionalProperties": {
                            "type": "string",
                            "contentMediaType": "application/octet-stream",
                            "description": "Parts named inline:<cid>: files the HTML refers "
                            "to as cid:<cid>.",
                        },
                    },
                    "encoding": {"email": {"contentType": "application/json"}},
                },
            },
        }


@dataclass(frozen=True)
class RawMail:
    """One message as received (RFC 5322 bytes), and its whole size."""

    raw: bytes
    size: int


@dataclass(frozen=True)
class MailBody:
    """The raw message of ``POST /api/inbound``: at most ``inbound.max_message_bytes`` are
    kept, the rest is counted (the pipeline answers an oversized message as ``too_large``,
    as the listener and the MTA pipe do); past four times that, the request is refused."""

    max_bytes: int | None = None  # the shell's limit is not used: read() bounds itself
    types: tuple[str, ...] = ("message/rfc822", "application/octet-stream", "text/plain")

    async def read(self, request: Request, room: Postroom) -> RawMail:
        kind = media_type(request)
        if kind not in self.types:
            raise _unsupported(kind, " or ".join(self.types))
        keep = room.settings.max_message_bytes
        chunks: list[bytes] = []
        kept = size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > 4 * keep:
                raise PayloadTooLarge(
                    f"the message is larger than {4 * keep:,} bytes; postroom keeps at most "
                    f"{keep:,} (inbound.max_message_bytes)"
                )
            if kept <= keep:
                part = chunk[: keep + 1 - kept]
                chunks.append(part)
                kept += len(part)
        return RawMail(b"".join(chunks), size)

    def openapi(self, ref: Ref) -> dict[str, Any]:
        schema = {"type": "string", "contentMediaType": "message/rfc822"}
        return {"required": True, "content": {kind: {"schema": schema} for kind in self.types}}
