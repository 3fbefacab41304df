"""A report's photo: only JPEG/PNG by its bytes, at most 10 MB; metadata gone, upright, resized."""

import io

import pytest
from PIL import Image

from cityhall.line.content import MAX_BYTES, PhotoRefused
from cityhall.reports.photos import LONG_SIDE, THUMB_SIDE, process

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def camera_jpeg(width: int = 2400, height: int = 1200, *, orientation: int = 6) -> bytes:
    """A phone's JPEG: landscape pixels to be turned (EXIF orientation 6), a GPS tag and a serial."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif.get_ifd(GPS_IFD)[2] = (35.0, 39.0, 37.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_camera_photo_is_turned_upright_stripped_and_resized() -> None:
    original = camera_jpeg()
    assert b"SERIAL-12345" in original
    processed = process(original)
    assert b"SERIAL-12345" not in processed.photo and b"Exif" not in processed.photo
    with Image.open(io.BytesIO(processed.photo)) as photo:
        assert photo.format == "JPEG"
        assert not photo.getexif()
        assert (photo.width, photo.height) == (LONG_SIDE // 2, LONG_SIDE)  # turned: portrait now
    with Image.open(io.BytesIO(processed.thumbnail)) as thumb:
        assert max(thumb.size) == THUMB_SIDE


def test_a_png_with_transparency_becomes_a_jpeg() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (100, 80), (0, 0, 0, 0)).save(out, "PNG")
    processed = process(out.getvalue())
    with Image.open(io.BytesIO(processed.photo)) as photo:
        assert (photo.format, photo.size) == ("JPEG", (100, 80))


def test_what_is_not_a_photo_or_too_large_is_refused() -> None:
    with pytest.raises(PhotoRefused) as text:
        process(b"%PDF-1.7 not a photo")
    assert text.value.reason == "not_an_image"
    with pytest.raises(PhotoRefused) as broken:
        process(b"\xff\xd8\xff" + b"\x00" * 100)  # a JPEG's magic, then nothing
    assert broken.value.reason == "not_an_image"
    with pytest.raises(PhotoRefused) as big:
        process(b"\xff\xd8\xff" + b"\x00" * MAX_BYTES)
    assert big.value.reason == "too_large"
