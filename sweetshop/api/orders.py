"""API orders: place a basket in one go, list and read orders, cancel one."""
from flask import current_app, g, url_for

from .. import inventory
from ..errors import OrderNotFoundError
from ..orders import get_order, list_orders
from ..rules import clean_new_order
from .blueprint import bp
from .http import auth_required, idempotency_key, iso, json_body, listed_user_id, paging


def order_json(order):
    return {
        "id": order.id, "user_id": order.user_id, "status": order.status,
        "created_at": iso(order.created_at),
        "cancelled_at": iso(order.cancelled_at) if order.cancelled_at else None,
        "total": float(order.total),
        "items": [{"sweet_id": item.sweet_id, "name": item.name, "quantity": item.quantity,
                   "unit_price": float(item.unit_price), "line_total": float(item.line_total)}
                  for item in order.items],
    }


@bp.post("/orders")
@auth_required()
def place_order():
    items = clean_new_order(json_body())
    order = inventory.place_order(g.user.id, items, idempotency_key=idempotency_key())
    return order_json(order), 201, {"Location": url_for(".read_order", order_id=order.id)}


@bp.get("/orders")
@auth_required()
def list_my_orders():
    skip, limit = paging()
    found = list_orders(user_id=listed_user_id(), skip=skip, limit=limit)
    return [order_json(order) for order in found]


@bp.get("/orders/<id:order_id>")
@auth_required()
def read_order(order_id):
    order = get_order(order_id)
    # Another customer's order is "not found": its existence is not theirs to learn.
    if order is None or not (g.user.is_admin or order.user_id == g.user.id):
        raise OrderNotFoundError()
    return order_json(order)


@bp.post("/orders/<id:order_id>/cancel")
@auth_required()
def cancel_order(order_id):
    order = inventory.cancel_order(order_id, g.user.id, g.user.is_admin,
                                   current_app.config["ORDER_CANCEL_WINDOW_SECONDS"])
    return order_json(order)
