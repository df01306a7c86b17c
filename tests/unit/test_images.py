"""User images: converted to RGB when usable, refused with a clear message otherwise (reliability/security)."""
import io

import numpy as np
import pytest
from PIL import Image

from sn_core.data.images import ImageError, as_rgb, load_image


def _png(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "1"])
def test_reliability_modes_convert_to_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    img = Image.new(mode, (10, 7))
    out = load_image(_png(img, fmt))
    assert out.mode == "RGB" and out.size == (10, 7)


def test_reliability_16bit_is_rescaled_not_clipped():
    arr = np.linspace(0, 65535, 100, dtype=np.uint16).reshape(10, 10)
    out = np.asarray(load_image(_png(Image.fromarray(arr), "TIFF")))
    assert out.min() == 0 and out.max() == 255 and len(np.unique(out)) > 50


def test_reliability_rgba_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(load_image(_png(img)))[0, 0].tolist() == [255, 255, 255]


def test_reliability_exif_rotation_applied():
    img = Image.new("RGB", (20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    out = load_image(_png(img, "JPEG", exif=exif))
    assert out.size == (10, 20)


def test_security_not_an_image():
    with pytest.raises(ImageError, match="not an image"):
        load_image(b"hello, this is text", name="notes.txt")


def test_security_truncated_file():
    data = _png(Image.effect_noise((64, 64), 50).convert("RGB"))
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2], name="half.png")


def test_security_pixel_limit_checked_before_decoding():
    # Only the header and the start of the pixel data: decoding would fail as truncated, so the size error can only
    # come from a check made on the header, before any decoding.
    data = _png(Image.new("L", (3000, 3000)))[:200]
    with pytest.raises(ImageError, match="3000x3000 pixels is more than"):
        load_image(data, max_pixels=1_000_000)


def test_security_byte_limit_and_empty():
    with pytest.raises(ImageError, match="larger than"):
        load_image(b"x" * 200, max_bytes=100)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_missing_path(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder, not an image file"):
        load_image(tmp_path)


def test_as_rgb_converts_in_memory_images_and_loads_paths(tmp_path):
    rgb = Image.new("RGB", (4, 4), (1, 2, 3))
    assert as_rgb(rgb) is rgb
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert as_rgb(rgba).mode == "RGB" and as_rgb(rgba).getpixel((0, 0)) == (10, 20, 30)  # plain convert, no compositing
    path = tmp_path / "a.png"
    path.write_bytes(_png(Image.new("L", (4, 4), 7)))
    assert as_rgb(path).mode == "RGB" and as_rgb(str(path)).getpixel((0, 0)) == (7, 7, 7)
    with pytest.raises(ImageError, match="file not found"):
        as_rgb(tmp_path / "nope.png")


def test_reliability_large_image_is_one_error_without_pillow_warning():
    """10000 x 9000 is above Pillow's warning threshold (~89 MP) and below its error: only our limit speaks."""
    import struct
    import warnings
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 9000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with pytest.raises(ImageError, match="10000x9000 pixels is more than the 40 MP limit"):
            load_image(png, name="big.png")
