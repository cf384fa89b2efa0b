"""API catalogue and stock: list, search, create, edit, archive, restore, photos, purchase, restock."""
from flask import current_app, g, request, url_for

from .. import catalog, inventory, photos
from ..errors import ValidationError
from ..request_limits import allow_body
from ..rules import (CATEGORY_MAX, NAME_MAX, PURCHASE, RESTOCK, check_plain_text, clean_new_sweet,
                     clean_sweet_changes)
from .blueprint import bp
from .http import (auth_required, authenticate, idempotency_key, json_body, paging, query_price,
                   query_sort, sweet_json)


def _catalogue_paging():
    """``paging()`` within the catalogue's depth (``CATALOGUE_DEPTH_MAX``).

    :raise ValidationError:
    """
    skip, limit = paging()
    depth = current_app.config["CATALOGUE_DEPTH_MAX"]
    if skip > depth:
        raise ValidationError({"skip": [
            f"Must be at most {depth}: the catalogue is not listed deeper. Narrow the search (name, "
            "category, price) or download the whole catalogue from /api/export/sweets.csv."]})
    return skip, limit


@bp.get("/sweets")
def list_sweets():
    skip, limit = _catalogue_paging()
    return [sweet_json(s) for s in catalog.search_sweets(skip=skip, limit=limit, sort=query_sort())]


def _search_text(name, max_length):
    value = request.args.get(name, "").strip()
    try:
        check_plain_text(value)
    except ValueError as error:
        raise ValidationError({name: [str(error)]}) from None
    if len(value) > max_length:
        raise ValidationError({name: [f"Must be at most {max_length} characters."]})
    return value or None


@bp.get("/sweets/search")
def search():
    skip, limit = _catalogue_paging()
    min_price, max_price = query_price("min_price"), query_price("max_price")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationError({"min_price": ["Must not be greater than max_price."]})
    found = catalog.search_sweets(
        name=_search_text("name", NAME_MAX), category=_search_text("category", CATEGORY_MAX),
        min_price=min_price, max_price=max_price, skip=skip, limit=limit, sort=query_sort())
    return [sweet_json(s) for s in found]


@bp.get("/sweets/<id:sweet_id>")
def get_sweet(sweet_id):
    return sweet_json(catalog.get_sweet(sweet_id))


@bp.post("/sweets")
@auth_required(admin=True)
def create_sweet():
    sweet = catalog.create_sweet(**catalog.with_known_category(clean_new_sweet(json_body())),
                                 user_id=g.user.id)
    return sweet_json(sweet), 201, {"Location": url_for(".get_sweet", sweet_id=sweet.id)}


@bp.route("/sweets/<id:sweet_id>", methods=["PUT", "PATCH"])
@auth_required(admin=True)
def update_sweet(sweet_id):
    changes = clean_sweet_changes(json_body())
    if not changes:
        return sweet_json(catalog.get_sweet(sweet_id))
    return sweet_json(catalog.update_sweet(sweet_id, **catalog.with_known_category(changes, sweet_id)))


@bp.delete("/sweets/<id:sweet_id>")
@auth_required(admin=True)
def archive_sweet(sweet_id):
    catalog.archive_sweet(sweet_id)
    return "", 204


@bp.post("/sweets/<id:sweet_id>/restore")
@auth_required(admin=True)
def restore_sweet(sweet_id):
    return sweet_json(catalog.restore_sweet(sweet_id))


@bp.put("/sweets/<id:sweet_id>/photo")
@auth_required(admin=True)
@allow_body("PHOTO_MAX_BYTES")
def put_photo(sweet_id):
    """The image is the whole body (any Content-Type: what it is, is decided by decoding it)."""
    return sweet_json(photos.set_photo(sweet_id, request.get_data()))


@bp.delete("/sweets/<id:sweet_id>/photo")
@auth_required(admin=True)
def delete_photo(sweet_id):
    return sweet_json(photos.remove_photo(sweet_id))


@bp.post("/sweets/<id:sweet_id>/purchase")
def purchase(sweet_id):
    # The token is looked up on the sale's own connection (see inventory.selling).
    with inventory.selling() as connection:
        user = authenticate(connection=connection)
        data = PURCHASE.clean(json_body(default={}))
        sweet = inventory.purchase(sweet_id, user.id, data["quantity"], idempotency_key=idempotency_key(),
                                   connection=connection)
    return sweet_json(sweet)


@bp.post("/sweets/<id:sweet_id>/restock")
@auth_required(admin=True)
def restock(sweet_id):
    data = RESTOCK.clean(json_body())
    return sweet_json(inventory.restock(sweet_id, g.user.id, data["quantity"]))
