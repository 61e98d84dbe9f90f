"""Reconciliation: the money read models against the log they are built from.

Every wallet, reward ledger and order stream of the commerce log is folded again, in
position order through a server-side cursor, into a few numbers per aggregate (never the
events themselves), and compared with the `wallet_balance`, `rewards` and `order_history`
rows. Everything is read in one REPEATABLE READ snapshot, and each read model is compared
with the fold of the log up to that read model's own position: a read model that merely
lags is not a drift. Totals show conservation: what came into wallets minus what went out
is what they hold; points earned minus points spent is what ledgers hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg import Connection

from domain.commerce.order import TRANSITIONS, Action, Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.wallet import Wallet
from projections.audit_chain import SCAN_ROWS

MODELS = ("wallet_balance", "rewards", "order_history")


@dataclass(frozen=True)
class Drift:
    kind: str  # wallet, reward_ledger, order
    aggregate_id: str
    field: str
    expected: Any  # from the log (None: the log has no such aggregate)
    found: Any  # in the read model (None: no row)
    read_model: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "aggregate_id": self.aggregate_id, "field": self.field,
                "expected": self.expected, "found": self.found, "read_model": self.read_model}


@dataclass
class WalletTotals:
    wallets: int = 0
    loads: int = 0
    refunds: int = 0
    credit_adjustments: int = 0
    spends: int = 0  # debits for orders and direct debits
    debit_adjustments: int = 0
    balances: int = 0  # the log's, summed
    read_model_balances: int = 0

    @property
    def conserved(self) -> bool:
        flows = self.loads + self.refunds + self.credit_adjustments - self.spends - self.debit_adjustments
        return flows == self.balances == self.read_model_balances


@dataclass
class RewardTotals:
    ledgers: int = 0
    earned: int = 0
    reversed: int = 0
    redeemed: int = 0
    restored: int = 0
    points: int = 0
    read_model_points: int = 0

    @property
    def conserved(self) -> bool:
        flows = self.earned - self.reversed - self.redeemed + self.restored
        return flows == self.points == self.read_model_points


@dataclass
class OrderTotals:
    orders: int = 0
    total: int = 0
    paid: int = 0
    refunded: int = 0

    @property
    def conserved(self) -> bool:
        return self.refunded <= self.paid


@dataclass(frozen=True)
class Unreadable:
    """A stored event that does not decode into an event with its fields: not folded (nor,
    past the field that failed, what it would have changed), so its aggregate's totals may
    be off after it."""

    position: int
    aggregate_id: str
    version: int
    error: str

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position, "aggregate_id": self.aggregate_id,
                "version": self.version, "error": self.error}


@dataclass
class Report:
    positions: dict[str, int]
    events: int = 0
    drifts: list[Drift] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    wallets: WalletTotals = field(default_factory=WalletTotals)
    rewards: RewardTotals = field(default_factory=RewardTotals)
    orders: OrderTotals = field(default_factory=OrderTotals)

    @property
    def ok(self) -> bool:
        return not self.drifts and not self.unreadable and self.wallets.conserved \
            and self.rewards.conserved and self.orders.conserved

    def as_json(self) -> dict[str, Any]:
        def totals(t: Any) -> dict[str, Any]:
            return {**vars(t), "conserved": t.conserved}

        return {"ok": self.ok, "positions": self.positions, "events": self.events,
                "drifts": [d.as_json() for d in self.drifts],
                "unreadable": [u.as_json() for u in self.unreadable],
                "totals": {"wallets": totals(self.wallets), "rewards": totals(self.rewards),
                           "orders": totals(self.orders)}}

    def lines(self) -> Iterator[str]:
        for d in self.drifts:
            yield (f"DRIFT {d.kind} {d.aggregate_id} {d.field}: expected {d.expected} "
                   f"(log), found {d.found} ({d.read_model})")
        for u in self.unreadable:
            yield (f"UNREADABLE event at position {u.position} (aggregate {u.aggregate_id} "
                   f"version {u.version}): {u.error}; not folded, its aggregate's totals may be off")
        w, r, o = self.wallets, self.rewards, self.orders
        at = ", ".join(f"{m} at {p}" for m, p in self.positions.items())
        yield f"read models compared with the commerce log up to their positions: {at}"
        yield (f"wallets: {w.wallets}; loads {w.loads} + refunds {w.refunds} + adjustments "
               f"{w.credit_adjustments} - spends {w.spends} - adjustments {w.debit_adjustments} "
               f"= balances {w.balances} (read model {w.read_model_balances}): "
               f"{'conserved' if w.conserved else 'NOT CONSERVED'}")
        yield (f"reward ledgers: {r.ledgers}; earned {r.earned} - reversed {r.reversed} - redeemed "
               f"{r.redeemed} + restored {r.restored} = points {r.points} (read model "
               f"{r.read_model_points}): {'conserved' if r.conserved else 'NOT CONSERVED'}")
        yield (f"orders: {o.orders}; totals {o.total}, paid {o.paid}, refunded {o.refunded}: "
               f"{'refunded <= paid' if o.conserved else 'REFUNDED MORE THAN PAID'}")
        yield f"{len(self.drifts)} drifts" if self.drifts else "no drift"


# The folds: a few numbers per aggregate, the same rules as the aggregates' own handlers.
# wallet: [balance by arithmetic, balance_after of the last event, version]
# ledger: [points, reserved, lifetime]
# order:  [status, total, proposed total, paid, refunded]


def _fold_wallet(states: dict[UUID, list[Any]], e: Any, t: WalletTotals, drifts: list[Drift]) -> None:
    if isinstance(e, Wallet.Opened):
        states[e.originator_id] = [0, 0, e.originator_version]
        return
    s = states.get(e.originator_id)
    if s is None:
        return
    if isinstance(e, Wallet.Credited):
        s[0] += e.amount
        t.loads += e.amount if e.kind == "load" else 0
        t.refunds += e.amount if e.kind == "refund" else 0
        t.credit_adjustments += e.amount if e.kind not in ("load", "refund") else 0
    elif isinstance(e, Wallet.Debited):
        s[0] -= e.amount
        t.debit_adjustments += e.amount if e.kind == "adjustment" else 0
        t.spends += e.amount if e.kind != "adjustment" else 0
    if isinstance(e, Wallet.Credited | Wallet.Debited):
        if e.balance_after != s[0]:
            drifts.append(Drift("wallet", str(e.originator_id), f"balance_after at version "
                                f"{e.originator_version}", s[0], e.balance_after, "the log itself"))
            s[0] = e.balance_after  # one drift per wrong event, not one for every later event
        s[1] = e.balance_after
    s[2] = e.originator_version


_REWARD_SIGNS = {RewardLedger.Earned: 1, RewardLedger.Reversed: -1, RewardLedger.Redeemed: -1,
                 RewardLedger.Restored: 1, RewardLedger.ReturnRestored: 1, RewardLedger.Unspent: 1}


def _fold_ledger(states: dict[UUID, list[int]], e: Any, t: RewardTotals) -> None:
    if isinstance(e, RewardLedger.Opened):
        states[e.originator_id] = [0, 0, 0]
        return
    s = states.get(e.originator_id)
    if s is None:
        return
    if isinstance(e, RewardLedger.Reserved):
        s[1] = e.points
    elif isinstance(e, RewardLedger.ReservationReleased):
        s[1] = 0
    elif type(e) in _REWARD_SIGNS:
        s[0] += _REWARD_SIGNS[type(e)] * e.points
        if isinstance(e, RewardLedger.Earned):
            s[2] += e.points
            t.earned += e.points
        elif isinstance(e, RewardLedger.Reversed):
            s[1] = min(s[1], s[0])
            s[2] -= e.lifetime
            t.reversed += e.points
        elif isinstance(e, RewardLedger.Redeemed):
            s[1] = 0
            t.redeemed += e.points
        else:
            t.restored += e.points


def _fold_order(states: dict[UUID, list[Any]], e: Any) -> None:
    if isinstance(e, Order.Placed):
        states[e.originator_id] = [e.status, e.amounts["total"], None, 0, 0]
        return
    s = states.get(e.originator_id)
    if s is None:
        return
    if isinstance(e, Order.Paid):
        s[3] += e.amount
        s[0] = TRANSITIONS[s[0]].get(Action.PAY, s[0])
    elif isinstance(e, Order.PaymentFailed):
        s[0] = "payment_failed"
    elif isinstance(e, Order.Modified):
        s[0], s[2] = "modified", e.amounts["total"]
    elif isinstance(e, Order.StatusChanged):
        if e.action == "confirm_modified" and s[2] is not None:
            s[1], s[2] = s[2], None
        s[0] = e.status
    elif isinstance(e, Order.Cancelled):
        s[0] = e.status
    elif isinstance(e, Order.Refunded):
        s[4] += e.amount


def _topics(*aggregates: type) -> list[str]:
    return [get_topic(a) + ".%" for a in aggregates]


def reconcile(conn: Connection, mapper: Any) -> Report:
    """`conn`: an autocommit connection; everything is read in one snapshot. `mapper`: the
    commerce application's (its transcodings, upcasters and cipher)."""
    wallets: dict[UUID, list[Any]] = {}
    ledgers: dict[UUID, list[int]] = {}
    orders: dict[UUID, list[Any]] = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = conn.execute(
            "SELECT follower, position_xid::text, position FROM follower_positions "
            "WHERE application = 'commerce' AND follower = ANY(%s)", (list(MODELS),)).fetchall()
        # Each model's cursor (transaction id, id): what it has passed is what sorts at or
        # before it in the log's reading order (adapters/recorder.py), not the ids below it.
        cursors = {m: (0, 0) for m in MODELS} | {str(f): (int(x), int(p)) for f, x, p in rows}
        positions = {m: c[1] for m, c in cursors.items()}
        report = Report(positions)
        until = max(cursors.values())
        with conn.cursor(name="reconcile") as cur:
            cur.itersize = SCAN_ROWS
            cur.execute(
                # The text form gets its own name: ORDER BY transaction_id would sort by it
                # ('1000' before '999': a wallet's later saves folded before its opening).
                "SELECT transaction_id::text AS xid, notification_id, originator_id, originator_version, "
                "topic, state FROM commerce_events "
                "WHERE (transaction_id, notification_id) <= (%s::text::xid8, %s) AND topic LIKE ANY(%s) "
                "ORDER BY transaction_id, notification_id",
                (str(until[0]), until[1], _topics(Wallet, RewardLedger, Order)))
            for xid, position, oid, version, topic, state in cur:
                at = (int(xid), int(position))
                try:
                    e: Any = mapper.to_domain_event(StoredEvent(oid, version, topic, bytes(state)))
                    report.events += 1
                    if isinstance(e, Wallet.Event):
                        if at <= cursors["wallet_balance"]:
                            _fold_wallet(wallets, e, report.wallets, report.drifts)
                    elif isinstance(e, RewardLedger.Event):
                        if at <= cursors["rewards"]:
                            _fold_ledger(ledgers, e, report.rewards)
                    elif isinstance(e, Order.Event) and at <= cursors["order_history"]:
                        _fold_order(orders, e)
                except Exception as error:  # noqa: BLE001 - reported: the rest still reconciles
                    report.unreadable.append(Unreadable(int(position), str(oid), int(version),
                                                        f"{type(error).__name__}: {error}"[:500]))
        _compare_wallets(conn, wallets, report)
        _compare_ledgers(conn, ledgers, report)
        _compare_orders(conn, orders, report)
    return report


