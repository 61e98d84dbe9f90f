"""Tamper evidence: a SHA-256 chain over every stored event of each application's log.

Each stored event (its position, aggregate id, version, topic and the stored state bytes,
exactly as in the events table) has its own SHA-256, the *leaf*; the chain hash after an
event is SHA-256(previous chain hash || leaf), starting from a per-application genesis.
The `audit_seal` follower (workers/audit_seal.py) extends the chain as the log grows and
writes a *seal* every N events or T seconds: the position reached, the chain hash there,
and the first 8 bytes of each covered leaf. `verify` recomputes the chain from the events
table: the chain hash is the proof, the short digests only say which event changed.

What it proves and what not: README, Operations, "Auditing: seals, verification,
reconciliation, export".
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection, sql

APPLICATIONS = ("catalog", "commerce", "payments", "support")
DIGEST_BYTES = 8  # per event in a seal: enough to name the event that changed
SCAN_ROWS = 5_000  # rows per round trip of a server-side cursor


@dataclass(frozen=True)
class StoredEvent:
    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes


def genesis(application: str) -> bytes:
    return hashlib.sha256(f"eventmart audit chain v1 {application}".encode()).digest()


def leaf(e: StoredEvent) -> bytes:
    """The event's own hash. Lengths are part of the input, so no two events can be made to
    read alike by moving bytes between topic and state."""
    topic = e.topic.encode()
    return hashlib.sha256(
        struct.pack(">q16sqI", e.position, e.aggregate_id.bytes, e.version, len(topic))
        + topic + struct.pack(">I", len(e.state)) + e.state
    ).digest()


def link(chain: bytes, leaf_hash: bytes) -> bytes:
    return hashlib.sha256(chain + leaf_hash).digest()


def events_table(application: str) -> sql.Identifier:
    if application not in APPLICATIONS:
        raise ValueError(f"unknown application {application!r}; known: {', '.join(APPLICATIONS)}")
    return sql.Identifier(f"{application}_events")


# The chain's order is the log's reading order, (transaction id, id) (adapters/recorder.py):
# the order the seal follower reads in, in which an event committed late comes after every
# event read before it. Ids alone are not that order.
_SELECT = ("SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
           "WHERE notification_id > %s AND notification_id <= %s "
           "ORDER BY transaction_id, notification_id")


def scan_events(conn: Connection, application: str, after: int = 0,
                until: int = 2**63 - 1) -> Iterator[StoredEvent]:
    """Every stored event whose id is in (after, until], in the chain's order, through a
    server-side cursor: memory stays flat however long the log. `conn` must be in a
    transaction."""
    with conn.cursor(name=f"scan_{application}") as cur:
        cur.itersize = SCAN_ROWS
        cur.execute(sql.SQL(_SELECT).format(events_table(application)), (after, until))
        for p, oid, v, t, s in cur:
            yield StoredEvent(int(p), oid, int(v), str(t), bytes(s))


# Seals


@dataclass(frozen=True)
class Seal:
    application: str
    seq: int
    from_position: int  # exclusive: the previous seal's position (0 for the first)
    position: int  # the last event it covers
    events: int
    chain_hash: str  # hex
    digests: bytes  # DIGEST_BYTES per covered event, in position order
    sealed_at: datetime | str

    def as_json(self, *, digests: bool = True) -> dict[str, Any]:
        sealed_at = self.sealed_at.isoformat() if isinstance(self.sealed_at, datetime) else self.sealed_at
        out: dict[str, Any] = {"application": self.application, "seq": self.seq,
                               "from_position": self.from_position, "position": self.position,
                               "events": self.events, "chain_hash": self.chain_hash,
                               "sealed_at": sealed_at}
        if digests:
            out["digests"] = base64.b64encode(self.digests).decode()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seal:
        return cls(str(data["application"]), int(data["seq"]), int(data["from_position"]),
                   int(data["position"]), int(data["events"]), str(data["chain_hash"]),
                   base64.b64decode(data.get("digests", "")), str(data["sealed_at"]))


_SEAL_COLUMNS = "application, seq, from_position, position, events, chain_hash, digests, sealed_at"


def _seal(row: tuple[Any, ...]) -> Seal:
    app, seq, start, position, events, chain, digests, at = row
    return Seal(app, int(seq), int(start), int(position), int(events), chain, bytes(digests), at)


def seals(conn: Connection, application: str | None = None, *, after_seq: int = 0,
          limit: int | None = None) -> list[Seal]:
    where = "WHERE seq > %s" + (" AND application = %s" if application else "")
    params: list[Any] = [after_seq] + ([application] if application else [])
    query = f"SELECT {_SEAL_COLUMNS} FROM audit_seals {where} ORDER BY application, seq"
    if limit is not None:
        query += " LIMIT %s"
        params.append(limit)
    return [_seal(r) for r in conn.execute(query, params).fetchall()]


def iter_seals(conn: Connection, application: str | None = None) -> Iterator[Seal]:
    """Every seal (of one application, or all), in order, without holding them all."""
    after: dict[str, int] = {}
    for app in [application] if application else APPLICATIONS:
        after[app] = 0
        while batch := seals(conn, app, after_seq=after[app], limit=1000):
            yield from batch
            after[app] = batch[-1].seq


class SealFileError(ValueError):
    """A line of a seal file that is not a seal as export-seals writes it."""


def read_seal_file(lines: Iterable[str]) -> list[Seal]:
    seals = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            seals.append(Seal.from_json(data))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise SealFileError(f"line {n} is not a seal written by export-seals "
                                f"({type(error).__name__}: {str(error)[:100]})") from None
    return seals


# The chain's head, kept by the follower


@dataclass
class Head:
    application: str
    position: int
    chain: bytes
    seq: int
    sealed_position: int
    pending: bytearray
    time_due: bool  # T seconds have passed since the last seal (at the transaction's start)
    sealed_now: bool = field(default=False)

    def add(self, event: StoredEvent) -> None:
        h = leaf(event)
        self.chain = link(self.chain, h)
        self.pending += h[:DIGEST_BYTES]
        self.position = event.position

    @property
    def pending_events(self) -> int:
        return len(self.pending) // DIGEST_BYTES


def lock_head(conn: Connection, application: str, every_seconds: float) -> Head:
    row = conn.execute(
        "SELECT position, chain_hash, seq, sealed_position, pending_digests, "
        "now() - last_sealed_at >= make_interval(secs => %s) "
        "FROM audit_chain_heads WHERE application = %s FOR UPDATE",
        (every_seconds, application),
    ).fetchone()
    if row is None:
        raise LookupError(f"no audit chain head for {application}; run eventmart migrate")
    position, chain, seq, sealed, pending, due = row
    return Head(application, int(position), bytes.fromhex(chain) if chain else genesis(application),
                int(seq), int(sealed), bytearray(pending), bool(due))


def write_seal(conn: Connection, head: Head) -> Seal:
    """Seals the head's pending events (in the caller's transaction)."""
    head.seq += 1
    row = conn.execute(
        f"INSERT INTO audit_seals ({_SEAL_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, now()) "
        f"RETURNING {_SEAL_COLUMNS}",
        (head.application, head.seq, head.sealed_position, head.position, head.pending_events,
         head.chain.hex(), bytes(head.pending)),
    ).fetchone()
    assert row is not None
    head.sealed_position = head.position
    head.pending = bytearray()
    head.sealed_now = True
    return _seal(row)


def save_head(conn: Connection, head: Head) -> None:
    conn.execute(
        "UPDATE audit_chain_heads SET position=%s, chain_hash=%s, seq=%s, sealed_position=%s, "
        "pending_digests=%s, last_sealed_at = CASE WHEN %s THEN now() ELSE last_sealed_at END "
        "WHERE application=%s",
        (head.position, head.chain.hex(), head.seq, head.sealed_position, bytes(head.pending),
         head.sealed_now, head.application),
    )


# Verification


@dataclass(frozen=True)
class Verification:
    application: str
    verified_up_to: int  # the last sealed position whose chain hash was recomputed
    seals: int
    events: int  # events recomputed
    problem: str | None = None
    position: int | None = None  # the first position where the log differs from its seals

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, Any]:
        return {"application": self.application, "ok": self.ok, "verified_up_to": self.verified_up_to,
                "seals": self.seals, "events": self.events, "problem": self.problem,
                "position": self.position}


class _Differs(Exception):
    def __init__(self, position: int, problem: str) -> None:
        self.position = position
        self.problem = problem


def verify(conn: Connection, application: str, sealed: Iterable[Seal]) -> Verification:
    """Recomputes the chain from the events table against `sealed` (this application's
    seals in order: from the table, or from an exported file) and names the first position
    where the log differs. Runs in one transaction, one pass over the log."""
    chain = genesis(application)
    verified, count, events = 0, 0, 0
    seal_iter = iter(s for s in sealed if s.application == application)
    seal = next(seal_iter, None)
    i = 0  # events matched within the current seal

    def next_seal(current: Seal) -> Seal | None:
        nonlocal verified, count
        _close(current, i, chain)
        verified, count = current.position, count + 1
        following = next(seal_iter, None)
        if following is not None:
            _check_start(following, current.position)
        return following

    with conn.transaction():
        try:
            if seal is not None:
                _check_start(seal, 0)
            # Seals cover consecutive runs of the chain's order: a seal's events are the next
            # `events` of the scan (its last one must be the one at its position).
            last = 0
            for event in scan_events(conn, application):
                while seal is not None and i >= seal.events:
                    if last != seal.position:
                        raise _Differs(event.position, f"seal {seal.seq} ends at position "
                                       f"{seal.position} but the log has {last} there (events "
                                       f"inserted, removed or reordered)")
                    seal, i = next_seal(seal), 0
                if seal is None:
                    break
                h = leaf(event)
                if h[:DIGEST_BYTES] != seal.digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES]:
                    raise _Differs(event.position, f"the event at position {event.position} differs "
                                   f"from when seal {seal.seq} was made (altered, inserted, or an "
                                   f"event before it in that seal was removed)")
                last = event.position
                chain = link(chain, h)
                i += 1
                events += 1
            while seal is not None:  # seals past the last stored event
                seal, i = next_seal(seal), 0
        except _Differs as d:
            return Verification(application, verified, count, events, d.problem, d.position)
    return Verification(application, verified, count, events)


def _check_start(seal: Seal, previous_position: int) -> None:
    if seal.from_position != previous_position:
        raise _Differs(min(seal.from_position, previous_position) + 1,
                       f"seal {seal.seq} starts after position {seal.from_position}, but the seal "
                       f"before it ends at {previous_position} (seals removed or altered)")


def _close(seal: Seal, seen: int, chain: bytes) -> None:
    if seen < seal.events:
        raise _Differs(seal.position, f"{seal.events - seen} of the {seal.events} events sealed by "
                       f"seal {seal.seq} (up to position {seal.position}) are missing from the log")
    if chain.hex() != seal.chain_hash:
        raise _Differs(seal.position, f"the chain hash recomputed up to position {seal.position} "
                       f"differs from seal {seal.seq}'s (the seal was altered)")


def compare_seals(stored: Iterable[Seal], kept: Iterable[Seal]) -> list[str]:
    """Seals kept elsewhere (an export) that the table no longer agrees with."""
    table = {(s.application, s.seq): s for s in stored}
    out = []
    for s in kept:
        t = table.get((s.application, s.seq))
        if t is None:
            out.append(f"{s.application} seal {s.seq} (up to position {s.position}) is missing "
                       f"from audit_seals")
        elif (t.position, t.chain_hash, t.from_position) != (s.position, s.chain_hash, s.from_position):
            out.append(f"{s.application} seal {s.seq} differs: kept {s.chain_hash[:16]}... up to "
                       f"{s.position}, table {t.chain_hash[:16]}... up to {t.position}")
    return out


def unsealed_events(conn: Connection, application: str, after: int) -> int:
    """Events after the one at `after` (a seal's position) in the chain's order."""
    row = conn.execute(sql.SQL(
        "SELECT count(*) FROM {0} WHERE %(after)s = 0 OR (transaction_id, notification_id) > "
        "(SELECT transaction_id, notification_id FROM {0} WHERE notification_id = %(after)s)").format(
        events_table(application)), {"after": after}).fetchone()
    return int(row[0]) if row else 0
