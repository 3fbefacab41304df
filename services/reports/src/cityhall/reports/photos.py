"""A report's photo made safe to keep (`cityhall.line.images`, shared with notify's notice
images), and blurred where it must be before the public sees it."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

from cityhall.line.images import LONG_SIDE, THUMB_SIDE, Processed, jpeg, process

__all__ = ["LONG_SIDE", "THUMB_SIDE", "Processed", "blurred", "process"]


def blurred(data: bytes, regions: list[tuple[float, float, float, float]]) -> Processed:
    """A stored photo with `regions` blurred beyond recognition (faces, number plates), for the
    public: each region is (left, top, width, height) in percent of the photo."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    for left, top, width, height in regions:
        box = (
            round(image.width * left / 100),
            round(image.height * top / 100),
            round(image.width * min(left + width, 100) / 100),
            round(image.height * min(top + height, 100) / 100),
        )
        if box[2] > box[0] and box[3] > box[1]:
            region = image.crop(box)
            # Pixelate, then blur: no detail survives, whatever the region's size.
            small = region.resize((max(1, region.width // 16), max(1, region.height // 16)))
            image.paste(small.resize(region.size).filter(ImageFilter.GaussianBlur(8)), box)
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return Processed(jpeg(image), jpeg(thumb), image.width, image.height)
