"""Uploaded images (profile photos, avatars; later shop and item images).

Stored on local disk under EVENTMART_DATA_DIR/media by default, behind a small interface so
that an object store can replace it; served back at /media/{name}.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Protocol

from domain.errors import DomainError

# Recognised by content, never by the client's file name or declared type.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
}
NAME = re.compile(r"^[A-Za-z0-9_-]{20,64}\.(png|jpg|webp)$")
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


class UnsupportedImageError(DomainError, title="Unsupported image"): ...


def sniff(data: bytes) -> str:
    for magic, (ext, _) in SIGNATURES.items():
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise UnsupportedImageError("only PNG, JPEG and WebP images are accepted", field="file")


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
        name = f"{secrets.token_urlsafe(24)}.{sniff(data)}"
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
