"""An order: what was bought from which shop, for how much, and where it is in its life.

The state machine (also in the README):

    awaiting_payment --pay--> pending            (online payment: /v1/checkouts then /v1/payments)
    awaiting_payment --payment_failed--> payment_failed --pay--> pending
    pending --accept--> accepted --pack--> packed --dispatch--> out_for_delivery --deliver--> delivered
    pending --modify--> modified --confirm_modified--> accepted      (vendor proposes, consumer agrees)
    pending|modified --reject--> rejected                             (vendor; refunds what was paid)
    awaiting_payment|payment_failed|pending|modified|accepted|packed --cancel--> cancelled

Anything else is an InvalidTransitionError naming the current state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal, NotRequired, TypedDict
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.commerce.pricing import unit_prices_paid
from domain.commerce.values import (
    AddressData,
    AddressRefData,
    Amounts,
    DeliveryAddress,
    DeliveryAddressRef,
    DiscountData,
    Line,
    OrderLine,
    OrderLineData,
    ReturnItemData,
    address_from_data,
)
from domain.errors import ConflictError, DomainError, NotFoundError
from domain.snapshots import TypedSnapshot


class OrderStatus(StrEnum):
    """Stored in events as their plain string values (a StrEnum is a str)."""

    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_FAILED = "payment_failed"
    PENDING = "pending"
    MODIFIED = "modified"
    ACCEPTED = "accepted"
    PACKED = "packed"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class PaymentMode(StrEnum):
    CASH = "cash"
    WALLET = "wallet"
    ONLINE = "online"


class IssueCategory(StrEnum):
    MISSING_ITEM = "missing_item"
    DAMAGED_ITEM = "damaged_item"
    WRONG_ITEM = "wrong_item"
    LATE_DELIVERY = "late_delivery"
    PAYMENT = "payment"
    QUALITY = "quality"
    OTHER = "other"


class Action(StrEnum):
    """What moves an order from one status to the next; stored in StatusChanged as the value."""

    PAY = "pay"
    PAYMENT_FAILED = "payment_failed"
    ACCEPT = "accept"
    REJECT = "reject"
    MODIFY = "modify"
    CONFIRM_MODIFIED = "confirm_modified"
    PACK = "pack"
    DISPATCH = "dispatch"
    DELIVER = "deliver"
    CANCEL = "cancel"


# The moves `advance` makes; the others have commands of their own (pay, modify, cancel...).
ADVANCES = frozenset({Action.ACCEPT, Action.PACK, Action.DISPATCH, Action.DELIVER,
                      Action.CONFIRM_MODIFIED})

S, A = OrderStatus, Action
TRANSITIONS: dict[OrderStatus, dict[Action, OrderStatus]] = {
    S.AWAITING_PAYMENT: {A.PAY: S.PENDING, A.PAYMENT_FAILED: S.PAYMENT_FAILED, A.CANCEL: S.CANCELLED},
    S.PAYMENT_FAILED: {A.PAY: S.PENDING, A.CANCEL: S.CANCELLED},
    S.PENDING: {A.ACCEPT: S.ACCEPTED, A.REJECT: S.REJECTED, A.MODIFY: S.MODIFIED, A.CANCEL: S.CANCELLED},
    S.MODIFIED: {A.CONFIRM_MODIFIED: S.ACCEPTED, A.MODIFY: S.MODIFIED, A.REJECT: S.REJECTED,
                 A.CANCEL: S.CANCELLED},
    S.ACCEPTED: {A.PACK: S.PACKED, A.CANCEL: S.CANCELLED},
    S.PACKED: {A.DISPATCH: S.OUT_FOR_DELIVERY, A.CANCEL: S.CANCELLED},
    S.OUT_FOR_DELIVERY: {A.DELIVER: S.DELIVERED},
    S.DELIVERED: {},
    S.CANCELLED: {},
    S.REJECTED: {},
}
STATES = tuple(OrderStatus)
PAYMENT_MODES = tuple(PaymentMode)
ISSUE_CATEGORIES = tuple(IssueCategory)
RETURN_WINDOW = timedelta(days=7)
# An online order nobody pays stops holding stock after this long (a payment may still come:
# it takes the stock again, or goes back when the stock is gone).
UNPAID_ORDER_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class Proposal:
    """A vendor's modification waiting for the customer's confirmation."""

    lines: tuple[OrderLine, ...]
    amounts: Amounts


class ReturnState(TypedDict):
    items: list[ReturnItemData]
    amount: int  # paid for these units, when asked
    state: Literal["requested", "approved", "rejected"]
    refund: NotRequired[int]  # owed back on approval


class OrderNotFoundError(NotFoundError, title="Order not found"): ...


class InvalidTransitionError(DomainError, title="Invalid order state"): ...


class OrderRuleError(DomainError, title="Order rule violated"): ...


class IssueNotFoundError(NotFoundError, title="Issue not found"): ...


class ReturnNotFoundError(NotFoundError, title="Return not found"): ...


class AlreadyRatedError(ConflictError, title="Already rated"): ...


def totals(lines: Sequence[Line], delivery_fee: int, discount: int) -> Amounts:
    subtotal = sum(line.qty * line.unit_price for line in lines)
    discount = min(discount, subtotal)
    return Amounts(subtotal=subtotal, delivery_fee=delivery_fee, discount=discount,
                   total=subtotal + delivery_fee - discount)


class Order(Aggregate):
    # Orders are snapshotted (CommerceApplication): their snapshots restore these as enums.
    Snapshot = TypedSnapshot
    snapshot_enums: ClassVar[Mapping[str, type[StrEnum]]] = {
        "status": OrderStatus, "payment_mode": PaymentMode}

    class Placed(Aggregate.Created):
        customer_id: str
        shop_id: str | None
        lines: list[OrderLineData]
        currency: str
        amounts: Amounts
        payment_mode: str
        delivery_notes: str
        address: AddressData | AddressRefData | None
        status: str
        discounts: list[DiscountData]

    class Paid(Aggregate.Event):
        payment_id: str
        amount: int

    class PaymentFailed(Aggregate.Event):
        payment_id: str
        reason: str

    class StatusChanged(Aggregate.Event):
        action: str
        status: str
        by: str
        note: str
        at: datetime  # business time, from the injected clock

    class Modified(Aggregate.Event):
        by: str
        lines: list[OrderLineData]
        amounts: Amounts
        note: str

    class Cancelled(Aggregate.Event):
        by: str
        reason: str
        status: str  # cancelled or rejected
        refund_due: int

    class RefundDue(Aggregate.Event):
        """Money paid online is owed back; the refund policy asks the provider."""
        amount: int
        payment_id: str
        reason: str

    class Refunded(Aggregate.Event):
        amount: int
        method: str
        reference: str

    class MessagePosted(Aggregate.Event):
        message_id: str
        sender_id: str
        sender_role: str
        text: str

    class IssueRaised(Aggregate.Event):
        issue_id: str
        category: str
        description: str

    class IssueResolved(Aggregate.Event):
        issue_id: str
        resolution: str
        by: str

    class ReturnRequested(Aggregate.Event):
        return_id: str
        items: list[ReturnItemData]
        reason: str
        amount: int

    class ReturnDecided(Aggregate.Event):
        class_version = 2
        return_id: str
        approved: bool
        note: str
        by: str
        refund: int | None  # what approval owes the customer; None: rejected (or v1)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 did not say; the fold falls back to the requested amount, capped.
            state["refund"] = None

    class Rated(Aggregate.Event):
        shop_id: str | None  # so the shop-rating policy needs nothing else
        rating: int
        comment: str

    @event(Placed)
    def __init__(
        self,
        customer_id: str,
        shop_id: str | None,
        lines: list[OrderLineData],
        currency: str,
        amounts: Amounts,
        payment_mode: str,
        delivery_notes: str,
        address: AddressData | AddressRefData | None,
        status: str,
        discounts: list[DiscountData],
    ) -> None:
        self.discounts: list[DiscountData] = [d.copy() for d in discounts]
        self.customer_id = customer_id
        self.shop_id = shop_id
        self.lines = [OrderLine.from_data(line) for line in lines]
        self.currency = currency
        self.amounts = amounts.copy()
        self.payment_mode = PaymentMode(payment_mode)
        self.delivery_notes = delivery_notes
        self.address = address_from_data(address) if address is not None else None
        self.status = OrderStatus(status)
        self.paid = 0
        self.refunded = 0
        self.owed = 0  # due back to the customer and not refunded yet; refunds draw from it
        self.returned: dict[str, int] = {}  # order line -> units returned (approved)
        self.payment_ids: list[str] = []
        self.refund_references: set[str] = set()
        self.proposed: Proposal | None = None
        self.rating: int | None = None
        self.delivered_at: datetime | None = None
        self.issues: dict[str, str] = {}  # issue id -> open | resolved
        self.returns: dict[str, ReturnState] = {}

    @classmethod
    def place(
        cls,
        *,
        customer_id: str,
        shop_id: str | None,
        lines: Sequence[OrderLine],
        currency: str,
        delivery_fee: int,
        discount: int,
        payment_mode: str,
        delivery_notes: str = "",
        address: DeliveryAddress | DeliveryAddressRef | None = None,
        order_id: UUID | None = None,
        discounts: list[DiscountData] | None = None,
    ) -> Order:
        if not lines:
            raise OrderRuleError("an order needs at least one item")
        if payment_mode not in PAYMENT_MODES:
            raise OrderRuleError(f"payment_mode must be one of {', '.join(PAYMENT_MODES)}",
                                 field="payment_mode")
        priced = [line.with_qty(line.qty) for line in lines]  # line totals from the prices
        status = S.AWAITING_PAYMENT if payment_mode == PaymentMode.ONLINE else S.PENDING
        return cls._create(
            cls.Placed, id=order_id or uuid4(), customer_id=customer_id, shop_id=shop_id,
            lines=[line.as_data() for line in priced], currency=currency,
            amounts=totals(priced, delivery_fee, discount), payment_mode=payment_mode,
            delivery_notes=delivery_notes, address=address.as_data() if address else None,
            status=status, discounts=discounts or [],
        )

    @property
    def total(self) -> int:
        return self.amounts["total"]

    @property
    def refundable(self) -> int:
        """What a refund may draw now: only what the history says is owed."""
        return self.owed

    @property
    def unowed(self) -> int:
        """Paid and neither refunded nor owed: the most a new debt to the customer can be."""
        return max(0, self.paid - self.refunded - self.owed)

    def _owe(self, amount: int) -> int:
        amount = max(0, min(amount, self.unowed))
        self.owed += amount
        return amount

    def _check(self, action: Action) -> OrderStatus:
        allowed = TRANSITIONS[self.status]
        if action not in allowed:
            can = ", ".join(allowed) or "nothing (final state)"
            raise InvalidTransitionError(
                f"cannot {action.replace('_', ' ')} an order that is {self.status}; "
                f"it can: {can}", field="status")
        return allowed[action]

    # Payment

    def record_payment(self, payment_id: str, amount: int) -> None:
        """Idempotent per payment: the payment policy may deliver the same success twice."""
        if payment_id in self.payment_ids:
            return
        self._check(A.PAY)
        if amount != self.total:
            raise OrderRuleError(f"payment of {amount} does not match the total {self.total}")
        self._paid(payment_id=payment_id, amount=amount)

    @event(Paid)
    def _paid(self, payment_id: str, amount: int) -> None:
        self.payment_ids.append(payment_id)
        self.paid += amount
        # Online orders wait for payment; wallet orders are paid while already pending.
        self.status = TRANSITIONS[self.status].get(A.PAY, self.status)

    def record_payment_failure(self, payment_id: str, reason: str) -> None:
        if payment_id in self.payment_ids or A.PAYMENT_FAILED not in TRANSITIONS[self.status]:
            return  # paid meanwhile by another attempt, or already failed: nothing to record
        self._payment_failed(payment_id=payment_id, reason=reason)

    @event(PaymentFailed)
    def _payment_failed(self, payment_id: str, reason: str) -> None:
        self.status = S.PAYMENT_FAILED

    def mark_wallet_paid(self) -> None:
        """Wallet orders are paid at placement, in the same transaction as the debit."""
        if self.payment_mode != PaymentMode.WALLET or self.paid:
            raise OrderRuleError("only an unpaid wallet order is paid from the wallet")
        self._paid(payment_id=f"wallet:{self.id}", amount=self.total)

    # Fulfilment

    def advance(self, action: Action, *, by: str, at: datetime, note: str = "") -> None:
        if action not in ADVANCES:
            raise OrderRuleError(f"unknown action {str(action)!r}")
        if action == A.CONFIRM_MODIFIED and self.status != S.MODIFIED:
            raise OrderRuleError("there is no modification to confirm")
        status = self._check(action)
        owed_before = self.owed
        self._status_changed(action=action, status=status, by=by, note=note, at=at)
        if self.owed > owed_before:
            self._owe_online(self.owed - owed_before, "order modified")
        if action == A.DELIVER and self.payment_mode == PaymentMode.CASH and not self.paid:
            # Cash changes hands at the door: from now on it is refundable (returns).
            self._paid(payment_id=f"cash:{self.id}", amount=self.total)

    @event(StatusChanged)
    def _status_changed(self, action: str, status: str, by: str, note: str, at: datetime) -> None:
        self.status = OrderStatus(status)
        if status == S.DELIVERED:
            self.delivered_at = at
        if action == A.CONFIRM_MODIFIED and self.proposed is not None:
            before = self.total
            self.lines = list(self.proposed.lines)
            self.amounts = self.proposed.amounts.copy()
            self.proposed = None
            if self.paid:
                self._owe(before - self.total)  # the difference, once

    def modify(self, *, by: str, quantities: dict[str, int], note: str = "") -> None:
        """The vendor changes quantities (0 removes a line) before accepting; the consumer
        must confirm. Only lowering is allowed: the consumer agreed to at most this much. The
        delivery fee agreed at placement stays: a shop's shortage must not cost the customer."""
        self._check(A.MODIFY)
        current = {line.item_id: line for line in self.lines}
        unknown = set(quantities) - set(current)
        if unknown:
            raise OrderRuleError(f"no such order lines: {', '.join(sorted(unknown))}")
        lines = []
        for item_id, line in current.items():
            qty = quantities.get(item_id, line.qty)
            if qty < 0 or qty > line.qty:
                raise OrderRuleError("a modification may only lower quantities", field="quantity")
            if qty:
                lines.append(line.with_qty(qty))
        if not lines:
            raise OrderRuleError("a modification cannot remove every line; reject the order instead")
        if lines == self.lines:
            raise OrderRuleError("the modification changes nothing")
        amounts = totals(lines, self.amounts["delivery_fee"], self.amounts["discount"])
        self._modified(by=by, lines=[line.as_data() for line in lines], amounts=amounts, note=note)

    @event(Modified)
    def _modified(self, by: str, lines: list[OrderLineData], amounts: Amounts, note: str) -> None:
        self.status = S.MODIFIED
        self.proposed = Proposal(lines=tuple(OrderLine.from_data(line) for line in lines),
                                 amounts=amounts)

    def cancel(self, *, by: str, reason: str, reject: bool = False) -> int:
        """Cancels (or, for the vendor, rejects); returns the amount now due back."""
        status = self._check(A.REJECT if reject else A.CANCEL)
        due = self.unowed  # a debt already owed (a modification's difference) is not owed twice
        self._cancelled(by=by, reason=reason, status=status, refund_due=due)
        self._owe_online(due, status)
        return due

    def _owe_online(self, amount: int, reason: str) -> None:
        """Online payments come back through the provider (wallet ones in the same save)."""
        if amount > 0 and self.payment_mode == PaymentMode.ONLINE and self.payment_ids:
            self._refund_due(amount=amount, payment_id=self.payment_ids[-1], reason=reason)

    @event(RefundDue)
    def _refund_due(self, amount: int, payment_id: str, reason: str) -> None:
        pass

    @event(Cancelled)
    def _cancelled(self, by: str, reason: str, status: str, refund_due: int) -> None:
        self.status = OrderStatus(status)
        self._owe(refund_due)  # everything paid and not yet given back

    def record_refund(self, amount: int, method: str, reference: str) -> None:
        if reference in self.refund_references:
            return  # the same refund reported again
        if amount <= 0 or amount > self.owed:
            raise OrderRuleError(f"owed to the customer on this order now: {self.owed}", field="amount")
        self._refunded(amount=amount, method=method, reference=reference)

    @event(Refunded)
    def _refunded(self, amount: int, method: str, reference: str) -> None:
        self.refunded += amount
        # Histories written before refunds drew from `owed` may hold more: never below zero.
        self.owed = max(0, self.owed - amount)
        self.refund_references.add(reference)

    # Conversation, issues, returns

    def post_message(self, *, message_id: str, sender_id: str, sender_role: str, text: str) -> None:
        text = text.strip()
        if not 1 <= len(text) <= 2000:
            raise OrderRuleError("a message is 1 to 2000 characters", field="text")
        self._message_posted(message_id=message_id, sender_id=sender_id, sender_role=sender_role,
                             text=text)

    @event(MessagePosted)
    def _message_posted(self, message_id: str, sender_id: str, sender_role: str, text: str) -> None:
        pass

    def raise_issue(self, *, issue_id: str, category: str, description: str) -> None:
        if category not in ISSUE_CATEGORIES:
            raise OrderRuleError(f"category must be one of {', '.join(ISSUE_CATEGORIES)}",
                                 field="category")
        if list(self.issues.values()).count("open") >= 3:
            raise OrderRuleError("this order already has 3 open issues; support is on them")
        self._issue_raised(issue_id=issue_id, category=category, description=description)

    @event(IssueRaised)
    def _issue_raised(self, issue_id: str, category: str, description: str) -> None:
        self.issues[issue_id] = "open"

    def resolve_issue(self, issue_id: str, *, resolution: str, by: str) -> None:
        if issue_id not in self.issues:
            raise IssueNotFoundError(f"no issue {issue_id} on this order")
        if self.issues[issue_id] != "open":
            raise OrderRuleError("this issue is already resolved")
        self._issue_resolved(issue_id=issue_id, resolution=resolution, by=by)

    @event(IssueResolved)
    def _issue_resolved(self, issue_id: str, resolution: str, by: str) -> None:
        self.issues[issue_id] = "resolved"

    def returnable(self) -> dict[str, int]:
        """Per order line, how many may still be returned (open and approved returns count)."""
        out = {line.item_id: line.qty for line in self.lines}
        for ret in self.returns.values():
            if ret["state"] != "rejected":
                for item in ret["items"]:
                    out[item["item_id"]] -= item["quantity"]
        return out

    def request_return(self, *, return_id: str, items: Sequence[ReturnItemData], reason: str,
                       now: datetime, window: timedelta = RETURN_WINDOW) -> int:
        """Returns the amount that approval would refund."""
        if self.status != S.DELIVERED or self.delivered_at is None:
            raise OrderRuleError(f"only delivered orders can be returned; this one is {self.status}")
        if now - self.delivered_at > window:
            raise OrderRuleError(f"the return window ({window.days} days after delivery) has closed")
        if not items:
            raise OrderRuleError("name at least one item to return", field="items")
        left = self.returnable()
        wanted: dict[str, int] = {}
        for item in items:
            wanted[item["item_id"]] = wanted.get(item["item_id"], 0) + item["quantity"]
        for item_id, qty in wanted.items():
            if item_id not in left:
                raise OrderRuleError(f"no order line {item_id}", field="items")
            if qty < 1 or qty > left[item_id]:
                raise OrderRuleError(f"at most {left[item_id]} of {item_id} can be returned",
                                     field="items")
        amount = self._paid_for(wanted)
        self._return_requested(return_id=return_id,
                               items=[ReturnItemData(item_id=i, quantity=q) for i, q in wanted.items()],
                               reason=reason, amount=amount)
        return amount

    @event(ReturnRequested)
    def _return_requested(self, return_id: str, items: list[ReturnItemData], reason: str,
                          amount: int) -> None:
        self.returns[return_id] = {"items": items, "amount": amount, "state": "requested"}

    @property
    def returned_goods(self) -> int:
        """What was paid for every unit of the approved returns so far: its share of the
        goods' cost after discounts (the sum over all units is `subtotal - discount`)."""
        shares = unit_prices_paid(self.lines, self.amounts["discount"])
        return sum(sum(shares[item_id][:qty]) for item_id, qty in self.returned.items())

    @property
    def returned_subtotal(self) -> int:
        """The list value (before discounts) of every unit of the approved returns so far."""
        prices = {line.item_id: line.unit_price for line in self.lines}
        return sum(prices[item_id] * qty for item_id, qty in self.returned.items())

    def _paid_for(self, units: dict[str, int]) -> int:
        """What was paid for these units: their share after discounts (pricing.unit_prices_paid),
        taking each line's next units after those already returned, so that returning every
        unit of an order refunds exactly what its goods cost."""
        shares = unit_prices_paid(self.lines, self.amounts["discount"])
        total = 0
        for item_id, qty in units.items():
            start = self.returned.get(item_id, 0)
            total += sum(shares[item_id][start:start + qty])
        return total

    def decide_return(self, return_id: str, *, approved: bool, note: str, by: str) -> int:
        """Returns the amount now owed back (approval), else 0."""
        ret = self.returns.get(return_id)
        if ret is None:
            raise ReturnNotFoundError(f"no return {return_id} on this order")
        if ret["state"] != "requested":
            raise OrderRuleError(f"this return was already {ret['state']}")
        refund = None
        if approved:
            units = {item["item_id"]: item["quantity"] for item in ret["items"]}
            refund = min(self._paid_for(units), self.unowed)
        self._return_decided(return_id=return_id, approved=approved, note=note, by=by, refund=refund)
        return refund or 0

    @event(ReturnDecided)
    def _return_decided(self, return_id: str, approved: bool, note: str, by: str,
                        refund: int | None) -> None:
        ret = self.returns[return_id]
        ret["state"] = "approved" if approved else "rejected"
        if approved:
            for item in ret["items"]:
                self.returned[item["item_id"]] = self.returned.get(item["item_id"], 0) + item["quantity"]
            ret["refund"] = self._owe(ret["amount"] if refund is None else refund)

    def rate(self, rating: int, comment: str) -> None:
        if self.status != S.DELIVERED:
            raise OrderRuleError(f"only delivered orders can be rated; this one is {self.status}")
        if self.rating is not None:
            raise AlreadyRatedError("this order was already rated")
        if not 1 <= rating <= 5:
            raise OrderRuleError("rating must be 1 to 5", field="rating")
        self._rated(shop_id=self.shop_id, rating=rating, comment=comment)

    @event(Rated)
    def _rated(self, shop_id: str | None, rating: int, comment: str) -> None:
        self.rating = rating
