"""API orders: place a basket in one go, list and read orders, cancel one; staff mark one ready
or collected and read the pick list."""
from flask import current_app, g, request, url_for

from .. import orders
from ..errors import OrderNotFoundError, ValidationError
from ..rules import clean_new_order, clean_order_status
from .blueprint import bp
from .http import auth_required, idempotency_key, iso, json_body, listed_user_id, paging


def order_json(order):
    return {
        "id": order.id, "user_id": order.user_id, "status": order.status,
        "created_at": iso(order.created_at),
        "cancelled_at": iso(order.cancelled_at) if order.cancelled_at else None,
        "ready_at": iso(order.ready_at) if order.ready_at else None,
        "collected_at": iso(order.collected_at) if order.collected_at else None,
        "total": float(order.total),
        "items": [{"sweet_id": item.sweet_id, "name": item.name, "quantity": item.quantity,
                   "unit_price": float(item.unit_price), "line_total": float(item.line_total)}
                  for item in order.items],
    }


@bp.post("/orders")
@auth_required()
def place_order():
    items = clean_new_order(json_body())
    order = orders.place_order(g.user.id, items, idempotency_key=idempotency_key())
    return order_json(order), 201, {"Location": url_for(".read_order", order_id=order.id)}


@bp.get("/orders")
@auth_required()
def list_my_orders():
    skip, limit = paging()
    try:
        status = clean_order_status(request.args.get("status"))
    except ValueError as error:
        raise ValidationError({"status": [str(error)]}) from None
    found = orders.list_orders(user_id=listed_user_id(), status=status, skip=skip, limit=limit)
    return [order_json(order) for order in found]


@bp.get("/orders/pick-list")
@auth_required(admin=True)
def pick_list():
    return {"sweets": [{"sweet_id": line.sweet_id, "name": line.name, "units": line.units,
                        "orders": line.orders} for line in orders.pick_list()]}


@bp.get("/orders/<id:order_id>")
@auth_required()
def read_order(order_id):
    order = orders.get_order(order_id)
    # Another customer's order is "not found": its existence is not theirs to learn.
    if order is None or not (g.user.is_admin or order.user_id == g.user.id):
        raise OrderNotFoundError()
    return order_json(order)


@bp.post("/orders/<id:order_id>/cancel")
@auth_required()
def cancel_order(order_id):
    order = orders.cancel_order(order_id, g.user.id, g.user.is_admin,
                                current_app.config["ORDER_CANCEL_WINDOW_SECONDS"])
    return order_json(order)


@bp.post("/orders/<id:order_id>/ready")
@auth_required(admin=True)
def mark_ready(order_id):
    return order_json(orders.mark_ready(order_id, g.user.id))


@bp.post("/orders/<id:order_id>/collect")
@auth_required(admin=True)
def mark_collected(order_id):
    return order_json(orders.mark_collected(order_id, g.user.id))
