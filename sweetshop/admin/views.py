"""Admin pages (admins only): stock table, add / edit / archive / restore / restock, photos, stock history,
every order (to pack, ready, collected, cancelled) with its steps and cancel, the pick list, users."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import accounts, catalog, inventory, orders as order_queries, photos
from ..errors import (AdminRevokeError, BadPhotoError, OrderNotFoundError, OrderStepRefusedError,
                      StockLimitError, SweetNotFoundError, UserNotFoundError, ValidationError)
from ..extensions import login_manager
from ..models import utcnow
from ..forms import (ConfirmForm, CountForm, MakeAdminForm, NewSweetForm, PhotoForm, RestockForm, RoleForm,
                     SweetForm, UserSearchForm)
from ..paging import with_query
from ..request_limits import allow_body
from ..security import safe_next

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def admins_only():
    """Anonymous visitors are sent to log in; logged-in customers get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, "This page is for shop staff only.")
    return None


def _table(restock_forms=None, admin_form=None, restore_errors=None, status=200):
    """The stock table; ``restock_forms`` maps a sweet id to its form when it came back with errors,
    ``restore_errors`` an archived sweet's id to why it could not be restored."""
    sweets = catalog.all_sweets(include_archived=True)
    return render_template(
        "admin/index.html",
        on_sale=[s for s in sweets if s.archived_at is None],
        archived=[s for s in sweets if s.archived_at is not None],
        restock_forms=restock_forms or {}, blank_restock=RestockForm(formdata=None),
        admin_form=admin_form or MakeAdminForm(formdata=None),
        confirm=ConfirmForm(formdata=None), restore_errors=restore_errors or {},
        low_stock=current_app.config["LOW_STOCK_THRESHOLD"]), status


@bp.get("")
def index():
    return _table()


@bp.route("/sweets/new", methods=["GET", "POST"])
@allow_body("PHOTO_MAX_BYTES", extra=64 * 1024)  # an optional photo, plus the form around it
def new_sweet():
    form = NewSweetForm()
    if form.validate_on_submit():
        try:
            # The photo is checked before the sweet exists: a bad one adds nothing.
            photo = photos.prepare(form.photo.data.read()) if form.photo.data else None
            sweet = catalog.create_sweet(**catalog.with_known_category(form.changes()),
                                         user_id=current_user.id)
        except BadPhotoError as error:
            form.photo.errors.append(f"{error.detail} Nothing was added; choose the photo again.")
        except ValidationError as error:  # e.g. a sweet on sale has that name
            _show_by_the_fields(form, error)
        else:
            if photo is not None:
                photos.store(sweet.id, photo)
            flash(f"Added {sweet.name} with {sweet.quantity} in stock"
                  f"{' and its photo' if photo is not None else ''}.", "success")
            return redirect(url_for(".index"))
    if form.errors and form.photo.data and not form.photo.errors:
        # A browser never sends a file input's file again: say so rather than lose it silently.
        form.photo.errors.append("Choose the photo again: a browser does not send it a second time.")
    return render_template("admin/sweet_form.html", form=form, sweet=None), 422 if form.errors else 200


def _edit_page(sweet, form=None, photo_form=None, status=200):
    # formdata=None: after the photo form's POST, the sweet's fields must come from the sweet,
    # not from that POST (which has none of them: every allergen box would come back unticked).
    return render_template("admin/sweet_form.html", sweet=sweet,
                           form=form or SweetForm(formdata=None, obj=sweet),
                           photo_form=photo_form or PhotoForm(formdata=None),
                           remove_form=ConfirmForm(formdata=None)), status


@bp.route("/sweets/<id:sweet_id>/edit", methods=["GET", "POST"])
def edit_sweet(sweet_id):
    sweet = catalog.get_sweet(sweet_id)
    form = SweetForm(obj=sweet)
    if form.validate_on_submit():
        try:
            changes = catalog.with_known_category(form.changes(), other_than=sweet_id)
            updated = catalog.update_sweet(sweet_id, **changes)
        except SweetNotFoundError:
            flash("That sweet was archived meanwhile; nothing was changed.", "error")
        except ValidationError as error:  # e.g. another sweet on sale has that name
            _show_by_the_fields(form, error)
        else:
            flash(f"Saved {updated.name}.", "success")
        if not form.errors:
            return redirect(url_for(".index"))
    return _edit_page(sweet, form=form, status=422 if form.errors else 200)


@bp.post("/sweets/<id:sweet_id>/photo")
@allow_body("PHOTO_MAX_BYTES", extra=64 * 1024)  # the file plus the form around it
def upload_photo(sweet_id):
    sweet = catalog.get_sweet(sweet_id)
    form = PhotoForm()
    if form.validate_on_submit():
        try:
            photos.set_photo(sweet_id, form.photo.data.read())
        except BadPhotoError as error:
            form.photo.errors.append(error.detail)
        else:
            flash(f"Saved the photo of {sweet.name}.", "success")
            return redirect(url_for(".edit_sweet", sweet_id=sweet_id, _anchor="photo-panel"))
    return _edit_page(sweet, photo_form=form, status=422)


