"""Benchmark-only reference endpoints for the purchase path; never part of the shop.

``bare`` (…/purchase): a bearer-token lookup and the conditional UPDATE, nothing else
(no ledger, no validation): the floor the real endpoint is measured against.
``for_update`` (…/purchase-for-update): the earlier backend's design, ``SELECT ... FOR
UPDATE`` then an UPDATE of the value computed in Python, plus the ledger row.
``lean`` (…/purchase-lean): Sweetshop's SQL (the conditional UPDATE and the ledger row
in one statement) in the same lean code as ``for_update``, so the two differ only in
the locking design.

They read the shop's own production settings the way the shop does (environment
``DATABASE_URL`` and ``SWEETSHOP_<NAME>``: the database URL, engine options, POOL_PRE_PING),
so the only difference from Sweetshop is the code on the path. Serve with
``granian --interface wsgi bench.reference:app`` (the bench's harness sets the environment).
"""
import hashlib
import os
from datetime import datetime, timezone

from flask import Flask, request
from sqlalchemy import create_engine, text

import config

TOKEN_USER = text("SELECT user_id FROM api_tokens WHERE token_hash = :digest AND expires_at > :now")
CONDITIONAL_UPDATE = text(
    "UPDATE sweets SET quantity = quantity - :n, updated_at = :now "
    "WHERE id = :id AND quantity >= :n AND archived_at IS NULL "
    "RETURNING id, name, category, price, quantity")
LOCK_ROW = text("SELECT name, category, price, quantity FROM sweets "
                "WHERE id = :id AND archived_at IS NULL FOR UPDATE")
SET_QUANTITY = text("UPDATE sweets SET quantity = :quantity, updated_at = :now WHERE id = :id")
SALE_WITH_LEDGER_ROW = text(
    "WITH sold AS (UPDATE sweets SET quantity = quantity - :n, updated_at = :now "
    "  WHERE id = :id AND quantity >= :n AND archived_at IS NULL "
    "  RETURNING id, name, category, price, quantity), "
    "ledger AS (INSERT INTO stock_movements "
    "  (sweet_id, kind, change, balance, user_id, unit_price, created_at) "
    "  SELECT id, 'purchase', -:n, quantity, :user_id, price, :now FROM sold) "
    "SELECT id, name, category, price, quantity FROM sold")
LEDGER_ROW = text(
    "INSERT INTO stock_movements (sweet_id, kind, change, balance, user_id, unit_price, created_at) "
    "VALUES (:id, 'purchase', -:n, :balance, :user_id, :price, :now)")


def _quantity():
    body = request.get_json(silent=True)
    return body.get("quantity", 1) if isinstance(body, dict) else 1


def _token_user(conn, now):
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    digest = hashlib.sha256(token.encode()).hexdigest()
    return conn.execute(TOKEN_USER, {"digest": digest, "now": now}).scalar()


def _sweet(id_, name, category, price, quantity):
    return {"id": id_, "name": name, "category": category, "price": float(price),
            "quantity": quantity}


def engine_for(url=None):
    """An engine made as the shop makes its own, on ``url`` or the environment's DATABASE_URL."""
    settings = Flask(__name__).config
    config.load(settings)  # the shop's settings, read from the environment as the shop reads them
    options = {**settings["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": bool(settings["POOL_PRE_PING"])}
    return create_engine(config.database_url(url or os.environ["DATABASE_URL"]), **options)


engine = engine_for()
app = Flask(__name__)


@app.get("/api/health")
def health():
    """For the harness's start-up check, as the shop's own."""
    return {"status": "ok"}


@app.post("/api/sweets/<int:sweet_id>/purchase")
def bare(sweet_id):
    n, now = _quantity(), datetime.now(timezone.utc)
    with engine.begin() as conn:
        if _token_user(conn, now) is None:
            return {"detail": "Could not validate credentials"}, 401
        row = conn.execute(CONDITIONAL_UPDATE, {"id": sweet_id, "n": n, "now": now}).first()
    if row is None:
        return {"detail": "Out of stock"}, 400
    return _sweet(*row)


@app.post("/api/sweets/<int:sweet_id>/purchase-for-update")
def for_update(sweet_id):
    n, now = _quantity(), datetime.now(timezone.utc)
    with engine.begin() as conn:
        user_id = _token_user(conn, now)
        if user_id is None:
            return {"detail": "Could not validate credentials"}, 401
        row = conn.execute(LOCK_ROW, {"id": sweet_id}).first()
        if row is None or row.quantity < n:
            return {"detail": "Out of stock"}, 400
        balance = row.quantity - n
        conn.execute(SET_QUANTITY, {"id": sweet_id, "quantity": balance, "now": now})
        conn.execute(LEDGER_ROW, {"id": sweet_id, "n": n, "balance": balance,
                                  "user_id": user_id, "price": row.price, "now": now})
    return _sweet(sweet_id, row.name, row.category, row.price, balance)


@app.post("/api/sweets/<int:sweet_id>/purchase-lean")
def lean(sweet_id):
    n, now = _quantity(), datetime.now(timezone.utc)
    with engine.begin() as conn:
        user_id = _token_user(conn, now)
        if user_id is None:
            return {"detail": "Could not validate credentials"}, 401
        row = conn.execute(SALE_WITH_LEDGER_ROW,
                           {"id": sweet_id, "n": n, "user_id": user_id, "now": now}).first()
    if row is None:
        return {"detail": "Out of stock"}, 400
    return _sweet(*row)
