"""Turn untrusted frames and bodies into typed input, or a ChatError a person can act on."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from chat.exceptions import InvalidInput, TooLarge, UnsupportedImage
from chat.providers.base import ImageInput

DATA_URL = re.compile(r"^data:(?P<type>image/[a-z0-9.+-]+);base64,(?P<data>[A-Za-z0-9+/=\s]+)$")
PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
MAX_CONTEXT_CHARS = 20_000
MAX_PIXELS = 40_000_000


MAX_DEPTH = 32  # JSON nesting a frame or body may have


def loads_json(raw: str | bytes, *, what: str = "The frame") -> Any:
    """Parse untrusted JSON, or raise InvalidInput: never a server error, whatever the input
    (nesting 100,000 deep, integers of 5,000 digits, lone surrogates, invalid UTF-8)."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError
        raise InvalidInput(f"{what} is not valid JSON.") from None
    _check_json(data, depth=0, what=what)
    return data


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), and the database refuses them in JSON fields."""
    raise ValueError(f"{name} is not a JSON number")


def _check_json(value: Any, *, depth: int, what: str) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, str):
        _check_text(value, what=what)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, what=what)
            _check_json(item, depth=depth + 1, what=what)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth=depth + 1, what=what)


def _check_text(text: str, *, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{what} has text that is not valid Unicode (a lone surrogate)."
        ) from None
    if "\x00" in text:  # PostgreSQL text cannot hold NUL
        raise InvalidInput(f"{what} has a NUL character, which text cannot contain.")


@dataclass(frozen=True)
class MessageIn:
    client_id: str
    text: str
    image: ImageInput | None = None
    universe: str = ""
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PageIn:
    url: str = ""
    title: str = ""
    referrer: str = ""
    status: int | None = None  # the page's HTTP status when it is an error page (404)

    def as_dict(self) -> dict:
        page = {"url": self.url, "title": self.title, "referrer": self.referrer}
        if self.status is not None:
            page["status"] = self.status
        return page


def parse_client_id(value) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(
            "`id` must be a UUID made by the client (a random, version 4 UUID)."
        ) from None


def parse_message(data: dict) -> MessageIn:
    """Validate a `message` frame (or the SSE body's `message`)."""
    if not isinstance(data, dict):
        raise InvalidInput("`message` must be an object with `id` and `text`.")
    client_id = parse_client_id(data.get("id"))
    text = data.get("text")
    if not isinstance(text, str):
        raise InvalidInput("`text` is missing: send the question as a string.")
    text = text.strip()
    if not text:
        raise InvalidInput("The message is empty: type a question first.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise TooLarge(f"The message is {len(text)} characters; the limit is {limit}. Shorten it.")
    universe = data.get("universe") or ""
    if not isinstance(universe, str):
        raise InvalidInput("`universe` must be a string key (see `ready.universes`).")
    context = data.get("context") or {}
    if not isinstance(context, dict):
        raise InvalidInput("`context` must be an object.")
    if len(str(context)) > MAX_CONTEXT_CHARS:
        raise TooLarge(f"`context` is over {MAX_CONTEXT_CHARS} characters.")
    image = parse_image(data["image"]) if data.get("image") else None
    return MessageIn(
        client_id=client_id, text=text, image=image, universe=universe, context=context
    )


def parse_page(data) -> PageIn:
    if not isinstance(data, dict):
        return PageIn()
    status = data.get("status")
    valid_status = isinstance(status, int) and not isinstance(status, bool) and 100 <= status < 600
    return PageIn(
        url=str(data.get("url") or "")[:500],
        title=str(data.get("title") or "")[:200],
        referrer=str(data.get("referrer") or "")[:500],
        status=status if valid_status else None,
    )


LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")


def parse_language(value) -> str:
    """A BCP 47 tag such as `pt-BR` ("" when missing or malformed: it is only a hint)."""
    return value if isinstance(value, str) and LANGUAGE.match(value) else ""


def parse_timezone(value) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def parse_image(value) -> ImageInput:
    """Accept a PNG, JPEG or WebP data URL under the size limit whose bytes really are that."""
    if not isinstance(value, str):
        raise UnsupportedImage("`image` must be a data URL (data:image/png;base64,...).")
    match = DATA_URL.match(value.strip())
    if not match:
        raise UnsupportedImage("`image` must be a base64 data URL of a PNG, JPEG or WebP image.")
    media_type = match["type"]
    if media_type not in PIL_FORMATS:
        raise UnsupportedImage(f"{media_type} is not supported: send a PNG, JPEG or WebP image.")
    encoded = re.sub(r"\s+", "", match["data"])
    limit = settings.CHAT_MAX_IMAGE_BYTES
    if len(encoded) * 3 // 4 > limit:
        raise TooLarge(f"The image is over {limit // (1024 * 1024)} MB. Send a smaller one.")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UnsupportedImage("The image's base64 data is corrupt.") from None
    _verify_image(raw, media_type)
    return ImageInput(media_type=media_type, data_base64=encoded)


def _verify_image(raw: bytes, media_type: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            actual = image.format
            if image.width * image.height > MAX_PIXELS:
                raise TooLarge(
                    f"The image is {image.width}x{image.height} pixels; send one under "
                    f"{MAX_PIXELS // 1_000_000} megapixels."
                )
            image.verify()
    except Image.DecompressionBombError:
        raise TooLarge("The image has far too many pixels: send a smaller one.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UnsupportedImage(
            "The image could not be read: send a valid PNG, JPEG or WebP."
        ) from None
    if actual != PIL_FORMATS[media_type]:
        raise UnsupportedImage(f"The data is a {actual} image, not {media_type}.")


def image_file(image: ImageInput):
    """The image as a file to store on the message."""
    from django.core.files.base import ContentFile

    name = f"{uuid.uuid4().hex}.{EXTENSIONS[image.media_type]}"
    return ContentFile(base64.b64decode(image.data_base64), name=name)


# Decoding and verifying an image takes CPU: off the event loop, on threads of its own (on the
# default executor it queued behind listeners under load: bench/README.md). Text alone is parsed
# in place: a few microseconds.
_images = ThreadPoolExecutor(max_workers=2, thread_name_prefix="images")
_parse_image_message = sync_to_async(parse_message, thread_sensitive=False, executor=_images)


async def aparse_message(data) -> MessageIn:
    if isinstance(data, dict) and data.get("image"):
        return await _parse_image_message(data)
    return parse_message(data)
