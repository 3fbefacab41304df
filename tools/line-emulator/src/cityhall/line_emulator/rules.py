"""LINE's rules that messaging-api.yml does not encode, and its rate limits.

The spec already says: at most 5 messages per request (`maxItems: 5`), at most 500
multicast recipients (`maxItems: 500`), chat bar text ≤ 14 characters. What it leaves
to LINE's documentation lives here.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cityhall.line.limits import MAX_ALT_TEXT, MAX_TEXT_UTF16, utf16_length
from cityhall.line.ratelimit import LINE_RATE_LIMITS, RateLimit, TokenBucket
from cityhall.line_emulator.spec import ErrorDetail, json_path

MAX_RICH_MENU_AREAS = 20
RICH_MENU_REQUIRED = ("size", "selected", "name", "chatBarText", "areas")
RICH_MENU_IMAGE_TYPES = ("image/png", "image/jpeg")
RICH_MENU_IMAGE_MAX_BYTES = 1024 * 1024
RICH_MENU_MIN_WIDTH, RICH_MENU_MAX_WIDTH, RICH_MENU_MIN_HEIGHT = 800, 2500, 250
RICH_MENU_MIN_ASPECT = 1.45

RATE_LIMIT_MESSAGE = "The API rate limit has been exceeded. Try again later."
QUOTA_MESSAGE = "You have reached your monthly limit."
AUTH_MESSAGE = "Authentication failed. Confirm that the access token in the authorization header is valid."
RETRY_KEY_ACCEPTED_MESSAGE = "The retry key is already accepted"
INVALID_REPLY_TOKEN_MESSAGE = "Invalid reply token"


# --- message objects -----------------------------------------------------------------------


def message_errors(messages: Sequence[Mapping[str, Any]], prefix: str = "messages") -> list[ErrorDetail]:
    """Checks on already schema-valid message objects."""
    errors: list[ErrorDetail] = []
    for i, message in enumerate(messages):
        kind = message.get("type")
        text = message.get("text")
        if kind in ("text", "textV2") and isinstance(text, str):
            where = json_path([prefix, i, "text"])
            if not text:
                errors.append(ErrorDetail("May not be empty", where))
            elif utf16_length(text) > MAX_TEXT_UTF16:
                errors.append(ErrorDetail(f"Length must be between 0 and {MAX_TEXT_UTF16}", where))
        alt = message.get("altText")
        if isinstance(alt, str) and len(alt) > MAX_ALT_TEXT:
            errors.append(
                ErrorDetail(f"Length must be between 0 and {MAX_ALT_TEXT}", json_path([prefix, i, "altText"]))
            )
    return errors


def retry_key_is_valid(key: str) -> bool:
    """The header must be a UUID in hexadecimal form (`123e4567-e89b-12d3-a456-426614174000`)."""
    try:
        return str(uuid.UUID(key)) == key.lower()
    except ValueError:
        return False


# --- rich menus ----------------------------------------------------------------------------


def rich_menu_errors(menu: Mapping[str, Any]) -> list[ErrorDetail]:
    """LINE requires every field the response echoes, and bounds the size and the areas."""
    errors = [ErrorDetail("Must be specified", f) for f in RICH_MENU_REQUIRED if f not in menu]
    size = menu.get("size")
    if isinstance(size, dict) and {"width", "height"} <= size.keys():
        errors += [ErrorDetail(m, "size") for m in _dimension_errors(size["width"], size["height"])]
    areas = menu.get("areas")
    if isinstance(areas, list) and len(areas) > MAX_RICH_MENU_AREAS:
        errors.append(ErrorDetail(f"Size must be between 0 and {MAX_RICH_MENU_AREAS}", "areas"))
    return errors


def rich_menu_image_error(content_type: str, data: bytes) -> str | None:
    """Why LINE would refuse this rich menu image, or None."""
    if content_type not in RICH_MENU_IMAGE_TYPES:
        return "Content-Type must be image/png or image/jpeg"
    if len(data) > RICH_MENU_IMAGE_MAX_BYTES:
        return "The image must be 1 MB or smaller"
    dimensions = image_dimensions(content_type, data)
    if dimensions is None:
        return f"The body is not a valid {content_type} image"
    problems = _dimension_errors(*dimensions)
    return problems[0] if problems else None


def _dimension_errors(width: int, height: int) -> list[str]:
    errors = []
    if not RICH_MENU_MIN_WIDTH <= width <= RICH_MENU_MAX_WIDTH:
        errors.append(f"Width must be between {RICH_MENU_MIN_WIDTH} and {RICH_MENU_MAX_WIDTH}")
    if height < RICH_MENU_MIN_HEIGHT:
        errors.append(f"Height must be {RICH_MENU_MIN_HEIGHT} or more")
    if height > 0 and width / height < RICH_MENU_MIN_ASPECT:
        errors.append(f"Aspect ratio (width / height) must be {RICH_MENU_MIN_ASPECT} or more")
    return errors


def image_dimensions(content_type: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG header or a JPEG start-of-frame segment."""
    if content_type == "image/png":
        if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        # SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


# --- rate limits ---------------------------------------------------------------------------


_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate_limits(text: str) -> dict[str, RateLimit]:
    """ "" → LINE's defaults; "off" → none; "push=10/s,broadcast=5/h" → defaults with overrides."""
    text = text.strip()
    if text.lower() in ("off", "none", "0", "false"):
        return {}
    limits = dict(LINE_RATE_LIMITS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, spec = item.partition("=")
        count, _, unit = spec.strip().partition("/")
        if unit.strip() not in _UNITS:
            raise ValueError(f"bad rate limit {item!r}: expected NAME=COUNT/s|min|h")
        limits[name.strip()] = RateLimit(int(count), _UNITS[unit.strip()])
    return limits


class RateLimiter:
    """One bucket per limited endpoint; endpoints without a limit always pass."""

    def __init__(self, limits: Mapping[str, RateLimit], clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._buckets = {name: TokenBucket(limit, self._clock) for name, limit in self._limits.items()}

    def allow(self, endpoint: str) -> bool:
        with self._lock:
            bucket = self._buckets.get(endpoint)
            return bucket is None or bucket.take()
