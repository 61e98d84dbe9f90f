"""Read models, each rebuildable from its application's log."""

from projections import (
    cart_view,
    catalog_search,
    notifications,
    offers,
    order_history,
    payments,
    rewards,
    stock_levels,
    support_tickets,
    wallet_balance,
    wallet_history,
)
from projections.read_model import ReadModel

READ_MODELS: dict[str, ReadModel] = {
    m.name: m for m in [cart_view.READ_MODEL, catalog_search.READ_MODEL, order_history.READ_MODEL,
                        payments.READ_MODEL, wallet_balance.READ_MODEL, wallet_history.READ_MODEL,
                        rewards.READ_MODEL, offers.READ_MODEL, support_tickets.READ_MODEL,
                        notifications.READ_MODEL, notifications.SUPPORT_READ_MODEL,
                        stock_levels.READ_MODEL]
}
