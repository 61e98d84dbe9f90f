"""Stock: given events, when a command, then events or an error; and the ledger always balances."""

from __future__ import annotations

from hypothesis import given as for_all
from hypothesis import strategies as st

from domain.commerce.stock import OutOfStockError, Stock, stock_id_for
from domain.errors import DomainError
from tests.spec import Stream, given


def opened(units: int | None = 5) -> tuple[Stream[Stock], list[Stock.Event]]:
    s = Stream(Stock, stock_id_for("p1", "A"))
    return s, [s.event(Stock.Opened, product_id="p1", sku="A", units=units)]


def balanced(stock: Stock) -> bool:
    return stock.sold + stock.units_held + stock.left == stock.stocked


def test_an_order_holds_what_it_reserves() -> None:
    _, history = opened(5)
    stock = given(*history).when(lambda s: s.reserve("o1", 3, "Tea")).then(
        (Stock.Reserved, {"order_id": "o1", "qty": 3}))
    assert stock.left == 2 and stock.held == {"o1": 3} and balanced(stock)


def test_more_than_is_left_is_refused_and_says_what_is_left() -> None:
    s, history = opened(5)
    history.append(s.event(Stock.Reserved, order_id="o1", qty=4))
    given(*history).when(lambda st_: st_.reserve("o2", 2, "Tea (100 g)")).then_error(
        OutOfStockError, match=r"only 1 of Tea \(100 g\) left")


def test_an_untracked_variant_sells_without_limit_and_records_nothing() -> None:
    _, history = opened(None)
    given(*history).when(lambda s: s.reserve("o1", 10_000, "Tea")).then()


def test_release_gives_back_only_what_the_order_holds_once() -> None:
    s, history = opened(5)
    history.append(s.event(Stock.Reserved, order_id="o1", qty=3))
    stock = given(*history).when(lambda st_: st_.release("o1", None, "cancelled")).then(
        (Stock.Released, {"qty": 3}))
    assert stock.left == 5 and balanced(stock)
    history.append(s.event(Stock.Released, order_id="o1", qty=3, reason="cancelled"))
    given(*history).when(lambda st_: st_.release("o1", None, "again")).then()
    given(*history).when(lambda st_: st_.release("o2", None, "never held")).then()


def test_a_lowered_quantity_releases_the_difference() -> None:
    s, history = opened(5)
    history.append(s.event(Stock.Reserved, order_id="o1", qty=3))
    stock = given(*history).when(lambda st_: st_.release("o1", 2, "modified")).then((Stock.Released, {"qty": 2}))
    assert stock.held == {"o1": 1} and stock.left == 4


def test_delivery_sells_and_a_restock_puts_returned_units_back_once() -> None:
    s, history = opened(5)
    history.append(s.event(Stock.Reserved, order_id="o1", qty=3))
    stock = given(*history).when(lambda st_: st_.sell("o1")).then((Stock.Sold, {"qty": 3}))
    assert stock.sold == 3 and stock.left == 2 and balanced(stock)
    history.append(s.event(Stock.Sold, order_id="o1", qty=3))
    stock = given(*history).when(lambda st_: st_.restock("return:r1", 1)).then((Stock.Restocked, {"qty": 1}))
    assert stock.sold == 2 and stock.left == 3 and balanced(stock)
    history.append(s.event(Stock.Restocked, reference="return:r1", qty=1))
    given(*history).when(lambda st_: st_.restock("return:r1", 1)).then()


def test_the_vendor_sets_the_level_and_the_ledger_follows() -> None:
    s, history = opened(5)
    history.append(s.event(Stock.Reserved, order_id="o1", qty=2))
    stock = given(*history).when(lambda st_: st_.set_level(10, by="vendor:v")).then((Stock.LevelSet, {"units": 10}))
    assert stock.left == 10 and stock.held == {"o1": 2} and stock.stocked == 12 and balanced(stock)
    given(*history).when(lambda st_: st_.set_level(3, by="v")).then()  # already 3 left: nothing to record
    given(*history).when(lambda st_: st_.set_level(-1, by="v")).then_error(DomainError)
    stock = given(*history).when(lambda st_: st_.set_level(None, by="v")).then((Stock.LevelSet, {"units": None}))
    assert not stock.tracked and stock.can_take(10**6) and balanced(stock)


OPS = st.lists(st.tuples(st.sampled_from(["reserve", "release", "lower", "sell", "restock", "level"]),
                         st.integers(0, 4), st.integers(0, 12)), max_size=40)


@for_all(opening=st.integers(0, 20), ops=OPS)
def test_the_ledger_balances_and_nothing_goes_negative(opening: int, ops: list[tuple[str, int, int]]) -> None:
    """sold + held + left == stocked after any sequence of commands; refused ones change nothing."""
    stock = Stock.open("p1", "A", opening)
    for op, order, n in ops:
        oid = f"o{order}"
        try:
            if op == "reserve":
                stock.reserve(oid, max(n, 1), "Tea")
            elif op == "release":
                stock.release(oid, None, "cancelled")
            elif op == "lower":
                stock.release(oid, n, "modified")
            elif op == "sell":
                stock.sell(oid)
            elif op == "restock":
                stock.restock(f"r{order}", n)
            else:
                stock.set_level(n, by="v")
        except OutOfStockError:
            pass
        assert balanced(stock)
        assert stock.left >= 0 and stock.sold >= 0 and all(q > 0 for q in stock.held.values())
    replayed = None
    for e in stock.collect_events():
        replayed = e.mutate(replayed)
    assert replayed is not None and (replayed.left, replayed.held, replayed.sold) == (stock.left, stock.held, stock.sold)
