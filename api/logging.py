"""Request ids: taken from X-Request-ID or made up, echoed back, and on every log line.

The middleware is also where an unexpected exception ends: it is logged here, once, with its
traceback and request id, and answered with a 500 problem that carries X-Request-ID."""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from api.asgi import HttpMiddleware

request_id: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("eventmart.access")
error_log = logging.getLogger("api.errors")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class EscapingFormatter(logging.Formatter):
    """One record, one line: CR, LF and other control characters in the message (a path, a
    user-supplied value) are escaped, so nobody can forge log lines. Tracebacks stay as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return _escape(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object per line, with the request id."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record), "level": record.levelname, "logger": record.name,
            "request_id": getattr(record, "request_id", "-"), "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _escape(text: str) -> str:
    if text.isprintable():  # no control character: nearly every line skips the walk
        return text
    return "".join(c if c >= " " or c == "\t" else repr(c)[1:-1] for c in text)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else EscapingFormatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RequestIdMiddleware(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", rid.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Not re-raised: the server would log it again, without the request id.
            error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not response_started:  # else the server closes the half-sent response
                from api.errors import internal_error

                await internal_error(scope["path"])(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s %.1fms", scope["method"], scope["path"], status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)
