"""Admin pages (admins only): stock table, add / edit / archive / restock, stock history."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from .. import accounts, catalog, inventory
from ..errors import StockLimitError, SweetNotFoundError
from ..extensions import login_manager
from ..forms import ConfirmForm, CountForm, MakeAdminForm, NewSweetForm, RestockForm, SweetForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def admins_only():
    """Anonymous visitors are sent to log in; logged-in customers get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, "This page is for shop staff only.")
    return None


def _table(restock_forms=None, admin_form=None, status=200):
    """The stock table; ``restock_forms`` maps a sweet id to its form when it came back with errors."""
    sweets = catalog.all_sweets(include_archived=True)
    return render_template(
        "admin/index.html",
        on_sale=[s for s in sweets if s.archived_at is None],
        archived=[s for s in sweets if s.archived_at is not None],
        restock_forms=restock_forms or {}, blank_restock=RestockForm(formdata=None),
        admin_form=admin_form or MakeAdminForm(formdata=None),
        low_stock=current_app.config["LOW_STOCK_THRESHOLD"]), status


@bp.get("")
def index():
    return _table()


@bp.route("/sweets/new", methods=["GET", "POST"])
def new_sweet():
    form = NewSweetForm()
    if form.validate_on_submit():
        sweet = inventory.create_sweet(**form.changes(), user_id=current_user.id)
        flash(f"Added {sweet.name} with {sweet.quantity} in stock.", "success")
        return redirect(url_for(".index"))
    return render_template("admin/sweet_form.html", form=form, sweet=None), 422 if form.errors else 200


@bp.route("/sweets/<id:sweet_id>/edit", methods=["GET", "POST"])
def edit_sweet(sweet_id):
    sweet = catalog.get_sweet(sweet_id)
    form = SweetForm(obj=sweet)
    if form.validate_on_submit():
        try:
            updated = inventory.update_sweet(sweet_id, **form.changes())
        except SweetNotFoundError:
            flash("That sweet was archived meanwhile; nothing was changed.", "error")
        else:
            flash(f"Saved {updated.name}.", "success")
        return redirect(url_for(".index"))
    return render_template("admin/sweet_form.html", form=form, sweet=sweet), 422 if form.errors else 200


@bp.route("/sweets/<id:sweet_id>/archive", methods=["GET", "POST"])
def archive_sweet(sweet_id):
    """GET asks for confirmation (works without JavaScript); POST archives."""
    sweet = catalog.get_sweet(sweet_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            inventory.archive_sweet(sweet_id)
        except SweetNotFoundError:
            abort(404)
        flash(f"Archived {sweet.name}: it is off sale; its history stays.", "success")
        return redirect(url_for(".index"))
    return render_template("admin/archive.html", form=form, sweet=sweet)


@bp.post("/sweets/<id:sweet_id>/restock")
def restock(sweet_id):
    form = RestockForm()
    if form.validate():
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
    """Make an existing user an admin (SPEC: admins come from the CLI or from another admin)."""
    form = MakeAdminForm()
    if form.validate():
        user = accounts.find_user(form.username.data.strip())
        if user is None:
            form.username.errors.append("No user with that name.")
        elif user.is_admin:
            flash(f"{user.username} is already an admin.", "info")
            return redirect(url_for(".index"))
        else:
            accounts.set_admin(user)
            flash(f"{user.username} is now an admin.", "success")
            return redirect(url_for(".index"))
    return _table(admin_form=form, status=422)
