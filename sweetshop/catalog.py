"""The catalogue: the sweets on sale, found and listed for the shop, the admin pages and the API,
and added, edited, archived and restored (their stock is inventory's)."""
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import inventory
from .errors import SweetNameTakenError, SweetNotFoundError
from .extensions import db
from .inventory import SWEET_COLUMNS, on_sale, sweets
from .models import Order, StockMovement, Sweet, User, utcnow
from .rules import UNIT_DEFAULT
from .transactions import transaction

EDITABLE = {"name", "category", "price", "description", "unit", "allergens"}


def _sweets_on_sale():
    return select(Sweet).where(Sweet.archived_at.is_(None))


def get_sweet(sweet_id):
    """The sweet on sale with this id.

    :raise SweetNotFoundError: none, or it is archived.
    """
    sweet = db.session.scalar(_sweets_on_sale().where(Sweet.id == sweet_id))
    if sweet is None:
        raise SweetNotFoundError()
    return sweet


def _matching(name=None, category=None, min_price=None, max_price=None):
    query = _sweets_on_sale()
    if name:
        query = query.where(Sweet.name.icontains(name, autoescape=True))
    if category:
        query = query.where(func.lower(Sweet.category) == category.lower())
    if min_price is not None:
        query = query.where(Sweet.price >= min_price)
    if max_price is not None:
        query = query.where(Sweet.price <= max_price)
    return query


