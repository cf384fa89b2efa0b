"""Read-only queries shared by the shop pages, the admin pages and the API."""
from sqlalchemy import func, or_, select

from .errors import SweetNotFoundError
from .extensions import db
from .models import Order, StockMovement, Sweet, User


def on_sale():
    return select(Sweet).where(Sweet.archived_at.is_(None))


def get_sweet(sweet_id):
    """The sweet on sale with this id.

    :raise SweetNotFoundError: none, or it is archived.
    """
    sweet = db.session.scalar(on_sale().where(Sweet.id == sweet_id))
    if sweet is None:
        raise SweetNotFoundError()
    return sweet


def _matching(name=None, category=None, min_price=None, max_price=None):
    query = on_sale()
    if name:
        query = query.where(Sweet.name.icontains(name, autoescape=True))
    if category:
        query = query.where(func.lower(Sweet.category) == category.lower())
    if min_price is not None:
        query = query.where(Sweet.price >= min_price)
    if max_price is not None:
        query = query.where(Sweet.price <= max_price)
    return query


# Each order ends with the id, so sweets that tie keep one order from page to page. Descending
# orders break ties by descending id, so one index serves both directions, read backwards.
ORDERS = {
    None: (Sweet.id,),
    "name": (func.lower(Sweet.name), Sweet.id),
    "price": (Sweet.price, Sweet.id),
    "-price": (Sweet.price.desc(), Sweet.id.desc()),
    "newest": (Sweet.created_at.desc(), Sweet.id.desc()),
}


def search_sweets(skip=0, limit=100, sort=None, **filters):
    """Sweets on sale matching every given filter, in the order ``sort`` names (default by id).

    Filters: ``name`` matches any substring in any case (``%`` and ``_`` match
    themselves); ``category`` matches whole, in any case; ``min_price`` and
    ``max_price`` bound the price, inclusive. ``sort`` is one of ``rules.SORTS``.
    """
    query = _matching(**filters).order_by(*ORDERS[sort]).offset(skip).limit(limit)
    return db.session.scalars(query).all()


def count_sweets(**filters):
    """How many sweets ``search_sweets`` would find without paging."""
    return db.session.scalar(select(func.count()).select_from(_matching(**filters).subquery()))


def categories():
    """The categories of sweets on sale, each once (first spelling wins), sorted."""
    names = db.session.scalars(
        select(Sweet.category).where(Sweet.archived_at.is_(None)).distinct()).all()
    unique = {}
    for name in names:
        unique.setdefault(name.lower(), name)
    return sorted(unique.values(), key=str.lower)


def all_sweets(include_archived=False):
    """Every sweet for the admin table, ordered by name."""
    query = select(Sweet) if include_archived else on_sale()
    return db.session.scalars(query.order_by(func.lower(Sweet.name), Sweet.id)).all()


def purchases(user_id=None, skip=0, limit=100):
    """Purchases from the ledger, newest first; one user's, or everybody's when ``user_id`` is None.

    Single purchases and the lines of placed orders (``order_id`` says which); the lines of a
    cancelled order are left out, since their units went back.
    """
    query = (select(StockMovement, Sweet.name, User.username)
             .join(Sweet, Sweet.id == StockMovement.sweet_id)
             .join(User, User.id == StockMovement.user_id)
             .outerjoin(Order, Order.id == StockMovement.order_id)
             .where(StockMovement.kind == StockMovement.PURCHASE,
                    or_(StockMovement.order_id.is_(None), Order.status == Order.PLACED)))
    if user_id is not None:
        query = query.where(StockMovement.user_id == user_id)
    return db.session.execute(
        query.order_by(StockMovement.id.desc()).offset(skip).limit(limit)).all()


def stock_history(sweet_id):
    """Every ledger row of one sweet (archived ones too), newest first, with who did it."""
    return db.session.execute(
        select(StockMovement, User.username)
        .outerjoin(User, User.id == StockMovement.user_id)
        .where(StockMovement.sweet_id == sweet_id)
        .order_by(StockMovement.id.desc())
    ).all()


def sweets_by_id(sweet_ids):
    """The sweets with these ids, archived ones too (the basket shows them unavailable): ``{id: Sweet}``."""
    if not sweet_ids:
        return {}
    return {sweet.id: sweet for sweet in db.session.scalars(select(Sweet).where(Sweet.id.in_(sweet_ids)))}


def single_purchases(user_id, limit=20):
    """One user's latest purchases of one sweet at a time (not part of an order), newest first:
    ``(StockMovement, sweet name)`` rows for "My orders"."""
    return db.session.execute(
        select(StockMovement, Sweet.name)
        .join(Sweet, Sweet.id == StockMovement.sweet_id)
        .where(StockMovement.kind == StockMovement.PURCHASE, StockMovement.user_id == user_id,
               StockMovement.order_id.is_(None))
        .order_by(StockMovement.id.desc()).limit(limit)
    ).all()


def known_category(category, other_than=None):
    """The spelling a sweet on sale (other than ``other_than``) already gives this category, in any
    case, else ``category`` as typed: "toffee" beside "Toffee" becomes "Toffee", so the catalogue's
    category choice, the admin table and the CSV export show one spelling. Ends the read."""
    query = select(Sweet.category).where(Sweet.archived_at.is_(None),
                                         func.lower(Sweet.category) == category.lower())
    if other_than is not None:
        query = query.where(Sweet.id != other_than)
    found = db.session.scalar(query.order_by(Sweet.id).limit(1))
    db.session.rollback()  # the write that follows starts its own transaction (SQLite)
    return found or category


def with_known_category(changes, other_than=None):
    """``changes`` (a sweet's fields) with ``category``, if there is one, in its known spelling."""
    if changes.get("category") is None:
        return changes
    return dict(changes, category=known_category(changes["category"], other_than))
