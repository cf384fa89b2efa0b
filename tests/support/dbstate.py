"""Test helpers that read the database directly: whole-database snapshots and ledger sums."""
from sqlalchemy import func, select

from sweetshop.extensions import db
from sweetshop.models import StockMovement, Sweet


# The throttle's own bookkeeping: an attempt is counted before its input is judged (so refused
# input costs no hashing), which is not a change to the shop.
NOT_SHOP_STATE = {"throttle_counters"}


def snapshot(app):
    """Every row of every table of the shop, in primary-key order: equal snapshots mean nothing
    changed."""
    with app.app_context():
        state = {}
        for table in db.metadata.sorted_tables:
            if table.name in NOT_SHOP_STATE:
                continue
            rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            state[table.name] = [tuple(row) for row in rows]
        db.session.rollback()
        return state


def stock_and_ledger(app, sweet_id):
    """``(quantity, sum of ledger changes, ledger rows)`` of one sweet, read from the database."""
    with app.app_context():
        quantity = db.session.scalar(select(Sweet.quantity).where(Sweet.id == sweet_id))
        total, rows = db.session.execute(
            select(func.coalesce(func.sum(StockMovement.change), 0), func.count())
            .where(StockMovement.sweet_id == sweet_id)).one()
        db.session.rollback()
        return quantity, total, rows
