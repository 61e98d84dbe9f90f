"""Order lifecycle after placement: cancel or reject, advance, modify, rate, and the order's
conversation and issues."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.actor import Actor, Role
from domain.commerce.order import Action, Order
from domain.commerce.use_cases.returns import ReturnsAndRefunds
from domain.commerce.use_cases.stock_keeping import StockKeeping
from domain.saving import Saved, retry_on_conflict


class OrderLifecycle(ReturnsAndRefunds, StockKeeping):
    @retry_on_conflict
    def cancel_order(self, actor: Actor, order_id: UUID, *, reason: str,
                     reject: bool = False) -> Saved[Order]:
        order = self.authorise(actor, order_id, as_=(Role.VENDOR, Role.ADMIN) if reject else None)
        order.cancel(by=actor.role, reason=reason, reject=reject)
        return Saved(order, self.save_all(order, *self._refund_to_wallet(order, f"{order.status}:{order.id}"),
                                          *self._give_back_discounts(order),
                                          *self._release(order, order.status)))

    def _give_back_discounts(self, order: Order) -> list[Aggregate]:
        """A cancelled order returns its coupon use and its points, in the same save."""
        changed: list[Aggregate] = []
        for d in order.discounts:
            if d["kind"] == "coupon":
                coupon = self.coupon(d["code"])
                coupon.release(str(order.id))
                changed.append(coupon)
            elif d["kind"] == "points":
                ledger = self.ledger(UUID(order.customer_id))
                ledger.restore(str(order.id))
                changed.append(ledger)
        return changed

    @retry_on_conflict
    def advance_order(self, actor: Actor, order_id: UUID, action: Action, note: str = "") -> Saved[Order]:
        # The customer confirms a modification; the shop and staff make every other move.
        order = self.authorise(actor, order_id, as_=(Role.CUSTOMER,) if action == Action.CONFIRM_MODIFIED
                               else (Role.VENDOR, Role.SUPPORT, Role.ADMIN, Role.AUDITOR))
        discount_before = order.amounts["discount"]
        order.advance(action, by=actor.role, note=note, at=self.clock())
        changed: list[Aggregate] = [order]
        if action == Action.CONFIRM_MODIFIED:
            changed += self._refund_to_wallet(order, f"modified:{order.id}:{order.version}")
            changed += self._release_unneeded(order, "order modified")
            if order.amounts["discount"] < discount_before:
                # The discount was cut to the smaller order's goods: the points that paid for
                # the cut part come back rather than being lost.
                ledger = self.ledger(UUID(order.customer_id))
                ledger.unspend(str(order.id), discount_before - order.amounts["discount"])
                changed.append(ledger)
        if action == Action.DELIVER:
            changed += self._sell(order)
            ledger = self.ledger(UUID(order.customer_id))
            goods = order.amounts["subtotal"] - order.amounts["discount"]
            ledger.earn(str(order.id), goods // 100 * self.points_per_100)
            changed.append(ledger)
        return Saved(order, self.save_all(*changed))

    @retry_on_conflict
    def modify_order(self, actor: Actor, order_id: UUID, quantities: dict[str, int],
                     note: str = "") -> Saved[Order]:
        order = self.authorise(actor, order_id, as_=(Role.VENDOR, Role.ADMIN))
        order.modify(by=actor.role, quantities=quantities, note=note)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def rate_order(self, actor: Actor, order_id: UUID, rating: int, comment: str) -> Saved[Order]:
        order = self.authorise(actor, order_id, as_=(Role.CUSTOMER,))
        order.rate(rating, comment)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def post_order_message(self, actor: Actor, order_id: UUID, text: str) -> Saved[Order]:
        order = self.authorise(actor, order_id)
        order.post_message(message_id=str(self.new_id()), sender_id=actor.user_id,
                           sender_role=actor.role, text=text)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def raise_order_issue(self, actor: Actor, order_id: UUID, category: str,
                          description: str) -> Saved[Order]:
        order = self.authorise(actor, order_id, as_=(Role.CUSTOMER,))
        order.raise_issue(issue_id=str(self.new_id()), category=category, description=description)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def resolve_order_issue(self, actor: Actor, order_id: UUID, issue_id: str,
                            resolution: str) -> Saved[Order]:
        order = self.authorise(actor, order_id)
        order.resolve_issue(issue_id, resolution=resolution, by=actor.role)
        return Saved(order, self.save_all(order))
