"""Uploaded images (profile photos, avatars, shop and item images).

Stored on local disk under EVENTMART_DATA_DIR/media by default, behind a small interface so
that an object store can replace it; served back at /media/{name}.

An upload is kept only if it decodes whole as the format its first bytes claim, within
MAX_SIDE pixels a side and MAX_PIXELS in all. Checked by its signature alone, a PNG signature
followed by garbage was kept and served as image/png, and so was a 1 MB PNG of 20,000 x
20,000 pixels (1.6 GB to decode in every app that shows it).
"""

from __future__ import annotations

import io
import re
import secrets
import warnings
from pathlib import Path
from typing import Protocol

from PIL import Image

from domain.errors import DomainError

# Recognised by content, never by the client's file name or declared type.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
}
NAME = re.compile(r"^[A-Za-z0-9_-]{20,64}\.(png|jpg|webp)$")
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}  # ours -> Pillow's
MAX_SIDE = 8192
MAX_PIXELS = 24_000_000  # a 6000 x 4000 photo; about 100 MB decoded


class UnsupportedImageError(DomainError, title="Unsupported image"): ...


def sniff(data: bytes) -> str:
    for magic, (ext, _) in SIGNATURES.items():
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise UnsupportedImageError("only PNG, JPEG and WebP images are accepted", field="file")


def check_image(data: bytes) -> str:
    """The image's extension, if it decodes whole within the size limits; else
    UnsupportedImageError. The header is read first: nothing too large is ever decoded."""
    ext = sniff(data)
    too_large = UnsupportedImageError(
        f"images are limited to {MAX_SIDE} pixels a side and {MAX_PIXELS:,} in all", field="file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[FORMATS[ext]]) as image:
                width, height = image.size
                if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
                    raise too_large
                image.verify()  # every chunk's checksum, up to the end marker (PNG)
            with Image.open(io.BytesIO(data), formats=[FORMATS[ext]]) as image:
                image.load()  # every pixel: a cut or corrupt stream fails here
    except UnsupportedImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow's own words name what is wrong (truncated, bad checksum); no path is in them.
        raise UnsupportedImageError(f"the file is not a whole {ext.upper()} image ({e})",
                                    field="file") from None
    return ext


class MediaStorage(Protocol):
    def save(self, data: bytes) -> str: ...
    def open(self, name: str) -> tuple[Path, str] | None: ...


class LocalMediaStorage:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def save(self, data: bytes) -> str:
        if not data:
            raise UnsupportedImageError("the file is empty", field="file")
        if len(data) > self.max_bytes:
            raise UnsupportedImageError(
                f"images are limited to {self.max_bytes} bytes", field="file"
            )
        name = f"{secrets.token_urlsafe(24)}.{check_image(data)}"
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.root / name)
        return name

    def open(self, name: str) -> tuple[Path, str] | None:
        if not NAME.match(name):
            return None
        path = self.root / name
        if not path.is_file():
            return None
        return path, CONTENT_TYPES[name.rsplit(".", 1)[1]]
