"""What every response carries and how big a request may be, for the whole app.

Bodies are bounded while they stream in: a declared Content-Length over the limit is refused
before a byte is read, and a body that grows past it (chunked, or lying about its length) is
cut off at the limit, so a 50 MB JSON body is never read or parsed and an upload is never
spooled whole before its size is checked. The limit is `MAX_REQUEST_BYTES` for JSON and other
bodies, `MAX_UPLOAD_BYTES` (plus multipart framing) for multipart uploads. 413 problem+json.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import HttpMiddleware

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file itself


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        super().__init__(app)
        self.max_body = max_body
        self.max_upload = max_upload + MULTIPART_OVERHEAD

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.max_upload if multipart else self.max_body
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _problem(scope, send, limit)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit)  # FastAPI lets HTTPException through body parsing
            return message

        await self.app(scope, bounded, send)


async def _problem(scope: Scope, send: Send, limit: int) -> None:
    response = JSONResponse(
        {"type": "/problems/request-too-large", "title": "Request too large", "status": 413,
         "detail": f"the request body is larger than {limit} bytes", "instance": scope.get("path")},
        status_code=413, media_type="application/problem+json", headers={"Connection": "close"})
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class SecurityHeadersMiddleware(HttpMiddleware):
    """nosniff everywhere; HTML pages (docs, the sandbox checkout) may not be framed, so their
    buttons cannot be clickjacked; HSTS in prod, where the API is served over HTTPS."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        super().__init__(app)
        self.hsts = hsts

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers.append((b"x-content-type-options", b"nosniff"))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"x-frame-options", b"DENY"))
                    if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                        headers.append((b"content-security-policy", b"frame-ancestors 'none'"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