def _rows(conn: Connection, name: str, query: str) -> Iterator[tuple[Any, ...]]:
    with conn.cursor(name=name) as cur:
        cur.itersize = SCAN_ROWS
        cur.execute(query)
        yield from cur


def _compare(conn: Connection, kind: str, model: str, query: str, fields: tuple[str, ...],
             expected: dict[UUID, list[Any]], drifts: list[Drift]) -> int:
    """Each row of `query` (its key, then `fields`) against the log's fold in `expected`, then
    every folded aggregate that has no row. Returns the sum of the rows' first field, where a number."""
    def differ(key: UUID, want: list[Any] | None, got: tuple[Any, ...] | None) -> None:
        for i, name in enumerate(fields):
            w = None if want is None else want[i]
            g = None if got is None else got[i]
            if w != g:
                drifts.append(Drift(kind, str(key), name, w, g, model))

    total = 0
    for key, *found in _rows(conn, f"{model}_rows", query):
        differ(key, expected.pop(key, None), tuple(found))
        total += found[0] if isinstance(found[0], int) else 0
    for key, state in expected.items():
        differ(key, state, None)
    return total


def _compare_wallets(conn: Connection, wallets: dict[UUID, list[Any]], report: Report) -> None:
    t = report.wallets
    t.wallets = len(wallets)
    t.balances = sum(s[1] for s in wallets.values())
    t.read_model_balances = _compare(conn, "wallet", "wallet_balance",
                                     "SELECT wallet_id, balance, version FROM wallet_balance",
                                     ("balance", "version"), {k: s[1:] for k, s in wallets.items()},
                                     report.drifts)


def _compare_ledgers(conn: Connection, ledgers: dict[UUID, list[int]], report: Report) -> None:
    t = report.rewards
    t.ledgers = len(ledgers)
    t.points = sum(s[0] for s in ledgers.values())
    t.read_model_points = _compare(conn, "reward_ledger", "rewards",
                                   "SELECT ledger_id, points, reserved, lifetime FROM rewards",
                                   ("points", "reserved", "lifetime"), dict(ledgers), report.drifts)


def _compare_orders(conn: Connection, orders: dict[UUID, list[Any]], report: Report) -> None:
    t = report.orders
    t.orders = len(orders)
    for order_id, s in orders.items():
        t.total += s[1]
        t.paid += s[3]
        t.refunded += s[4]
        if s[4] > s[3]:
            report.drifts.append(Drift("order", str(order_id), "refunded more than paid", s[3], s[4],
                                       "the log itself"))
    _compare(conn, "order", "order_history",
             "SELECT order_id, status, total, (doc->>'paid')::bigint, "
             "(doc->>'refunded')::bigint FROM order_history",
             ("status", "total", "paid", "refunded"),
             {k: [s[0], s[1], s[3], s[4]] for k, s in orders.items()}, report.drifts)