@bp.post("/sweets/<id:sweet_id>/photo/remove")
def remove_photo(sweet_id):
    sweet = catalog.get_sweet(sweet_id)
    if ConfirmForm().validate():
        photos.remove_photo(sweet_id)
        flash(f"Removed the photo of {sweet.name}.", "success")
    return redirect(url_for(".edit_sweet", sweet_id=sweet_id, _anchor="photo-panel"))


def _show_by_the_fields(form, error):
    """Put a domain ValidationError's messages next to the form's fields (or above the form)."""
    for name, messages in (error.errors or {}).items():
        field = form._fields.get(name)
        (field.errors if field is not None else form.form_errors).extend(messages)
    if not error.errors:
        form.form_errors.append(error.detail)


@bp.route("/sweets/<id:sweet_id>/archive", methods=["GET", "POST"])
def archive_sweet(sweet_id):
    """GET asks for confirmation (works without JavaScript); POST archives."""
    sweet = catalog.get_sweet(sweet_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            catalog.archive_sweet(sweet_id)
        except SweetNotFoundError:
            abort(404)
        flash(f"Archived {sweet.name}: it is off sale; its history stays.", "success")
        return redirect(url_for(".index"))
    return render_template("admin/archive.html", form=form, sweet=sweet)


@bp.post("/sweets/<id:sweet_id>/restore")
def restore_sweet(sweet_id):
    """Put an archived sweet back on sale with its stock and history; refused (422, by its row) when
    a sweet on sale has taken its name."""
    # CSRFProtect has checked the token (as for every POST); the form holds nothing else.
    try:
        sweet = catalog.restore_sweet(sweet_id)
    except SweetNotFoundError:
        abort(404, "There is no archived sweet with that id.")
    except ValidationError as error:
        messages = [message for field in (error.errors or {}).values() for message in field]
        return _table(restore_errors={sweet_id: " ".join(messages) or error.detail}, status=422)
    flash(f"Restored {sweet.name}: on sale again with {sweet.quantity} in stock.", "success")
    return redirect(url_for(".index", _anchor=f"sweet-{sweet_id}"))


@bp.post("/sweets/<id:sweet_id>/restock")
def restock(sweet_id):
    form = RestockForm()
    if form.validate() and form.quantity.data == 0:
        # The API accepts 0 (scripts send what a delivery note says); a person pressing the
        # button with 0 has mistyped, and a "+0" ledger row would only be noise.
        form.quantity.errors.append("Nothing to add: enter the number of units delivered.")
    elif not form.errors:
        try:
            sweet = inventory.restock(sweet_id, current_user.id, form.quantity.data)
        except SweetNotFoundError:
            flash("That sweet is no longer on sale.", "error")
        except StockLimitError as error:
            form.quantity.errors.append(error.detail)
        else:
            flash(f"Restocked {sweet.name}: +{form.quantity.data}, now {sweet.quantity}.", "success")
            return redirect(url_for(".index"))
    if not form.errors:
        return redirect(url_for(".index"))
    return _table(restock_forms={sweet_id: form}, status=422)


@bp.get("/sweets/<id:sweet_id>")
def history(sweet_id):
    return history_page(sweet_id)


def history_page(sweet_id, count_form=None, status=200):
    """Every stock change of a sweet (archived ones too), newest first, with the count form."""
    rows = catalog.stock_history(sweet_id)
    if not rows:
        abort(404)  # every sweet has at least its initial-stock row
    sweet = rows[0][0].sweet
    if count_form is None:
        count_form = CountForm(formdata=None, seen=sweet.quantity)
    return render_template("admin/history.html", sweet=sweet, rows=rows, count_form=count_form,
                           low_stock=current_app.config["LOW_STOCK_THRESHOLD"]), status


@bp.post("/admins")
def make_admin():
    """Make an existing user an admin (admins come from the CLI or another admin)."""
    form = MakeAdminForm()
    if form.validate():
        user = accounts.find_user(form.username.data.strip())
        if user is None:
            form.username.errors.append("No user with that name.")
        elif user.is_admin:
            flash(f"{user.username} is already an admin.", "info")
            return redirect(url_for(".index"))
        else:
            accounts.grant_admin(user.id, by_user_id=current_user.id)
            flash(f"{user.username} is now an admin.", "success")
            return redirect(url_for(".index"))
    return _table(admin_form=form, status=422)


# The tabs of the orders page: its ``status`` query value -> the tab's name. Orders still to
# handle (to pack, ready) are listed oldest first, as they are to be worked through; the others
# newest first.
ORDER_TABS = {"placed": "To pack", "ready": "Ready", "collected": "Collected", "cancelled": "Cancelled",
              "all": "All"}
OLDEST_FIRST = ("placed", "ready")


@bp.get("/orders")
def orders():
    """One tab of the orders, with their lines and buttons; "To pack" unless ``status`` says."""
    tab = request.args.get("status") or "placed"
    valid = tab in ORDER_TABS
    tab = tab if valid else "all"
    status = None if tab == "all" else tab
    size = current_app.config["ORDERS_PAGE_SIZE"]
    counts = order_queries.count_by_status()
    total = counts[status] if status else sum(counts.values())
    pages = max(1, -(-total // size))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    shown = order_queries.list_orders(status=status, skip=(page - 1) * size, limit=size,
                                      oldest_first=tab in OLDEST_FIRST)
    here = with_query(url_for(".orders"), request.args, ("status", "page"))

    def page_url(number):
        return with_query(url_for(".orders"), request.args, ("status",), page=number)

    return render_template("admin/orders.html", tabs=ORDER_TABS, tab=tab, valid=valid, counts=counts,
                           orders=shown, total=total, page=page, pages=pages, page_url=page_url,
                           oldest_first=tab in OLDEST_FIRST, step=ConfirmForm(formdata=None, next=here)
                           ), 200 if valid else 422


@bp.get("/orders/pick-list")
def pick_list():
    """What to pack for every placed order, summed by sweet; made to be printed."""
    return render_template("admin/pick_list.html", sweets=order_queries.pick_list(), now=utcnow(),
                           orders=order_queries.list_orders(status="placed", limit=None, oldest_first=True))


# Where an order stands, for the message after a stale button press.
STANDING = {"placed": "still to pack", "ready": "already ready for collection",
            "collected": "already collected", "cancelled": "cancelled"}


@bp.post("/orders/<id:order_id>/ready")
def mark_ready(order_id):
    return _order_step(order_id, order_queries.mark_ready, "is ready for collection")


@bp.post("/orders/<id:order_id>/collect")
def mark_collected(order_id):
    return _order_step(order_id, order_queries.mark_collected, "was collected")


def _order_step(order_id, step, done):
    """Run a step, then back to the tab the button was on, with what happened: a stale button
    (the order moved meanwhile, perhaps by another member of staff) says where it stands now.

    :raise 400: no valid CSRF token (CSRFProtect, before this runs).
    :raise 404: no such order.
    """
    form = ConfirmForm()
    back = safe_next(form.next.data, url_for(".orders"))
    try:
        order = step(order_id, current_user.id)
    except OrderNotFoundError:
        abort(404)
    except OrderStepRefusedError as refused:
        flash(f"Order #{order_id} is {STANDING[refused.order_status]}: nothing changed.", "info")
        return redirect(back)
    flash(f"Order #{order_id} of {customer_name(order)} {done}.", "success")
    return redirect(back)


def customer_name(order):
    """The customer as staff see them: full name and username, or the username alone."""
    return f"{order.full_name} ({order.username})" if order.full_name else order.username


@bp.route("/orders/<id:order_id>/cancel", methods=["GET", "POST"])
def cancel_order(order_id):
    """GET asks for confirmation; POST cancels (an admin may at any time) and puts the units back."""
    order = order_queries.get_order(order_id)
    if order is None:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            order_queries.cancel_order(order_id, current_user.id, True,
                                       current_app.config["ORDER_CANCEL_WINDOW_SECONDS"])
        except OrderNotFoundError:
            abort(404)
        except OrderStepRefusedError as refused:
            flash(f"Order #{order_id} was already {refused.order_status}; nothing changed.", "error")
            return render_template("admin/cancel_order.html", form=form,
                                   order=order_queries.get_order(order_id)), 409
        flash(f"Cancelled order #{order_id} of {customer_name(order)}: its sweets are back in stock.",
              "success")
        return redirect(url_for(".orders"))
    return render_template("admin/cancel_order.html", form=form, order=order)


@bp.get("/users")
def users():
    """Every user, searchable by name and paged, with "make admin" / "revoke admin" buttons."""
    form = UserSearchForm(formdata=request.args)
    text = form.q.data.strip() if form.validate() and form.q.data else None
    size = current_app.config["USERS_PAGE_SIZE"]
    total = accounts.count_users(text)
    pages = max(1, -(-total // size))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    here = with_query(url_for(".users"), request.args, ("q", "page"))
    found = accounts.search_users(text, skip=(page - 1) * size, limit=size)

    def page_url(number):
        return with_query(url_for(".users"), request.args, ("q",), page=number)

    return render_template("admin/users.html", form=form, users=found, total=total, page=page, pages=pages,
                           page_url=page_url, role_form=RoleForm(formdata=None, next=here),
                           searched=bool(text))


def _back_to_users(form):
    return redirect(safe_next(form.next.data, url_for(".users")))


@bp.post("/users/<id:user_id>/grant")
def grant_admin(user_id):
    form = RoleForm()
    if form.validate():
        try:
            user = accounts.grant_admin(user_id, by_user_id=current_user.id)
        except UserNotFoundError:
            flash("No such user.", "error")
        else:
            flash(f"{user.username} is an admin now.", "success")
    return _back_to_users(form)


@bp.post("/users/<id:user_id>/revoke")
def revoke_admin(user_id):
    form = RoleForm()
    if form.validate():
        try:
            user = accounts.revoke_admin(user_id, by_user_id=current_user.id)
        except (UserNotFoundError, AdminRevokeError) as error:
            flash(error.detail, "error")
        else:
            flash(f"{user.username} is no longer an admin.", "success")
    return _back_to_users(form)
