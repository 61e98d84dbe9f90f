"""Process managers: follow a log and issue commands elsewhere.

Their commands are idempotent (a shop counts one rating per order, an order one payment per
payment id, a payment one refund per request id), so a redelivered event after a crash
changes nothing: at-least-once delivery is enough.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from uuid import UUID

from psycopg import Connection

from adapters import idempotency_store
from domain.commerce.order import UNPAID_ORDER_WINDOW, Order
from domain.payments.application import WALLET_LOAD
from domain.payments.payment import Payment
from projections import order_history, tracking
from projections import payments as payment_view
from runtime import Runtime
from workers.log_follower import LogFollower, LoggedEvent, connect_follower, reading

log = logging.getLogger(__name__)

SHOP_RATINGS = "shop_ratings"
ORDER_PAYMENTS = "order_payments"
ONLINE_REFUNDS = "online_refunds"
PAYMENT_EXPIRY = "payment_expiry"
POLICIES = {SHOP_RATINGS: "commerce", ORDER_PAYMENTS: "payments", ONLINE_REFUNDS: "commerce"}


def _follower(runtime: Runtime, name: str, app_name: str, reads: tuple[type, ...],
              on_event: Callable[[object], None]) -> LogFollower:
    """A policy is handed only the events of `reads`, and a burst of appends of none of them
    (cart traffic, for every policy) waits for the poll instead of waking it."""
    def handle(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        for logged in batch:
            on_event(logged.event)

    return LogFollower(
        follower=name, app=runtime.applications[app_name], handle=handle,
        database_url=runtime.database_url,
        poll_interval=runtime.settings.worker_poll_interval_seconds,
        batch_size=runtime.settings.worker_batch_size,
        wants=reading(reads), sleeps_through_others=True,
    )


def shop_ratings(runtime: Runtime) -> LogFollower:
    """Order rated -> the shop's rating (average and count) includes it."""

    def on_event(event: object) -> None:
        if isinstance(event, Order.Rated) and event.shop_id:
            runtime.catalog.rate_shop(UUID(event.shop_id), order_id=str(event.originator_id),
                                      rating=event.rating)

    return _follower(runtime, SHOP_RATINGS, "commerce", (Order.Rated,), on_event)


def order_payments(runtime: Runtime) -> LogFollower:
    """Wallet load succeeded -> wallet credited (or, for a late success over the day's
    allowance, refunded). Payment succeeded -> order paid, or, when the order cannot take it (cancelled, paid
    by another attempt), the money goes back. Failed or expired -> order payment_failed.
    A provider refund that settles an order's refund -> recorded on the order."""

    def on_event(event: object) -> None:
        if isinstance(event, Payment.Succeeded) and event.purpose == WALLET_LOAD:
            if runtime.payments.load_admitted(event.originator_id):
                runtime.commerce.credit_wallet_load(UUID(event.customer_id), event.amount,
                                                    str(event.originator_id))
            else:  # a released load paid late, over the day's limit: the money goes back
                runtime.payments.refund(event.originator_id, event.amount,
                                        request_id=f"over-limit:{event.originator_id}",
                                        settles_order=False)
        elif isinstance(event, Payment.Succeeded):
            order_id = UUID(event.order_id)
            if not runtime.commerce.record_order_payment(order_id, str(event.originator_id),
                                                         event.amount):
                runtime.payments.refund(event.originator_id, event.amount,
                                        request_id=f"unapplied:{event.originator_id}",
                                        settles_order=False)
        elif isinstance(event, Payment.Failed | Payment.Expired) and _is_order(runtime, event):
            reason = event.reason if isinstance(event, Payment.Failed) else "payment expired"
            runtime.commerce.record_order_payment_failure(UUID(event.order_id),
                                                          str(event.originator_id), reason)
        elif isinstance(event, Payment.Refunded) and event.settles_order:
            runtime.commerce.record_order_refund(UUID(event.order_id), event.amount, event.reference)

    return _follower(runtime, ORDER_PAYMENTS, "payments", (Payment.Succeeded, Payment.Failed,
                     Payment.Expired, Payment.Refunded), on_event)


def _is_order(runtime: Runtime, event: Payment.Event) -> bool:
    return runtime.payments.payment(event.originator_id).purpose == "order"


def online_refunds(runtime: Runtime) -> LogFollower:
    """Order owes money paid online -> refund through the provider, once per owing event."""

    def on_event(event: object) -> None:
        if isinstance(event, Order.RefundDue):
            runtime.payments.refund(UUID(event.payment_id), event.amount,
                                    request_id=f"{event.originator_id}:{event.originator_version}",
                                    settles_order=True)

    return _follower(runtime, ONLINE_REFUNDS, "commerce", (Order.RefundDue,), on_event)


def expire_overdue_payments(runtime: Runtime, conn: Connection) -> int:
    """Pending payments past their deadline become expired (and their orders
    payment_failed, through order_payments); online orders left unpaid past
    UNPAID_ORDER_WINDOW stop holding stock. Returns how many expired."""
    expired = 0
    now = runtime.clock()
    for payment_id in payment_view.overdue(conn, now):
        saved = runtime.payments.expire(payment_id, now)
        if saved.position is not None:
            # The customer's write, as far as read-your-writes goes: their next read of the
            # payment shows it expired.
            tracking.record_write(conn, UUID(saved.value.customer_id), "payments", saved.position)
            expired += 1
    for order_id in order_history.unpaid_since(conn, now - UNPAID_ORDER_WINDOW):
        order_saved = runtime.commerce.expire_unpaid_order(order_id)
        if order_saved.position is not None and order_saved.value is not None:
            tracking.record_write(conn, UUID(order_saved.value.customer_id), "commerce", order_saved.position)
            expired += 1
    return expired


class PaymentExpirySweep:
    """Not a log follower: a timer. Same run/stop shape so the Supervisor can run it; it
    beats on its own row (payment_expiry/payments) at least every BEAT_SECONDS."""

    BEAT_SECONDS = 5.0

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stopping = threading.Event()
        self.label = PAYMENT_EXPIRY
        self.follower = PAYMENT_EXPIRY
        self.application = "payments"
        self.database_url = runtime.database_url
        self.successes = 0

    def run(self) -> None:
        interval = self.runtime.settings.payment_expiry_sweep_seconds
        # A follower's session: it only reads views and writes positions, beats and swept
        # keys (the expiries append through the applications' own connections), so its
        # statements need not bound the followers' reads (log_follower.NEVER_APPEND).
        with connect_follower(self.runtime.database_url) as conn:
            while not self.stopping.is_set():
                expire_overdue_payments(self.runtime, conn)
                idempotency_store.sweep(conn, self.runtime.clock())  # keys past their 24 h retention
                self.successes += 1
                deadline = time.monotonic() + interval
                while not self.stopping.is_set():
                    tracking.beat(conn, [self.follower], self.application)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.stopping.wait(min(left, self.BEAT_SECONDS))

    def stop(self) -> None:
        self.stopping.set()


FACTORIES: dict[str, Callable[[Runtime], object]] = {
    SHOP_RATINGS: shop_ratings, ORDER_PAYMENTS: order_payments, ONLINE_REFUNDS: online_refunds,
    PAYMENT_EXPIRY: PaymentExpirySweep,
}
