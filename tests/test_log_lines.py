"""Log lines: one record is one line whatever it carries (no forged lines), and LOG_FORMAT=json
writes one JSON object per line with the request id."""

from __future__ import annotations

import json
import logging
import sys

from api.logging import EscapingFormatter, JsonFormatter, RequestIdFilter, request_id


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    r = logging.LogRecord("eventmart.access", logging.INFO, __file__, 1, message, args, exc_info)
    RequestIdFilter().filter(r)
    return r


def test_a_forged_line_stays_on_one_line() -> None:
    token = request_id.set("req-1")
    try:
        line = EscapingFormatter("%(levelname)s [%(request_id)s] %(message)s").format(
            record("%s %s", "GET", "/x\r\nINFO [admin] granted\x1b[2J"))
    finally:
        request_id.reset(token)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line == "INFO [req-1] GET /x\\r\\nINFO [admin] granted\\x1b[2J"


def test_json_lines_carry_the_request_id_and_the_traceback() -> None:
    token = request_id.set("req-2")
    try:
        text = JsonFormatter().format(record("paid %s", "x\ny", exc=True))
    finally:
        request_id.reset(token)
    assert "\n" not in text
    obj = json.loads(text)
    assert (obj["request_id"], obj["message"], obj["level"]) == ("req-2", "paid x\ny", "INFO")
    assert "ValueError: boom" in obj["exception"]
