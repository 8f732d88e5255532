"""Images attached to a user message: checked, stored with the conversation, read back.

Limits (docs/api.md): at most `MAX_IMAGES` images per message, each at most
`MAX_IMAGE_BYTES` (3 MiB) once decoded — under Anthropic's 5 MB per image, and with the
request body cap (8 MiB by default) room for a few. The type is decided by the first bytes
(PNG, JPEG, GIF, WebP), never by what the caller says: a declared `media_type` that disagrees
is refused. Only models marked `supports_vision` take images; for others the request is a
400 naming `images` before anything is stored or sent.

An image travels as a unified `ImagePart` with a `data:` URL; each provider adapter writes it
in its own format (OpenAI `image_url`, Anthropic a base64 `source`, Ollama `images`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select

from modelreg.db.models import MessageImage, utcnow
from modelreg.errors import ValidationFailedError
from modelreg.types import ImagePart

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    from modelreg.actor import Actor
    from modelreg.db.engine import Database
    from modelreg.model_config import ModelConfig

__all__ = [
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "CheckedImage",
    "ImageIn",
    "check_images",
    "image_rows",
    "load_image_parts",
    "sniff",
]

MAX_IMAGE_BYTES = 3 * 1024 * 1024
MAX_IMAGES = 4
MediaType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: StrictStr = Field(
        max_length=(MAX_IMAGE_BYTES * 4) // 3 + 1024,
        description="The image, base64 (a `data:image/...;base64,` prefix is accepted)",
    )
    media_type: MediaType | None = Field(
        default=None, description="Checked against the image's first bytes when given"
    )


class CheckedImage(BaseModel):
    media_type: MediaType
    data: bytes

    def part(self) -> ImagePart:
        return ImagePart(url=data_url(self.media_type, self.data))


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def sniff(data: bytes) -> MediaType | None:
    """The image type by its magic bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_images(images: list[ImageIn] | None, model: ModelConfig) -> list[CheckedImage]:
    """The decoded images, or ValidationFailedError (400) naming `images`."""
    if not images:
        return []
    if not model.supports_vision:
        raise ValidationFailedError(
            f"model {model.name!r} does not accept images (it is not marked supports_vision);"
            " choose a vision model or send text only",
            field="images",
        )
    if len(images) > MAX_IMAGES:
        raise ValidationFailedError(f"at most {MAX_IMAGES} images per message", field="images")
    return [_check(i, image) for i, image in enumerate(images)]


def _check(i: int, image: ImageIn) -> CheckedImage:
    text = image.data
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailedError("is not valid base64", field=f"images[{i}].data") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationFailedError(
            f"is {len(data)} bytes; an image may have at most {MAX_IMAGE_BYTES} bytes (3 MiB)",
            field=f"images[{i}].data",
        )
    kind = sniff(data)
    if kind is None:
        raise ValidationFailedError(
            "is not a PNG, JPEG, GIF or WebP image", field=f"images[{i}].data"
        )
    if image.media_type is not None and image.media_type != kind:
        raise ValidationFailedError(
            f"says {image.media_type} but the data is {kind}", field=f"images[{i}].media_type"
        )
    return CheckedImage(media_type=kind, data=data)


def image_rows(
    images: list[CheckedImage], message: dict[str, Any], conversation_id: uuid.UUID
) -> list[dict[str, Any]]:
    """`message_images` rows for a Core INSERT, for the user message row `message`."""
    now = utcnow()
    return [
        {
            "id": uuid.uuid4(),
            "message_id": message["id"],
            "conversation_id": conversation_id,
            "user_id": message["user_id"],
            "position": i,
            "media_type": image.media_type,
            "data": image.data,
            "created_at": now,
        }
        for i, image in enumerate(images)
    ]


_I = MessageImage.__table__.c


def _query(conversation_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    return (
        select(_I.message_id, _I.media_type, _I.data)
        .where(_I.conversation_id == conversation_id, _I.user_id == user_id)
        .order_by(_I.message_id, _I.position)
    )


async def load_images(
    conn: AsyncConnection | AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> dict[uuid.UUID, list[tuple[str, bytes]]]:
    out: dict[uuid.UUID, list[tuple[str, bytes]]] = {}
    for row in (await conn.execute(_query(conversation_id, user_id))).all():
        out.setdefault(row.message_id, []).append((row.media_type, row.data))
    return out


async def load_image_parts(
    db: Database, actor: Actor, conversation_id: uuid.UUID
) -> dict[uuid.UUID, tuple[ImagePart, ...]]:
    """The conversation's images as unified parts, per user message."""
    assert actor.id is not None
    async with db.connection(actor) as conn:
        images = await load_images(conn, conversation_id, actor.id)
    return {
        message_id: tuple(ImagePart(url=data_url(kind, data)) for kind, data in found)
        for message_id, found in images.items()
    }
