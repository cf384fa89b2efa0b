"""The customer's order pages: a receipt, "My orders", cancelling (after a confirmation) within the window."""
from datetime import datetime, timedelta, timezone

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import catalog, orders
from ..errors import CancelWindowClosedError, OrderNotFoundError, OrderStepRefusedError
from ..forms import ConfirmForm
from ..security import safe_next
from .views import bp


def cancel_deadline(order):
    """Until when the customer may cancel ``order`` themselves (admins may at any time)."""
    return order.created_at + timedelta(seconds=current_app.config["ORDER_CANCEL_WINDOW_SECONDS"])


def may_cancel(order):
    """Whether the current user gets a "Cancel" button; the domain decides again on the POST."""
    if not order.is_open:
        return False
    return current_user.is_admin or datetime.now(timezone.utc) < cancel_deadline(order)


def _visible_order(order_id):
    """The order if the current user may see it.

    :raise 404: no such order, or another customer's (not 403: that would say it exists).
    """
    order = orders.get_order(order_id)
    if order is None or (order.user_id != current_user.id and not current_user.is_admin):
        abort(404)
    return order


@bp.app_context_processor
def order_helpers():
    return {"may_cancel": may_cancel, "cancel_deadline": cancel_deadline}


@bp.get("/orders/<id:order_id>")
@login_required
def receipt(order_id):
    return _receipt(_visible_order(order_id))


def _receipt(order, status=200):
    return render_template("shop/receipt.html", order=order), status


@bp.get("/orders")
@login_required
def my_orders():
    size = current_app.config["ORDERS_PAGE_SIZE"]
    total = orders.count_orders(user_id=current_user.id)
    pages = max(1, -(-total // size))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    shown = orders.list_orders(user_id=current_user.id, skip=(page - 1) * size, limit=size)
    here = url_for(".my_orders", page=page) if page > 1 else url_for(".my_orders")
    # Purchases made one sweet at a time (before the basket, or by API scripts) are no orders,
    # but they are the customer's history too: the latest are listed under the first page.
    singles = catalog.single_purchases(current_user.id) if page == 1 else []
    return render_template("shop/orders.html", orders=shown, total=total, page=page, pages=pages,
                           page_url=lambda number: url_for(".my_orders", page=number),
                           singles=singles, here=here)


@bp.get("/orders/<id:order_id>/cancel")
@login_required
def confirm_cancel(order_id):
    """Ask before cancelling (the page works without JavaScript); ``next`` is where to go back to."""
    order = _visible_order(order_id)
    back = safe_next(request.args.get("next"), url_for(".receipt", order_id=order_id))
    return render_template("shop/cancel_order.html", order=order, back=back,
                           form=ConfirmForm(formdata=None, next=back))


@bp.post("/orders/<id:order_id>/cancel")
@login_required
def cancel_order(order_id):
    """Cancel and go back where the button was; a refusal shows the receipt with why (403 or 409)."""
    form = ConfirmForm()
    order = _visible_order(order_id)
    try:
        orders.cancel_order(order_id, current_user.id, current_user.is_admin,
                            current_app.config["ORDER_CANCEL_WINDOW_SECONDS"])
    except OrderNotFoundError:
        abort(404)
    except CancelWindowClosedError:
        flash(f"Order #{order_id} can no longer be cancelled: the time to cancel it has passed.", "error")
        return _receipt(order, 403)
    except OrderStepRefusedError as refused:
        flash(f"Order #{order_id} was already {refused.order_status}.", "error")
        return _receipt(orders.get_order(order_id), 409)
    flash(f"Order #{order_id} is cancelled: its sweets are back in stock.", "success")
    return redirect(safe_next(form.next.data, url_for(".receipt", order_id=order_id)))


@bp.get("/purchases")
def purchases():
    """The page before orders existed: its bookmarks now lead to "My orders"."""
    return redirect(url_for(".my_orders"), 301)
