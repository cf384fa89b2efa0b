"""The basket: sweet id -> quantity, kept in the signed session cookie so it works logged out.

The cookie is signed, so only this code wrote what it holds; it is still read defensively
(a basket written by an older version must never turn a page into a 500).
Bounds are the order's, by the API's rules: at most ``rules.ORDER_ITEMS_MAX`` lines, each
quantity valid by ``rules.clean_purchase_quantity`` (1 to 1000).
"""
import re

from .. import rules
from ..errors import ValidationError

KEY = "basket"
LINES_MAX = rules.ORDER_ITEMS_MAX
# The basket as a "Place order" form carries it: "3:2 7:1" (sweet id:quantity).
LINE_RE = re.compile(r"(\d{1,10}):(\d{1,4})")


def lines(session):
    """The basket as ``{sweet_id: quantity}``, in ascending sweet id."""
    stored = session.get(KEY)
    if not isinstance(stored, dict):
        return {}
    basket = {}
    for key, quantity in stored.items():
        try:
            basket[int(key)] = rules.clean_purchase_quantity(quantity)
        except ValueError:
            continue
    return dict(sorted(basket.items())[:LINES_MAX])


def units(session):
    """How many sweets the basket holds (for the header link)."""
    return sum(lines(session).values())


def save(session, basket):
    """Store ``{sweet_id: quantity}`` as the basket (an empty one is dropped from the cookie)."""
    if basket:
        session[KEY] = {str(sweet_id): quantity for sweet_id, quantity in basket.items()}
    else:
        session.pop(KEY, None)


def add(session, sweet_id, quantity, in_stock):
    """Add ``quantity`` units of a sweet to what the basket already holds; returns the new quantity.

    :raise ValueError: (its message fits next to the quantity field) the basket would hold more
        than the stock, more than the rule allows, or more than ``LINES_MAX`` lines.
    """
    basket = lines(session)
    held = basket.get(sweet_id, 0)
    if not held and len(basket) >= LINES_MAX:
        raise ValueError(f"Your basket is full ({LINES_MAX} different sweets): place an order first.")
    total = held + quantity
    _check_stock(total, in_stock, held)
    try:
        basket[sweet_id] = rules.clean_purchase_quantity(total)
    except ValueError:
        raise ValueError(f"At most {rules.PURCHASE_MAX} of a sweet per order"
                         f"{f'; your basket has {held}' if held else ''}.") from None
    save(session, basket)
    return total


def set_quantity(session, sweet_id, quantity, in_stock):
    """Set a line's quantity (already valid by the rule).

    :raise KeyError: the sweet is not in the basket.
    :raise ValueError: more than the stock.
    """
    basket = lines(session)
    if sweet_id not in basket:
        raise KeyError(sweet_id)
    _check_stock(quantity, in_stock)
    basket[sweet_id] = quantity
    save(session, basket)


def _check_stock(quantity, in_stock, held=0):
    """Refuse more than there is now: the order would be refused anyway. (Stock may still
    fall before the order is placed; placing checks again, atomically.)"""
    if quantity <= in_stock:
        return
    if not in_stock:
        raise ValueError("Sold out.")
    raise ValueError(f"Only {in_stock} left{f'; your basket has {held}' if held else ''}.")


def remove(session, sweet_ids):
    """Take these sweets out of the basket (ids it does not hold are ignored)."""
    basket = lines(session)
    for sweet_id in sweet_ids:
        basket.pop(sweet_id, None)
    save(session, basket)


def encode(basket):
    """The basket as a form field: ``"3:2 7:1"``."""
    return " ".join(f"{sweet_id}:{quantity}" for sweet_id, quantity in basket.items())


def decode(text):
    """A basket from ``encode``'s form, as ``[(sweet_id, quantity)]``, checked by the API's rule for
    an order's items (``rules.clean_order_items``).

    :raise ValueError: not that form, or items the API would refuse.
    """
    pairs = [LINE_RE.fullmatch(pair) for pair in (text or "").split()]
    if not all(pairs):
        raise ValueError(UNREADABLE)
    try:
        return rules.clean_order_items([{"sweet_id": int(pair.group(1)), "quantity": int(pair.group(2))}
                                        for pair in pairs])
    except ValidationError:
        raise ValueError(UNREADABLE) from None


UNREADABLE = "Your basket could not be read: please check it and place the order again."
