"""An image made safe to keep and to send in LINE: checked by its bytes
(`cityhall.line.content.sniff`), turned upright, stripped of EXIF and every other metadata (GPS,
camera serial), resized, and a thumbnail made; both re-encoded as JPEG by Pillow (nothing of the
original file survives). Reports keeps residents' photos this way, notify the images staff
attach to notices.

The results fit LINE's image message (`ImageMessage`): the image a JPEG far under its 10 MB for
`originalContentUrl`, the thumbnail far under its 1 MB for `previewImageUrl`.
"""

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


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)  # no exif= argument: none is written
    return out.getvalue()


def process(data: bytes) -> Processed:
    """The image and its thumbnail; `PhotoRefused` for what is not a JPEG/PNG of at most 10 MB."""
    sniff(data)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise PhotoRefused("too_large")
            if opened.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 when the long side allows it
                wanted = (LONG_SIDE, 1) if opened.width >= opened.height else (1, LONG_SIDE)
                opened.draft("RGB", wanted)
            upright = ImageOps.exif_transpose(opened)
            clean = upright.convert("RGB")  # drops alpha, palettes and every info chunk
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise PhotoRefused("not_an_image") from exc
    clean.thumbnail((LONG_SIDE, LONG_SIDE))
    thumb = clean.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return Processed(jpeg(clean), jpeg(thumb), clean.width, clean.height)
