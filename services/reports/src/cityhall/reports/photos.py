"""A report's photo made safe to keep: checked by its bytes (`cityhall.line.content.sniff`),
turned upright, stripped of EXIF and every other metadata (GPS, camera serial), resized, and a
thumbnail made; both re-encoded as JPEG by Pillow (nothing of the original file survives)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from cityhall.line.content import PhotoRefused, sniff

LONG_SIDE = 1600
THUMB_SIDE = 320
MAX_PIXELS = 50_000_000
"""More pixels than any phone camera makes: refused before decoding (a decompression bomb)."""


@dataclass(frozen=True)
class Processed:
    photo: bytes
    thumbnail: bytes
    width: int
    height: int


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)  # no exif= argument: none is written
    return out.getvalue()


def process(data: bytes) -> Processed:
    """The photo and its thumbnail; `PhotoRefused` for what is not a JPEG/PNG of at most 10 MB."""
    sniff(data)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise PhotoRefused("too_large")
            upright = ImageOps.exif_transpose(opened)
            clean = upright.convert("RGB")  # drops alpha, palettes and every info chunk
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise PhotoRefused("not_an_image") from exc
    clean.thumbnail((LONG_SIDE, LONG_SIDE))
    thumb = clean.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return Processed(_jpeg(clean), _jpeg(thumb), clean.width, clean.height)
