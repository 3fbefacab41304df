"""LINE's limits on message objects (Messaging API reference: text, image and Flex messages, URI
actions): the emulator refuses what breaks them as LINE does, and notify's composer refuses them
before a notice is approved."""

from __future__ import annotations

MAX_MESSAGES = 5
"""Message objects in one reply, push or multicast."""
MAX_TEXT_UTF16 = 5000
"""A text message's `text`, in UTF-16 code units (`utf16_length`)."""
MAX_ALT_TEXT = 1500
"""A Flex or template message's `altText`."""
MAX_BUBBLE_BYTES = 30_000
"""A Flex bubble's JSON."""
MAX_URI = 1000
"""A URI action's `uri`."""
MAX_IMAGE_URL = 2000
"""An image message's `originalContentUrl` and `previewImageUrl`, a Flex image's `url`."""


def utf16_length(text: str) -> int:
    """LINE counts text in UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2
