"""LINE's side of a webhook: the `webhookEventId` ULIDs it sends and the signature it computes.

One place for both, used by the gateway's test vectors, the simulator, the benchmarks and the
contract's `intent_id`. The gateway verifies signatures with line-bot-sdk's `WebhookParser`;
`sign` computes the same value for the side that plays LINE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid

SIGNATURE_HEADER = "x-line-signature"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_TO_BASE32 = str.maketrans(_CROCKFORD, "0123456789abcdefghijklmnopqrstuv")  # Python's int(x, 32)
ULID_PATTERN = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
"""A canonical ULID: 26 Crockford base32 digits, the first at most 7 (128 bits)."""


def sign(channel_secret: str, body: bytes) -> str:
    """The `x-line-signature` LINE computes for `body`: base64(HMAC-SHA256(channel secret, body))."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def ulid(now_ms: int | None = None) -> str:
    """A ULID, as LINE's `webhookEventId`: 48 bits of milliseconds then 80 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & (2**48 - 1)) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def ulid_uuid(value: str) -> uuid.UUID | None:
    """The 128-bit number a ULID encodes, as a UUID (either case); None if `value` is not a ULID."""
    text = value.upper()
    if not ULID_PATTERN.fullmatch(text):
        return None
    return uuid.UUID(int=int(text.translate(_CROCKFORD_TO_BASE32), 32))


def ulid_time_ms(value: str) -> int:
    """The millisecond timestamp a ULID carries."""
    number = ulid_uuid(value) if ULID_PATTERN.fullmatch(value) else None
    if number is None:
        raise ValueError(f"not a ULID: {value!r}")
    return number.int >> 80
