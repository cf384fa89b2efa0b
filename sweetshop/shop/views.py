"""Catalogue and basket pages, over the same catalog and inventory functions as the API."""
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from .. import catalog, inventory
from ..errors import (IdempotencyKeyReusedError, OrderShortError, OrderSweetsMissingError,
                      SweetNotFoundError, ValidationError)
from ..forms import AddToBasketForm, BasketLineForm, ConfirmForm, PlaceOrderForm, SearchForm
from ..paging import with_query
from ..security import safe_next
from . import basket

bp = Blueprint("shop", __name__)


@bp.record_once
def _check_time_zone(state):
    # Fail at start-up on a misspelt zone, not on the first page that shows a time.
    ZoneInfo(state.app.config["SHOP_TIMEZONE"])


@bp.app_template_filter("money")
def money(amount):
    return f"{current_app.config['CURRENCY_SYMBOL']}{amount:,.2f}"


@bp.app_template_filter("when")
def when(moment):
    """A stored time in the shop's time zone (``SHOP_TIMEZONE``): "30 Nov 2026, 14:05 GMT"."""
    return moment.astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).strftime("%d %b %Y, %H:%M %Z")


@bp.app_context_processor
def basket_size():
    return {"basket_units": basket.units(session)}


# --- Catalogue -------------------------------------------------------------------------------------

def _page_number(args, pages):
    page = args.get("page", 1, type=int)
    return min(max(page, 1), pages)


