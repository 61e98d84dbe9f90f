"""Image uploads: POST /api/v1/uploads/images, served back at GET /media/{name}."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.dependencies import RuntimeDep, Uploader
from api.routing import Router
from domain.errors import DomainError, NotFoundError
from runtime import Runtime

router = Router(tags=["uploads"])

# Profile photos and product images. Not auditors: they change nothing (support and admin
# staff have no image to upload but admins act for vendors).

IMAGE_REF_PATTERN = r"^(https://[^\s]{1,2000}|/media/[A-Za-z0-9_-]{20,64}\.(png|jpg|webp))$"
ImageRef = Annotated[
    str,
    Field(
        pattern=IMAGE_REF_PATTERN, max_length=2048,
        description="An https URL, or the `url` returned by POST /api/v1/uploads/images",
    ),
]


class Uploaded(BaseModel):
    url: str
    content_type: str
    size: int


def check_image_ref(runtime: Runtime, ref: str | None) -> None:
    check_image_refs(runtime, [ref] if ref else None, field="image")


def check_image_refs(runtime: Runtime, refs: list[str] | None, field: str = "images") -> None:
    """An uploaded image must exist (an https URL is the client's business)."""
    for ref in refs or ():
        if ref.startswith("/media/") and runtime.media.open(ref.removeprefix("/media/")) is None:
            raise DomainError(f"no uploaded image at {ref}", field=field)


@router.post("/api/v1/uploads/images", status_code=status.HTTP_201_CREATED,
             response_model=Uploaded, summary="Upload a PNG, JPEG or WebP image (max 2 MiB)")
def upload_image(
    file: Annotated[UploadFile, File(description="the image")], user: Uploader,
    runtime: RuntimeDep,
) -> dict[str, object]:
    data = file.file.read(runtime.settings.max_upload_bytes + 1)
    name = runtime.media.save(data)
    found = runtime.media.open(name)
    assert found is not None
    return {"url": f"/media/{name}", "content_type": found[1], "size": len(data)}


@router.get("/media/{name}", summary="An uploaded image", response_class=FileResponse)
def media(name: str, runtime: RuntimeDep) -> FileResponse:
    found = runtime.media.open(name)
    if found is None:
        raise NotFoundError("no such image")
    path, content_type = found
    return FileResponse(path, media_type=content_type,
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})
