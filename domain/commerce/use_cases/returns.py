"""Returns and refunds: returns asked for and decided, returned units restocked, and money
the order owes refunded to the wallet."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.actor import Actor, Role
from domain.commerce.order import Order, OrderRuleError, ReturnNotFoundError
from domain.commerce.rewards import POINT_VALUE
from domain.commerce.stock import Stock, stock_id_for
from domain.commerce.use_cases.base import CommerceBase
from domain.commerce.values import ReturnItemData
from domain.commerce.wallet import Wallet
from domain.saving import Saved, retry_on_conflict


class ReturnsAndRefunds(CommerceBase):
    @retry_on_conflict
    def request_order_return(self, actor: Actor, order_id: UUID, items: Sequence[ReturnItemData],
                             reason: str) -> Saved[Order]:
        order = self.authorise(actor, order_id, as_=(Role.CUSTOMER,))
        order.request_return(return_id=str(self.new_id()), items=items, reason=reason,
                             now=self.clock(), window=self.return_window)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def decide_order_return(self, actor: Actor, order_id: UUID, return_id: str, *, approved: bool,
                            note: str) -> Saved[Order]:
        """Approval refunds what was paid for the returned units to the customer's wallet, in
        the same save. The units do not go back on sale: only the shop's vendor, holding the
        goods, can say they are fit to sell (restock_return)."""
        order = self.authorise(actor, order_id)
        returned_before, listed_before = order.returned_goods, order.returned_subtotal
        due = order.decide_return(return_id, approved=approved, note=note, by=actor.role)
        changed: list[Aggregate] = [order]
        if order.returned_subtotal > listed_before:  # approved: its units came back
            ledger = self.ledger(UUID(order.customer_id))
            # First the points spent on these goods come back, then those they earned go.
            ledger.restore_return(str(order.id), f"return:{return_id}",
                                  subtotal=order.amounts["subtotal"], returned_before=listed_before,
                                  returned=order.returned_subtotal)
            spent = ledger.reverse_return(
                str(order.id), f"return:{return_id}",
                goods=order.amounts["subtotal"] - order.amounts["discount"],
                returned_before=returned_before, returned=order.returned_goods)
            changed.append(ledger)
            # Points the order earned on these goods and the customer has already spent are
            # paid for out of the refund: else returning the goods kept their value.
            recovered = min(spent * POINT_VALUE, due)
            if recovered:
                order.record_refund(recovered, "points", f"return:{return_id}:points")
            if due > recovered:
                wallet = self.wallet(UUID(order.customer_id))
                wallet.credit(due - recovered, kind="refund", reference=f"return:{return_id}")
                order.record_refund(due - recovered, "wallet", f"return:{return_id}")
                changed.append(wallet)
        return Saved(order, self.save_all(*changed))

    @retry_on_conflict
    def restock_return(self, actor: Actor, order_id: UUID, return_id: str) -> Saved[Order]:
        """The vendor has the returned goods back and can sell them again: an approved return's
        units go back on sale, once."""
        order = self.authorise(actor, order_id, as_=(Role.VENDOR, Role.ADMIN))
        ret = order.returns.get(return_id)
        if ret is None:
            raise ReturnNotFoundError(f"no return {return_id} on this order")
        if ret["state"] != "approved":
            raise OrderRuleError(f"only approved returns are restocked; this one is {ret['state']}")
        changed = self._restock(order, return_id)
        return Saved(order, self.save_all(*changed) if changed else None)

    def _restock(self, order: Order, return_id: str) -> list[Aggregate]:
        lines = {line.item_id: line for line in order.lines}
        changed: list[Aggregate] = []
        for item in order.returns[return_id]["items"]:
            line = lines[item["item_id"]]
            stock = self._get(stock_id_for(line.product_id, line.sku), Stock)
            if stock is not None:
                stock.restock(f"return:{return_id}:{item['item_id']}", item["quantity"])
                changed.append(stock)
        return changed

    @retry_on_conflict
    def refund_order_to_wallet(self, actor: Actor, order_id: UUID, amount: int,
                               reason: str) -> Saved[Wallet]:
        """Only money that reached the order and has not gone back, of a cancelled, rejected
        or returned order. Customers: wallet-paid orders. Staff also cash ones, with a reason.
        Online payments go back through the provider, never here: no double refunds."""
        order = self.authorise(actor, order_id, as_=(Role.CUSTOMER, Role.SUPPORT, Role.ADMIN))
        allowed_modes = ("wallet", "cash") if actor.is_staff else ("wallet",)
        if order.payment_mode not in allowed_modes:
            how = "through the provider" if order.payment_mode == "online" else "by support"
            raise OrderRuleError(f"{order.payment_mode} payments are refunded {how}")
        if actor.is_staff and not reason.strip():
            raise OrderRuleError("staff refunds need a reason", field="reason")
        if amount > order.owed:
            raise OrderRuleError(
                f"owed to the customer on this order: {order.owed} (cancellations, rejections, "
                "approved returns and modifications are refunded when they happen)", field="amount")
        wallet = self.wallet(UUID(order.customer_id))
        wallet.credit(amount, kind="refund", reference=f"order:{order.id}")
        order.record_refund(amount, "wallet", f"{actor.role}:{self.new_id()}:{reason}"[:200])
        return Saved(wallet, self.save_all(wallet, order))

    def _refund_to_wallet(self, order: Order, reference: str) -> list[Aggregate]:
        """Wallet-paid money the order owes goes straight back to the wallet, in the same save."""
        amount = order.owed
        if amount <= 0 or order.payment_mode != "wallet":
            return []
        wallet = self.wallet(UUID(order.customer_id))
        wallet.credit(amount, kind="refund", reference=str(order.id))
        order.record_refund(amount, "wallet", reference)
        return [wallet]
