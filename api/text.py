"""Clean text at the edge: what every request model and request parameter may contain.

PostgreSQL text cannot hold NUL, log lines must not be forged with CR/LF, and no field
needs the other control characters (C0, DEL, C1: U+0080-U+009F, among them NEL, a line
break to some readers); so request text refuses them (400 naming the field) before anything
is stored. Tab and line breaks are allowed only in multi-line fields (free text such as
descriptions, messages and notes). One-line fields (names, cities, codes) also refuse the
Unicode line and paragraph separators and the bidirectional embeddings, overrides and
isolates (U+202A-U+202E, U+2066-U+2069), which make a shop or product name display in
another order than it is stored; free text keeps them for right-to-left languages. Every
string and every list has a maximum size, whether or not the field declares a smaller one.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar
from urllib.parse import unquote_to_bytes

from fastapi import Request
from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from domain.errors import DomainError

LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_STRING = 10_000
MAX_ITEMS = 100
# Free-text fields, wherever they appear: tab and line breaks are fine there.
MULTI_LINE = frozenset({"description", "text", "message", "delivery_notes", "reason", "note", "comment",
                        "resolution", "query"})


def _problem(value: Any, multi_line: bool, depth: int = 0) -> str | None:
    """Why this value is refused, or None; nested lists and dicts are checked too."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"at most {MAX_STRING} characters"
        forbidden = MULTI_LINE_FORBIDDEN if multi_line else LINE_FORBIDDEN
        if forbidden.search(value):
            if multi_line:
                return "control characters are not allowed here (NUL included; allowed: tab and line breaks)"
            return ("control characters, line separators and bidirectional controls are not "
                    "allowed in a one-line field (NUL included)")
        return None
    if isinstance(value, list | tuple | set | frozenset | dict):
        if len(value) > MAX_ITEMS:
            return f"at most {MAX_ITEMS} entries"
        items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        for key, item in items:
            found = (_problem(key, False, depth + 1) if key is not None else None) or _problem(
                item, multi_line, depth + 1)
            if found:
                return found
    return None


@functools.cache
def _flags(model: type[BaseModel]) -> frozenset[str]:
    """The model's fields that are booleans (or optional ones)."""
    return frozenset(name for name, field in model.model_fields.items()
                     if field.annotation in (bool, bool | None))


class RequestModel(BaseModel):
    """Base of every request body: text is clean and bounded in every field."""

    multi_line: ClassVar[frozenset[str]] = MULTI_LINE

    @field_validator("*", mode="before")
    @classmethod
    def _strict_flags(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic takes 0, 1, "yes" and "off" for a bool; the schema says boolean, and a
        # flag such as `is_open` should not be set by a number.
        if not isinstance(value, bool) and value is not None and info.field_name in _flags(cls):
            raise PydanticCustomError("bool_type", "true or false")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, BaseModel):
            return value  # nested request models check their own fields
        multi_line = info.field_name in cls.multi_line
        why = _problem(value, multi_line)
        if why:
            raise PydanticCustomError("clean_text", why)
        if not multi_line and isinstance(value, str) and value.isspace():
            # A shop called "   " passes min_length=1 and shows as nothing.
            raise PydanticCustomError("clean_text", "a one-line field needs more than spaces")
        return value


async def check_parameters(request: Request) -> None:
    """Path and query strings reach SQL and logs too: the same rule, single-line. Async: no
    I/O, so no hand-off to the thread pool on every request."""
    raw = request.scope.get("query_string", b"")
    if b"%" in raw:
        # Starlette decodes bytes that are not UTF-8 as U+FFFD: `?q=%ff%fe` searched for two
        # replacement characters and matched everything, instead of being refused.
        try:
            unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise DomainError("the query string is not UTF-8 once percent-decoded", field="query") from None
    raw_path = request.scope.get("raw_path") or b""
    if b"%" in raw_path:  # likewise `/v1/categories/%ff/`, looked up as "\ufffd"
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            raise DomainError("the path is not UTF-8 once percent-decoded", field="path") from None
    for where, values in (("path", request.path_params.items()),
                          ("query", request.query_params.multi_items())):
        for name, value in values:
            why = _problem(value, False) if isinstance(value, str) else None
            if why:
                raise DomainError(f"{where} parameter {name}: {why}", field=name)