def _catalogue(args, add_forms=None, status=200):
    """The catalogue for these query arguments; ``add_forms`` maps a sweet id to its form when it came
    back refused (it keeps what was typed and shows why)."""
    form = SearchForm(formdata=args)
    form.category.choices = [("", "All categories")] + [(c, c) for c in catalog.categories()]
    filters = form.filters()
    size = current_app.config["CATALOGUE_PAGE_SIZE"]
    total = catalog.count_sweets(**filters)
    pages = max(1, -(-total // size))
    page = _page_number(args, pages)
    sweets = catalog.search_sweets(skip=(page - 1) * size, limit=size, sort=form.order(), **filters)
    here = with_query(url_for(".index"), args, (*SearchForm.QUERY_PARAMETERS, "page"))
    add_forms = add_forms or {}
    for sweet in sweets:
        if sweet.quantity > 0 and sweet.id not in add_forms:
            add_forms[sweet.id] = AddToBasketForm(formdata=None, next=here)

    return render_template("shop/catalogue.html", form=form, sweets=sweets, add_forms=add_forms,
                           total=total, page=page, pages=pages, here=here,
                           page_url=lambda number: with_query(url_for(".index"), args,
                                                              SearchForm.QUERY_PARAMETERS, page=number),
                           in_basket=basket.lines(session), filtered=any(filters.values())), status


@bp.get("/")
def index():
    return _catalogue(request.args)


@bp.get("/sweets/<id:sweet_id>")
def sweet(sweet_id):
    """A sweet's own page: photo, description, unit and allergens.

    :raise 404: no such sweet on sale (archived ones too).
    """
    return render_template("shop/sweet.html", sweet=catalog.get_sweet(sweet_id))


@bp.post("/basket/add/<id:sweet_id>")
def add_to_basket(sweet_id):
    """Add from a catalogue card, then back to the same page and search, scrolled to that sweet.

    A refusal re-renders that catalogue page with the message by the sweet's quantity field.
    """
    form = AddToBasketForm()
    back = safe_next(form.next.data, url_for(".index")).split("#")[0]
    args = MultiDict(parse_qsl(urlsplit(back).query, keep_blank_values=True))
    try:
        sweet = catalog.get_sweet(sweet_id)
    except SweetNotFoundError:
        flash("That sweet is no longer on sale.", "error")
        return _catalogue(args, status=404)
    if form.validate():
        try:
            held = basket.add(session, sweet_id, form.quantity.data, sweet.quantity)
        except ValueError as error:
            form.quantity.errors.append(str(error))
        else:
            flash(f"Added {form.quantity.data} × {sweet.name} to your basket ({held} in it).", "success")
            return redirect(f"{back}#sweet-{sweet_id}")
    form.next.data = back
    return _catalogue(args, add_forms={sweet_id: form}, status=422)


# --- Basket ----------------------------------------------------------------------------------------

@dataclass
class BasketLine:
    """A basket line as the page shows it: the sweet as it is now (None if it never existed)."""

    sweet_id: int
    sweet: object
    quantity: int
    form: BasketLineForm
    problem: str | None = None

    @property
    def on_sale(self):
        return self.sweet is not None and self.sweet.archived_at is None

    @property
    def name(self):
        return self.sweet.name if self.sweet is not None else f"Sweet #{self.sweet_id}"

    @property
    def line_total(self):
        return self.sweet.price * self.quantity if self.on_sale else Decimal("0.00")


def _basket_page(line_forms=None, problems=None, status=200):
    """The basket page; ``line_forms`` holds lines' forms that came back refused, ``problems`` a
    message per sweet id from a refused order (otherwise each line says what it sees now)."""
    held = basket.lines(session)
    sweets = catalog.sweets_by_id(list(held))
    line_forms, problems = line_forms or {}, problems or {}
    lines = []
    for sweet_id, quantity in held.items():
        form = line_forms.get(sweet_id) or BasketLineForm(formdata=None, quantity=quantity)
        line = BasketLine(sweet_id, sweets.get(sweet_id), quantity, form, problems.get(sweet_id))
        if line.problem is None:
            line.problem = _problem(line)
        lines.append(line)
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    place = PlaceOrderForm(formdata=None, lines=basket.encode(held))
    return render_template("shop/basket.html", lines=lines, total=total, place=place,
                           remove=ConfirmForm(formdata=None)), status


def _problem(line):
    if not line.on_sale:
        return "No longer on sale: remove it to place your order."
    if line.sweet.quantity == 0:
        return "Sold out."
    if line.quantity > line.sweet.quantity:
        return f"Only {line.sweet.quantity} left."
    return None


@bp.get("/basket")
def show_basket():
    return _basket_page()


@bp.post("/basket/<id:sweet_id>/quantity")
def change_quantity(sweet_id):
    """Set a line's quantity; a refusal re-renders the basket with the message by the line."""
    form = BasketLineForm()
    if sweet_id not in basket.lines(session):
        flash("That sweet is not in your basket.", "error")
        return _basket_page(status=404)
    if form.validate():
        try:
            sweet = catalog.get_sweet(sweet_id)
            basket.set_quantity(session, sweet_id, form.quantity.data, sweet.quantity)
        except SweetNotFoundError:
            form.quantity.errors.append("No longer on sale.")
        except ValueError as error:
            form.quantity.errors.append(str(error))
        else:
            flash(f"{sweet.name}: {form.quantity.data} in your basket.", "success")
            return redirect(url_for(".show_basket"))
    return _basket_page(line_forms={sweet_id: form}, status=422)


@bp.post("/basket/<id:sweet_id>/remove")
def remove_line(sweet_id):
    # CSRFProtect has checked the token (as for every POST); the form holds nothing else.
    if sweet_id in basket.lines(session):
        basket.remove(session, [sweet_id])
        name = catalog.sweets_by_id([sweet_id]).get(sweet_id)
        flash(f"Removed {name.name if name else 'that sweet'} from your basket.", "success")
    return redirect(url_for(".show_basket"))


@bp.post("/basket/order")
def place_order():
    """Place the basket as the customer saw it (the form's ``lines``) as one order, all or nothing.

    The form's one-time token is the order's idempotency key: the same form sent twice places one
    order and both answers lead to its receipt.
    """
    if not current_user.is_authenticated:
        flash("Log in to place your order: your basket is kept.", "info")
        return redirect(url_for("auth.login", next=url_for(".show_basket")))
    form = PlaceOrderForm()
    try:
        items = _ordered_lines(form)
    except ValueError as error:
        flash(f"{error} Nothing was bought.", "error")
        return _basket_page(status=422)
    try:
        order = inventory.place_order(current_user.id, items, idempotency_key=form.token.data)
    except OrderShortError as error:
        flash("Nothing was bought: there is not enough of some sweets. Change the lines marked below "
              "and place the order again.", "error")
        return _basket_page(problems={short["sweet_id"]: _only_left(short["available"])
                                      for short in error.shortages}, status=409)
    except OrderSweetsMissingError as error:
        flash("Nothing was bought: some sweets are no longer on sale. Remove the lines marked below "
              "and place the order again.", "error")
        return _basket_page(problems={sweet_id: "No longer on sale." for sweet_id in error.missing},
                            status=409)
    except IdempotencyKeyReusedError:
        # The same rendered form came back with other lines (back button, basket changed meanwhile).
        flash("That order form was already used for another order; nothing more was bought. "
              "Check your basket and place the order again.", "error")
        return _basket_page(status=422)
    except ValidationError as error:
        flash(f"{error.detail}. Nothing was bought.", "error")
        return _basket_page(status=422)
    # Only the lines just ordered leave the basket: another tab may have added some meanwhile.
    basket.remove(session, [item.sweet_id for item in order.items])
    flash(f"Thank you! Order #{order.id} is placed.", "success")
    return redirect(url_for(".receipt", order_id=order.id))


def _ordered_lines(form):
    """The basket's lines as the order form carried them.

    :raise ValueError: the form is not valid, or its lines cannot be read (the message says so).
    """
    if not form.validate():
        raise ValueError("That form could not be read: please place the order again.")
    return basket.decode(form.lines.data)


def _only_left(available):
    return "Sold out." if not available else f"Only {available} left."