# What each ``sort`` orders by. Each ends with the id, so sweets that tie keep one order from page
# to page; descending sorts break ties by descending id, so one index serves both directions.
SORT_KEYS = {
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
    query = _matching(**filters).order_by(*SORT_KEYS[sort]).offset(skip).limit(limit)
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
    query = select(Sweet) if include_archived else _sweets_on_sale()
    return db.session.scalars(query.order_by(func.lower(Sweet.name), Sweet.id)).all()


def purchases(user_id=None, skip=0, limit=100):
    """Purchases from the ledger, newest first; one user's, or everybody's when ``user_id`` is None.

    Single purchases and the lines of orders (``order_id`` says which) placed, ready or collected;
    the lines of a cancelled order are left out, since their units went back.
    """
    query = (select(StockMovement, Sweet.name, User.username)
             .join(Sweet, Sweet.id == StockMovement.sweet_id)
             .join(User, User.id == StockMovement.user_id)
             .outerjoin(Order, Order.id == StockMovement.order_id)
             .where(StockMovement.kind == StockMovement.PURCHASE,
                    or_(StockMovement.order_id.is_(None), Order.status != Order.CANCELLED)))
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


# --- adding and editing sweets ----------------------------------------------------------------

def _name_taken(name, other_than=None):
    """Whether a sweet on sale (other than ``other_than``) has this name, in any case.

    Compared with the database's lower(), as the unique index is, so the two agree.
    """
    query = select(sweets.c.id).where(func.lower(sweets.c.name) == func.lower(name), on_sale)
    if other_than is not None:
        query = query.where(sweets.c.id != other_than)
    return db.session.execute(query.limit(1)).first() is not None


def _write_named(write, name, sweet_id=None):
    """Run ``write()`` (which may give a sweet on sale ``name``) in one transaction; returns
    what it returns.

    The check first is for a clear answer; on PostgreSQL two racing writes can both pass it,
    and the unique index on lower(name) decides: its refusal gets the same answer.

    :raise SweetNameTakenError: (nothing changed)
    """
    try:
        with transaction():
            if name is not None and _name_taken(name, sweet_id):
                raise SweetNameTakenError()
            return write()
    except IntegrityError:
        if name is not None and _name_taken(name, sweet_id):
            raise SweetNameTakenError() from None
        raise


def create_sweet(name, category, price, quantity=0, user_id=None, description="", unit=UNIT_DEFAULT,
                 allergens=()):
    """Put a new sweet on sale with ``quantity`` units, recorded as its initial stock.

    :raise SweetNameTakenError: a sweet on sale has this name (nothing changed).
    """
    def write():
        # The row starts with no stock: its first units are a quantity change, made by inventory.
        sweet = Sweet(name=name, category=category, price=price, quantity=0, description=description,
                      unit=unit, allergens=list(allergens))
        db.session.add(sweet)
        db.session.flush()
        inventory.stock_new_sweet(sweet.id, quantity, user_id, at=sweet.created_at)
        return sweet

    sweet = _write_named(write, name)
    inventory._log_change(sweet.id, StockMovement.INITIAL, quantity, quantity, user_id)
    return sweet


def update_sweet(sweet_id, **changes):
    """Change a sweet's name, category, price, description, unit or allergens (never its stock);
    returns the sweet.

    :raise SweetNotFoundError: no such sweet on sale.
    :raise SweetNameTakenError: another sweet on sale has the new name (nothing changed).
    """
    assert set(changes) <= EDITABLE, "stock changes only by purchase/restock"

    def write():
        return _found(db.session.execute(
            update(sweets).where(sweets.c.id == sweet_id, on_sale)
            .values(updated_at=utcnow(), **changes).returning(*SWEET_COLUMNS)
        ).one_or_none())

    try:
        return _write_named(write, changes.get("name"), sweet_id)
    except SweetNameTakenError:
        # A sweet that is not on sale is "not found", whatever name it was asked to take.
        exists = db.session.execute(select(sweets.c.id).where(sweets.c.id == sweet_id, on_sale)).first()
        if exists is None:
            raise SweetNotFoundError() from None
        raise


def restore_sweet(sweet_id):
    """Put an archived sweet on sale again, with the stock and ledger it had; returns the sweet.

    :raise SweetNotFoundError: no archived sweet with this id.
    :raise SweetNameTakenError: a sweet on sale has taken its name meanwhile (nothing changed).
    """
    name = db.session.execute(
        select(sweets.c.name).where(sweets.c.id == sweet_id, sweets.c.archived_at.is_not(None))
    ).scalar_one_or_none()
    if name is None:
        raise SweetNotFoundError()

    def write():
        # No row when a racing request restored it (or it went) since the read above.
        return _found(db.session.execute(
            update(sweets).where(sweets.c.id == sweet_id, sweets.c.archived_at.is_not(None))
            .values(archived_at=None, updated_at=utcnow()).returning(*SWEET_COLUMNS)
        ).one_or_none())

    return _write_named(write, name, sweet_id)


def archive_sweet(sweet_id):
    """Take a sweet off sale; its ledger and purchase history stay.

    :raise SweetNotFoundError: no such sweet on sale.
    """
    now = utcnow()
    with transaction():
        _found(db.session.execute(
            update(sweets).where(sweets.c.id == sweet_id, on_sale)
            .values(archived_at=now, updated_at=now).returning(sweets.c.id)
        ).one_or_none())


def _found(row):
    """The row a conditional UPDATE returned.

    :raise SweetNotFoundError: it touched no row (inside ``transaction()``: nothing changes).
    """
    if row is None:
        raise SweetNotFoundError()
    return row


def known_category(category, other_than=None):
    """The spelling a sweet on sale (other than ``other_than``) already gives this category, in any
    case, else ``category`` as typed: "toffee" beside "Toffee" becomes "Toffee", so the catalogue's
    category choice, the admin table and the CSV export show one spelling."""
    query = select(Sweet.category).where(Sweet.archived_at.is_(None),
                                         func.lower(Sweet.category) == category.lower())
    if other_than is not None:
        query = query.where(Sweet.id != other_than)
    found = db.session.scalar(query.order_by(Sweet.id).limit(1))
    return found or category


def with_known_category(changes, other_than=None):
    """``changes`` (a sweet's fields) with ``category``, if there is one, in its known spelling."""
    if changes.get("category") is None:
        return changes
    return dict(changes, category=known_category(changes["category"], other_than))
