"""Catalogue, buy and purchases pages, over the same catalog and inventory functions as the API."""
from datetime import timezone

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import catalog, inventory
from ..errors import IdempotencyKeyReusedError, OutOfStockError, SweetNotFoundError
from ..forms import BuyForm, SearchForm
from ..security import safe_next

bp = Blueprint("shop", __name__)


@bp.app_template_filter("money")
def money(amount):
    return f"{current_app.config['CURRENCY_SYMBOL']}{amount:,.2f}"


@bp.app_template_filter("when")
def when(moment):
    """A ledger time in UTC (SQLite hands back naive datetimes, all UTC here)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%d %b %Y, %H:%M UTC")


def _page_number(pages):
    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), pages)


def _page_url(page):
    args = request.args.to_dict()
    args["page"] = page
    return url_for(request.endpoint, **args)


@bp.get("/")
def index():
    form = SearchForm(formdata=request.args)
    form.category.choices = [("", "All categories")] + [(c, c) for c in catalog.categories()]
    filters = form.filters()
    size = current_app.config["CATALOGUE_PAGE_SIZE"]
    total = catalog.count_sweets(**filters)
    pages = max(1, -(-total // size))
    page = _page_number(pages)
    sweets = catalog.search_sweets(skip=(page - 1) * size, limit=size, sort=form.order(), **filters)
    here = request.full_path.rstrip("?")
    buy_forms = {sweet.id: BuyForm(formdata=None, next=here) for sweet in sweets
                 if current_user.is_authenticated and sweet.quantity > 0}
    return render_template("shop/catalogue.html", form=form, sweets=sweets, buy_forms=buy_forms,
                           total=total, page=page, pages=pages, page_url=_page_url, here=here,
                           filtered=any(filters.values()))


@bp.get("/sweets/<id:sweet_id>")
def sweet(sweet_id):
    """A sweet's own page: photo, description, unit and allergens.

    :raise 404: no such sweet on sale (archived ones too).
    """
    return render_template("shop/sweet.html", sweet=catalog.get_sweet(sweet_id))


def _name_of(sweet_id):
    try:
        return catalog.get_sweet(sweet_id).name
    except SweetNotFoundError:
        return "that sweet"


@bp.post("/sweets/<id:sweet_id>/buy")
def buy(sweet_id):
    """Buy from a catalogue form, then back to the same catalogue page with what happened."""
    form = BuyForm()
    back = safe_next(form.next.data, url_for(".index"))
    if not current_user.is_authenticated:
        flash("Log in to buy sweets.", "info")
        return redirect(url_for("auth.login", next=back))
    if not form.validate():
        for field, messages in form.errors.items():
            flash(f"{getattr(form, field).label.text}: {messages[0]}", "error")
        return redirect(back)
    try:
        sweet = inventory.purchase(sweet_id, current_user.id, form.quantity.data,
                                   idempotency_key=form.token.data)
    except OutOfStockError as error:
        name = _name_of(sweet_id)
        if error.available:
            flash(f"Only {error.available} left of {name}: you asked for {form.quantity.data}. "
                  "Nothing was bought.", "error")
        else:
            flash(f"Sorry, {name} is sold out.", "error")
    except SweetNotFoundError:
        flash("That sweet is no longer on sale.", "error")
    except IdempotencyKeyReusedError:
        # The same rendered form came back with another quantity (back button, then edited).
        flash("That form was already used for another purchase; nothing more was bought. "
              "Please try again.", "error")
    else:
        # A replayed form lands here too, with the first purchase's outcome: say the same.
        flash(f"You bought {form.quantity.data} × {sweet.name}.", "success")
    return redirect(back)


@bp.get("/purchases")
@login_required
def purchases():
    size = current_app.config["PURCHASES_PAGE_SIZE"]
    # Capped so the OFFSET always fits the database's integer.
    page = min(max(request.args.get("page", 1, type=int), 1), 1_000_000)
    # One row more than a page says whether there is an older page.
    rows = catalog.purchases(current_user.id, skip=(page - 1) * size, limit=size + 1)
    return render_template("shop/purchases.html", rows=rows[:size], page=page,
                           has_older=len(rows) > size, page_url=_page_url)
