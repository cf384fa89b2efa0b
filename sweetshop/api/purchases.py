"""API purchase history, read from the stock ledger."""
from .. import catalog
from .blueprint import bp
from .http import auth_required, iso, listed_user_id, paging


def purchase_json(movement, sweet_name, username):
    quantity = -movement.change
    return {
        "id": movement.id, "sweet_id": movement.sweet_id, "sweet_name": sweet_name,
        "user_id": movement.user_id, "username": username, "quantity": quantity,
        "unit_price": float(movement.unit_price), "total": float(movement.unit_price * quantity),
        "purchased_at": iso(movement.created_at),
        "order_id": movement.order_id,  # null for a single purchase
    }


@bp.get("/purchases")
@auth_required()
def list_purchases():
    skip, limit = paging()
    rows = catalog.purchases(listed_user_id(), skip=skip, limit=limit)
    return [purchase_json(*row) for row in rows]
