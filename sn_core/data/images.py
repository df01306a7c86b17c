"""Safe image loading for anything a user supplies (uploads, manifest rows, CLI paths).

``load_image`` accepts a path, raw bytes, a file-like object or a PIL image and returns an RGB ``PIL.Image``. It
refuses, with an :class:`ImageError` whose message says what was wrong:
- files that are not images Pillow can decode, and truncated or corrupt files;
- files larger than ``max_bytes`` (default 20 MB, the app's upload limit; MB = 2**20 bytes in every size message,
  as Streamlit counts ``server.maxUploadSize``);
- images with more than ``max_pixels`` pixels (default 40 MP), checked from the header *before* decoding, so a
  decompression bomb never allocates its pixels (Pillow's own ``DecompressionBombError`` is caught too).
It converts: EXIF orientation is applied; palette, greyscale (L, LA, I;16, I, F), CMYK, RGBA and other modes become
RGB (transparency is composited on white; 16-bit and float images are rescaled to 0-255 from their own range).
Only the first frame of animated images is used.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MB = 1024 * 1024  # the unit of every size message (Streamlit's server.maxUploadSize counts in it too)
MAX_BYTES = 20 * MB


def format_mb(n_bytes: int, digits: int = 0) -> str:
    """``n_bytes`` in MB (2**20 bytes), e.g. ``format_mb(20 * MB) == "20 MB"``."""
    return f"{n_bytes / MB:.{digits}f} MB"
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """An image that cannot be used; the message is meant for the user."""


def _read_bytes(source, max_bytes: int, name: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir():
            raise ImageError(f"{p}: is a folder, not an image file")
        if not p.is_file():
            raise ImageError(f"{name}: file not found")
        size = p.stat().st_size
        if size > max_bytes:
            raise ImageError(f"{name}: file is {format_mb(size, 1)}, more than the {format_mb(max_bytes)} limit")
        data = p.read_bytes()
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(max_bytes + 1)
    else:
        raise ImageError(f"{name}: expected a path, bytes or a file, got {type(source).__name__}")
    if len(data) > max_bytes:
        raise ImageError(f"{name}: file is larger than the {format_mb(max_bytes)} limit")
    if not data:
        raise ImageError(f"{name}: file is empty")
    return data


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB (see module docstring for the rules)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def as_rgb(image: "Image.Image | str | os.PathLike | bytes | BinaryIO") -> Image.Image:
    """An image as the model encoders take it: a PIL image is returned as is when RGB and otherwise converted with
    ``Image.convert("RGB")`` (no compositing, no checks); anything else (a path, bytes, a file object) is opened
    by :func:`load_image`, with its checks and conversions."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    return load_image(image)


def load_image(source: "str | os.PathLike | bytes | BinaryIO | Image.Image", *, name: str | None = None,
               max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, check and convert one user image to RGB. Raises :class:`ImageError` with a clear message."""
    label = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else
                     getattr(source, "name", None) or "image")
    if isinstance(source, Image.Image):
        if source.width * source.height > max_pixels:
            raise ImageError(f"{label}: {source.width}x{source.height} pixels is more than the "
                             f"{max_pixels / 1e6:.0f} MP limit")
        return to_rgb(ImageOps.exif_transpose(source) or source)
    data = _read_bytes(source, max_bytes, label)
    try:
        # Pillow warns (DecompressionBombWarning) above ~89 MP before our own, lower limit is checked below: the
        # limit's message says it, so the warning is silenced rather than printed beside it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))  # reads the header only
        with probe:
            w, h = probe.size
            fmt = probe.format
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image Pillow can read (PNG, JPEG, GIF, BMP, WebP, TIFF, ...)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: refused, the image declares too many pixels (decompression bomb?)") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on malformed headers
        raise ImageError(f"{label}: unreadable image header ({e})") from None
    if w * h > max_pixels:
        raise ImageError(f"{label}: {w}x{h} pixels is more than the {max_pixels / 1e6:.0f} MP limit")
    if w < 1 or h < 1:
        raise ImageError(f"{label}: image has no pixels ({w}x{h})")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # decode now, so truncation shows here and not later inside the model
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: refused, the image declares too many pixels (decompression bomb?)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{label}: the {fmt or 'image'} file is truncated or corrupt ({e})") from None
    img = ImageOps.exif_transpose(img) or img
    return to_rgb(img)
