"""Online payments, as the payments API and the payment policies report them: paid, failed,
refunded, or left unpaid past the window."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.actor import Actor, Role
from domain.commerce.order import InvalidTransitionError, Order, OrderRuleError
from domain.commerce.stock import OutOfStockError
from domain.commerce.use_cases.stock_keeping import StockKeeping
from domain.errors import ConflictError
from domain.saving import Saved, retry_on_conflict


class OrderNotPayableError(ConflictError, title="Order not payable"): ...


class PaymentCallbacks(StockKeeping):
    def payable_order(self, actor: Actor, order_id: UUID) -> Order:
        order = self.authorise(actor, order_id, as_=(Role.CUSTOMER,))
        if order.status not in ("awaiting_payment", "payment_failed"):
            raise OrderNotPayableError(f"order is {order.status}; only orders awaiting payment are paid")
        if order.status == "payment_failed":
            self._reserve(order.id, order.lines)  # its stock went back when the payment failed
        return order

    @retry_on_conflict
    def record_order_payment(self, order_id: UUID, payment_id: str, amount: int) -> bool:
        """False when the order cannot take this money (cancelled, already paid by another
        payment): the caller must give it back."""
        order = self._get(order_id, Order)
        if order is None:
            return False
        held: list[Aggregate] = []
        try:
            if order.status == "payment_failed" and payment_id not in order.payment_ids:
                held = self._reserve(order.id, order.lines)  # sold out meanwhile: give it back
            order.record_payment(payment_id, amount)
        except (InvalidTransitionError, OrderRuleError, OutOfStockError):
            return False
        self.save_all(order, *held)
        return True

    @retry_on_conflict
    def record_order_payment_failure(self, order_id: UUID, payment_id: str, reason: str) -> None:
        order = self._get(order_id, Order)
        if order is not None:
            order.record_payment_failure(payment_id, reason)
            released = self._release(order, "payment failed") if order.status == "payment_failed" else []
            self.save_all(order, *released)

    @retry_on_conflict
    def expire_unpaid_order(self, order_id: UUID) -> Saved[Order | None]:
        """An online order left unpaid past its window releases its stock (payment_failed)."""
        order = self._get(order_id, Order)
        if order is None or order.status != "awaiting_payment":
            return Saved(order, None)
        order.record_payment_failure("unpaid", "not paid in time")
        return Saved(order, self.save_all(order, *self._release(order, "not paid in time")))

    @retry_on_conflict
    def record_order_refund(self, order_id: UUID, amount: int, reference: str) -> None:
        order = self._get(order_id, Order)
        if order is not None:
            order.record_refund(amount, "provider", reference)
            self.save_all(order)
